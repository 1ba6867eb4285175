"""Deterministic stand-in for the Anthropic Messages API behind a message batch."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from lmbatch.testing.emulator import (
    REFUSE_MARK,
    RequestRejected,
    all_text,
    last_user_text,
    sample_from_schema,
    text_of,
    tokens,
)
from lmbatch_anthropic._emulator._http import anthropic_id


def _system_text(system: Any) -> str:
    return system if isinstance(system, str) else text_of(system)


def _forced_tool(params: dict[str, Any]) -> tuple[str, Any] | None:
    choice = params.get("tool_choice")
    if not isinstance(choice, dict) or choice.get("type") not in ("tool", "any"):
        return None
    wanted = choice.get("name") if choice.get("type") == "tool" else None
    for tool in params.get("tools") or []:
        if isinstance(tool, dict) and (wanted is None or tool.get("name") == wanted):
            return str(tool.get("name")), tool.get("input_schema") or {"type": "object"}
    raise RequestRejected(400, f"tool_choice: tool '{wanted}' not found in tools")


def _output_schema(params: dict[str, Any]) -> Any | None:
    """Structured-output schema, from ``output_config.format`` or the older ``output_format``."""
    config = params.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else params.get("output_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return fmt.get("schema") or {}
    return None


def message_input_tokens(params: dict[str, Any]) -> int:
    """Input tokens of a Messages API body: its usage, and its token count."""
    messages = params.get("messages")
    return tokens(" ".join(filter(None, [_system_text(params.get("system")), all_text(messages)])))


def message_body(params: dict[str, Any]) -> dict[str, Any]:
    """The ``Message`` a Messages API call with these params would return.

    Args:
        params: ``params`` of one batch request (already checked for model, max_tokens,
            messages).

    Returns:
        A ``Message`` object with ``usage.service_tier == "batch"``.

    Raises:
        RequestRejected: For params the real API rejects per request (they become
            ``errored`` results).
    """
    max_tokens = params["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise RequestRejected(400, "max_tokens: must be greater than or equal to 1")
    messages = params["messages"]
    user = last_user_text(messages)
    prompt = " ".join(filter(None, [_system_text(params.get("system")), all_text(messages)]))
    thinking = params.get("thinking")
    thinking_on = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    forced = _forced_tool(params)
    if thinking_on and forced is not None:
        raise RequestRejected(400, "Thinking may not be enabled when tool_choice forces tool use.")
    content: list[dict[str, Any]] = []
    out_tokens = 0
    if thinking_on:
        thought = f"Thinking about: {user}"
        signature = base64.b64encode(hashlib.sha256(thought.encode()).digest()).decode()
        content.append({"type": "thinking", "thinking": thought, "signature": signature})
        out_tokens += tokens(thought)
    stop_reason = "end_turn"
    stop_details: dict[str, Any] | None = None
    if forced is not None:
        tool_input = sample_from_schema(forced[1], user or "example")
        content.append(
            {
                "type": "tool_use",
                "id": anthropic_id("toolu_"),
                "name": forced[0],
                "input": tool_input,
                "caller": {"type": "direct"},
            }
        )
        out_tokens += tokens(json.dumps(tool_input))
        stop_reason = "tool_use"
    elif REFUSE_MARK in prompt:
        stop_reason = "refusal"
        stop_details = {"type": "refusal", "category": None, "explanation": None}
    else:
        schema = _output_schema(params)
        if schema is None:
            text = "echo: " + user
        else:
            text = json.dumps(sample_from_schema(schema, user or "example"))
        budget = max_tokens - out_tokens
        if tokens(text) > budget:
            text, stop_reason = text[: max(0, budget * 4)], "max_tokens"
        content.append({"type": "text", "text": text, "citations": None})
        out_tokens += tokens(text)
    return {
        "id": anthropic_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "stop_details": stop_details,
        "container": None,
        "usage": {
            "input_tokens": message_input_tokens(params),
            "output_tokens": out_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "batch",
            "inference_geo": None,
        },
    }
