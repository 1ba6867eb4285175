"""Deterministic stand-in for the models behind OpenAI's batch endpoints.

Given one request body it returns the body the real endpoint would have returned, in the
vendor's exact shape: echo text (``"echo: " + last user text``), schema-satisfying structured
output, forced tool calls, reasoning summaries, refusals (prompt contains ``[[refuse]]``),
``max_output_tokens`` truncation, and token usage derived from text length (about 4 chars a
token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import time
from typing import Any

from lmbatch.testing.emulator import (
    REFUSE_MARK,
    RequestRejected,
    all_text,
    hex_id,
    last_user_text,
    sample_from_schema,
    tokens,
)

REFUSAL_TEXT = "I'm sorry, but I can't help with that."
REASONING_TOKENS = 16


def _truncate(text: str, limit: int | None) -> tuple[str, bool]:
    if limit is None or tokens(text) <= limit:
        return text, False
    return text[: max(0, limit * 4)], True


def _tool_schema(tools: Any, name: str | None, *, chat: bool) -> tuple[str, Any] | None:
    """Find a function tool by name (``None``: the first one) and its parameter schema."""
    for tool in tools or []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        fn = tool.get("function", {}) if chat else tool
        if isinstance(fn, dict) and (name is None or fn.get("name") == name):
            return str(fn.get("name")), fn.get("parameters") or {"type": "object"}
    return None


def _forced_tool(body: dict[str, Any], *, chat: bool) -> tuple[str, Any] | None:
    choice = body.get("tool_choice")
    tools = body.get("tools")
    if choice == "required":
        return _tool_schema(tools, None, chat=chat)
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = choice.get("function", {}).get("name") if chat else choice.get("name")
        found = _tool_schema(tools, name, chat=chat)
        if found is None:
            raise RequestRejected(400, f"Tool choice '{name}' not found in 'tools'.", "tool_choice")
        return found
    return None


def _structured(schema_holder: Any) -> Any | None:
    """The JSON schema of a ``json_schema`` format spec, ``{}`` for ``json_object``."""
    if not isinstance(schema_holder, dict):
        return None
    if schema_holder.get("type") == "json_object":
        return {}
    if schema_holder.get("type") == "json_schema":
        inner = schema_holder.get("json_schema", schema_holder)
        return inner.get("schema", {}) if isinstance(inner, dict) else {}
    return None


def _answer_text(user: str, schema: Any | None) -> str:
    if schema is None:
        return "echo: " + user
    if schema == {}:
        return json.dumps({"echo": user})
    return json.dumps(sample_from_schema(schema, user or "example"))


def _arguments(schema: Any, user: str) -> str:
    return json.dumps(sample_from_schema(schema, user or "example"))


def _require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestRejected(400, "you must provide a model parameter", "model")
    return model


def openai_response(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """Answer one OpenAI batch line.

    Args:
        url: The line's endpoint (``/v1/responses``, ``/v1/chat/completions``,
            ``/v1/embeddings``).
        body: The request body.

    Returns:
        The endpoint's 200 response body.

    Raises:
        RequestRejected: When the real endpoint would answer with an HTTP error.
    """
    if url == "/v1/responses":
        return responses_body(body)
    if url == "/v1/chat/completions":
        return chat_body(body)
    if url == "/v1/embeddings":
        return embeddings_body(body)
    raise RequestRejected(404, f"The lmbatch emulator does not serve {url}.")


def request_input_tokens(body: dict[str, Any]) -> int:
    """Input tokens of any request body (Responses ``input``, chat ``messages``...)."""
    parts = [str(body.get("instructions") or ""), all_text(body.get("input"))]
    parts.append(all_text(body.get("messages")))
    return tokens(" ".join(filter(None, parts)))


def responses_input_tokens(body: dict[str, Any]) -> int:
    """Input tokens of a ``/v1/responses`` body: its usage, and its token count."""
    request_input = body.get("input")
    return tokens(
        " ".join(filter(None, [str(body.get("instructions") or ""), all_text(request_input)]))
    )


def responses_body(body: dict[str, Any]) -> dict[str, Any]:
    """A ``Response`` object for a ``/v1/responses`` request body."""
    model = _require_model(body)
    if "input" not in body:
        raise RequestRejected(400, "Missing required parameter: 'input'.", "input")
    request_input = body.get("input")
    user = last_user_text(request_input)
    prompt = " ".join(filter(None, [str(body.get("instructions") or ""), all_text(request_input)]))
    now = int(time.time())
    reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else None
    output: list[dict[str, Any]] = []
    reasoning_tokens = 0
    if reasoning is not None:
        reasoning_tokens = REASONING_TOKENS
        summary = []
        if reasoning.get("summary"):
            summary = [{"type": "summary_text", "text": f"Thinking about: {user}"}]
        output.append({"id": hex_id("rs_", 48), "type": "reasoning", "summary": summary})
    text_format = (
        (body.get("text") or {}).get("format") if isinstance(body.get("text"), dict) else None
    )
    limit = (
        body.get("max_output_tokens") if isinstance(body.get("max_output_tokens"), int) else None
    )
    forced = _forced_tool(body, chat=False)
    incomplete = False
    if forced is not None:
        arguments = _arguments(forced[1], user)
        out_tokens = tokens(arguments)
        output.append(
            {
                "id": hex_id("fc_", 48),
                "type": "function_call",
                "status": "completed",
                "call_id": hex_id("call_", 24),
                "name": forced[0],
                "arguments": arguments,
            }
        )
    else:
        if REFUSE_MARK in prompt:
            part: dict[str, Any] = {"type": "refusal", "refusal": REFUSAL_TEXT}
            out_tokens = tokens(REFUSAL_TEXT)
        else:
            text, incomplete = _truncate(_answer_text(user, _structured(text_format)), limit)
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            out_tokens = tokens(text)
        output.append(
            {
                "id": hex_id("msg_", 48),
                "type": "message",
                "status": "incomplete" if incomplete else "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    in_tokens = responses_input_tokens(body)
    total_out = out_tokens + reasoning_tokens
    return {
        "id": hex_id("resp_", 48),
        "object": "response",
        "created_at": now,
        "status": "incomplete" if incomplete else "completed",
        "completed_at": None if incomplete else now,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {
            "effort": (reasoning or {}).get("effort"),
            "summary": (reasoning or {}).get("summary"),
        },
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text_format or {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": {
            "input_tokens": in_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": total_out,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": in_tokens + total_out,
        },
        "metadata": body.get("metadata") or {},
    }


def chat_body(body: dict[str, Any]) -> dict[str, Any]:
    """A ``ChatCompletion`` object for a ``/v1/chat/completions`` request body."""
    model = _require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestRejected(400, "Missing required parameter: 'messages'.", "messages")
    user = last_user_text(messages)
    prompt = all_text(messages)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    limit = limit if isinstance(limit, int) else None
    reasoning_tokens = REASONING_TOKENS if body.get("reasoning_effort") else 0
    forced = _forced_tool(body, chat=True)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
    }
    finish = "stop"
    if forced is not None:
        arguments = _arguments(forced[1], user)
        message["tool_calls"] = [
            {
                "id": hex_id("call_", 24),
                "type": "function",
                "function": {"name": forced[0], "arguments": arguments},
            }
        ]
        out_tokens, finish = tokens(arguments), "tool_calls"
    elif REFUSE_MARK in prompt:
        message["refusal"] = REFUSAL_TEXT
        out_tokens = tokens(REFUSAL_TEXT)
    else:
        text, cut = _truncate(_answer_text(user, _structured(body.get("response_format"))), limit)
        message["content"] = text
        out_tokens, finish = tokens(text), "length" if cut else "stop"
    raw_n = body.get("n")
    n = raw_n if isinstance(raw_n, int) and raw_n > 0 else 1
    choices = [
        {"index": i, "message": dict(message), "logprobs": None, "finish_reason": finish}
        for i in range(n)
    ]
    in_tokens = tokens(prompt)
    completion = (out_tokens + reasoning_tokens) * n
    return {
        "id": "chatcmpl-" + hex_id("", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {
            "prompt_tokens": in_tokens,
            "completion_tokens": completion,
            "total_tokens": in_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning_tokens * n,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": "fp_lmbatch_emulator",
    }


def emulated_chat_completion(body: dict[str, Any]) -> dict[str, Any]:
    """The emulator's deterministic answer to a chat-completions body (public).

    What the OpenAI emulator answers on ``/v1/chat/completions``, for the emulators of
    vendors whose chat bodies copy OpenAI's: ``"echo: "`` and the last user text, a
    sample of the ``response_format`` schema, a call of the forced tool
    (``tool_choice``), a refusal when the prompt holds ``[[refuse]]``, ``length`` when
    ``max_completion_tokens``/``max_tokens`` cut it, and usage at about four characters
    a token.

    Args:
        body: The request body (``model`` and ``messages`` required).

    Returns:
        The ``chat.completion`` body.

    Raises:
        RequestRejected: The vendor would answer this body with an HTTP error (no model,
            no messages, a forced tool not in ``tools``).
    """
    return chat_body(body)


def embeddings_body(body: dict[str, Any]) -> dict[str, Any]:
    """An embeddings list; vectors are derived from a hash of each input."""
    model = _require_model(body)
    raw = body.get("input")
    inputs = raw if isinstance(raw, list) else [raw]
    raw_dims = body.get("dimensions")
    dims = raw_dims if isinstance(raw_dims, int) and raw_dims > 0 else 8
    data = []
    used = 0
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else json.dumps(item)
        used += tokens(text)
        digest = hashlib.sha256(text.encode()).digest()
        vector = [(digest[i % 32] - 128) / 128 for i in range(dims)]
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": used, "total_tokens": used},
    }


def usage_of(body: dict[str, Any]) -> tuple[int, int, int]:
    """(input, output, reasoning) tokens of any OpenAI response body, for batch ``usage``."""
    usage = body.get("usage") or {}
    if "input_tokens" in usage:
        details = usage.get("output_tokens_details") or {}
        return usage["input_tokens"], usage["output_tokens"], details.get("reasoning_tokens", 0)
    details = usage.get("completion_tokens_details") or {}
    return (
        usage.get("prompt_tokens", 0),
        usage.get("completion_tokens", 0),
        details.get("reasoning_tokens", 0),
    )
