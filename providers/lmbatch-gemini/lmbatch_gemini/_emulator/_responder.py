"""The deterministic model behind an emulated Gemini batch: one request in, one answer out.

Given one ``GenerateContentRequest`` it returns the ``GenerateContentResponse`` Gemini
would, in its exact shape: ``"echo: " + the last user text``; JSON that fits the schema
when ``responseMimeType`` is ``application/json``; a function call when the tool config
forces one (``ANY``); a thought part, a ``thoughtSignature`` and ``thoughtsTokenCount``
when ``thinkingConfig`` is given; ``MAX_TOKENS`` past ``maxOutputTokens``; a blocked
prompt (``promptFeedback.blockReason``) when the text holds ``[[refuse]]``. Token counts
are about four characters a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
from typing import Any

from lmbatch.testing.emulator import instance_for

__all__ = ["REFUSE_MARK", "THOUGHT_TOKENS", "input_tokens", "request_text", "respond"]

REFUSE_MARK = "[[refuse]]"
#: Thinking tokens an answer reports when ``thinkingConfig`` asks for thinking.
THOUGHT_TOKENS = 16


def tokens(text: str) -> int:
    """Rough token count: one token per four characters, at least one."""
    return max(1, math.ceil(len(text) / 4))


def _texts(content: Any) -> list[str]:
    parts = content.get("parts") if isinstance(content, dict) else None
    return [
        part["text"]
        for part in parts or []
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


def request_text(request: dict[str, Any]) -> str:
    """Every text of a request (system instruction and contents), for directives and counts."""
    texts = _texts(request.get("systemInstruction") or request.get("system_instruction"))
    for content in request.get("contents") or []:
        texts += _texts(content)
    return " ".join(texts)


def input_tokens(request: dict[str, Any]) -> int:
    """The ``promptTokenCount`` of a request (and its ``countTokens`` answer)."""
    return tokens(request_text(request))


def _last_user_text(request: dict[str, Any]) -> str:
    for content in reversed(request.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = _texts(content)
            if texts:
                return " ".join(texts)
    return ""


def _field(holder: Any, camel: str) -> Any:
    """A field in either spelling (Google's JSON parsers take both)."""
    if not isinstance(holder, dict):
        return None
    if camel in holder:
        return holder[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return holder.get(snake)


def _json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset ``Schema`` as JSON Schema (type words lower case)."""
    if isinstance(schema, list):
        return [_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _json_schema(value) for key, value in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    out.pop("propertyOrdering", None)
    return out


def _forced_function(request: dict[str, Any]) -> tuple[str, Any] | None:
    calling = _field(_field(request, "toolConfig"), "functionCallingConfig")
    if _field(calling, "mode") != "ANY":
        return None
    allowed = _field(calling, "allowedFunctionNames") or []
    for tool in _field(request, "tools") or []:
        for declaration in _field(tool, "functionDeclarations") or []:
            name = _field(declaration, "name")
            if not allowed or name in allowed:
                schema = _field(declaration, "parametersJsonSchema")
                if schema is None:
                    schema = _json_schema(_field(declaration, "parameters"))
                return str(name), schema or {"type": "object"}
    return None


def _signature(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")


def respond(request: dict[str, Any], model: str) -> dict[str, Any]:
    """The ``GenerateContentResponse`` for one request.

    Args:
        request: The ``GenerateContentRequest``.
        model: The model id (without ``models/``), reported as ``modelVersion``.
    """
    prompt_tokens = input_tokens(request)
    usage: dict[str, Any] = {"promptTokenCount": prompt_tokens}
    response: dict[str, Any] = {"modelVersion": model, "responseId": secrets.token_hex(8)}
    user = _last_user_text(request)
    if REFUSE_MARK in request_text(request):
        usage["totalTokenCount"] = prompt_tokens
        return {**response, "promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage}
    config = _field(request, "generationConfig") or {}
    thinking = _field(config, "thinkingConfig")
    parts: list[dict[str, Any]] = []
    thoughts = 0
    if isinstance(thinking, dict) and _field(thinking, "thinkingBudget") != 0:
        thoughts = THOUGHT_TOKENS
        if _field(thinking, "includeThoughts"):
            parts.append({"text": f"Thinking about: {user}", "thought": True})
    forced = _forced_function(request)
    finish = "STOP"
    if forced is not None:
        name, schema = forced
        args = instance_for(schema, seed_text=user or "example")
        answer: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        out_tokens = tokens(json.dumps(args))
    else:
        if _field(config, "responseMimeType") == "application/json":
            schema = _field(config, "responseJsonSchema")
            if schema is None:
                schema = _json_schema(_field(config, "responseSchema"))
            text = json.dumps(instance_for(schema or {"type": "object"}, seed_text=user or "x"))
        else:
            text = "echo: " + user
        limit = _field(config, "maxOutputTokens")
        if isinstance(limit, int) and tokens(text) > limit:
            text, finish = text[: limit * 4], "MAX_TOKENS"
        answer = {"text": text}
        out_tokens = tokens(text) if text else 0
    if thoughts:
        answer["thoughtSignature"] = _signature(user)
    parts.append(answer)
    usage["candidatesTokenCount"] = out_tokens
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    usage["totalTokenCount"] = prompt_tokens + out_tokens + thoughts
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
    return {**response, "candidates": [candidate], "usageMetadata": usage}
