"""How an lmbatch request becomes one Anthropic Message Batches request.

Each request is encoded as ``{"custom_id": ..., "params": CreateMessageParams}``.

Messages:

==============================  ============================================================
lmbatch                         Anthropic
==============================  ============================================================
system messages                 top-level ``system``: the texts of every system message,
                                in order, joined with a blank line (a list of text blocks
                                when one of them asks for prompt caching); never dropped
user / assistant text           ``{"type": "text"}`` blocks (a plain string when a message
                                is one text part)
image attachment                ``{"type": "image"}`` with a ``base64`` or ``url`` source
PDF attachment                  ``{"type": "document"}`` with a ``base64`` or ``url`` source
text/plain attachment (inline)  ``{"type": "document"}`` with a ``text`` source
``ToolCall`` (assistant)        ``{"type": "tool_use", "id", "name", "input"}``
``ToolResult`` (user)           ``{"type": "tool_result", "tool_use_id", "content",
                                "is_error"}``, placed before the other blocks of the message
                                as the API requires
``Message(..., cache_control=)``  ``cache_control`` on the message's last block (prompt
                                caching); ``True``, ``"ephemeral"``, ``"5m"``, ``"1h"`` or a
                                ``{"type": "ephemeral", "ttl": ...}`` dict
==============================  ============================================================

Hyperparameters:

===================  ====================================================================
portable             Anthropic
===================  ====================================================================
``max_tokens``       ``max_tokens`` (required by Anthropic: the ``default_max_tokens``
                     setting, 4096, when not given)
``temperature``      ``temperature`` (Anthropic accepts 0..1; above 1 is refused)
``top_p``            ``top_p``
``stop``             ``stop_sequences``
``seed``             refused: Anthropic has no sampling seed
``tools``            ``tools`` (``name``, ``description``, ``input_schema``)
``tool_choice``      ``auto`` → ``{"type": "auto"}``, ``none`` → ``{"type": "none"}``,
                     ``required`` → ``{"type": "any"}``, a name → ``{"type": "tool"}``
``response_schema``  see below
extra keys           passed into ``params`` unchanged: ``thinking`` (extended thinking),
                     ``top_k``, ``metadata``, ``cache_control`` (automatic prompt
                     caching), ``service_tier``, ``output_config``, ``container``,
                     ``inference_geo``, ``stop_sequences``; other keys are refused
                     (with a did-you-mean) unless given under ``extra_body``
===================  ====================================================================

``response_schema``: by default (``structured_output="auto"``) it is sent as a *forced
tool*: a tool named after the schema whose ``input_schema`` is the schema, with
``tool_choice`` forcing it (``{"type": "any"}`` when the caller also gave tools, so the
model may call one of those instead). The tool's input is the structured output. This
works on every Claude model. Extended thinking cannot be combined with a forced tool, so
with thinking on (or ``structured_output="native"``) the schema goes to the native
``output_config.format`` (``json_schema``) instead, and the answer's text is the JSON.

Prompt caching is only ever what the caller asked for: no setting adds, moves or removes a
``cache_control`` marker.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from lmbatch.provider import (
    Attachment,
    Hyperparameters,
    Message,
    MessageRole,
    ToolCall,
    ToolResult,
    ValidationError,
)

__all__ = [
    "PASS_THROUGH_PARAMS",
    "REQUEST_FIELDS",
    "StructuredMode",
    "check_hyperparameters",
    "check_request",
    "check_structured_mode",
    "encode_request",
    "structured_mode",
    "thinking_on",
]

StructuredMode = Literal["tool", "native"]

#: ``CreateMessageParams`` fields a caller may set through extra hyperparameters.
PASS_THROUGH_PARAMS = frozenset(
    {
        "thinking",
        "top_k",
        "metadata",
        "cache_control",
        "service_tier",
        "output_config",
        "container",
        "inference_geo",
        "stop_sequences",
    }
)
#: Fields lmbatch owns: set from the configuration and the messages.
_OWNED_PARAMS = {
    "model": "set the provider's `model` option",
    "messages": "pass the conversation as the request itself",
    "system": "use Message.system(...)",
    "stream": "batches cannot stream",
}
#: Every ``CreateMessageParams`` field name: any other pass-through name is refused by
#: core's one rule (:func:`lmbatch._hyperparameters.check_vendor_fields`), with a
#: did-you-mean; the owned ones are refused here, with what to do instead.
REQUEST_FIELDS = (
    PASS_THROUGH_PARAMS
    | frozenset(_OWNED_PARAMS)
    | frozenset({"max_tokens", "temperature", "top_p", "tools", "tool_choice"})
)
_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_TTLS = frozenset({"5m", "1h"})


# ------------------------------------------------------------------------ validation


def check_hyperparameters(params: Hyperparameters, model: str | None, default_max: int) -> None:
    """Refuse hyperparameters Anthropic cannot take.

    Raises:
        ValidationError: Naming the hyperparameter and the reason.
    """
    if not model:
        raise ValidationError(
            "no model configured: pass model=... to the anthropic provider "
            "(e.g. get_batch_operations('anthropic', model='claude-sonnet-4-5'))"
        )
    if params.seed is not None:
        raise ValidationError("hyperparameters['seed']: Anthropic has no sampling seed")
    if params.temperature is not None and params.temperature > 1:
        raise ValidationError(
            f"hyperparameters['temperature']: Anthropic accepts 0..1, got {params.temperature}"
        )
    for name in params.extra:
        if name in _OWNED_PARAMS:
            raise ValidationError(f"hyperparameters[{name!r}]: {_OWNED_PARAMS[name]}")
    if params.stop is not None and "stop_sequences" in params.extra:
        raise ValidationError("give either 'stop' or 'stop_sequences', not both")
    if params.tool_choice == "required" and not params.tools:
        raise ValidationError("hyperparameters['tool_choice']: 'required' needs `tools`")
    if "cache_control" in params.extra:
        _cache_control(params.extra["cache_control"], "hyperparameters['cache_control']")
    max_tokens = params.max_tokens or default_max
    thinking = params.extra.get("thinking")
    if thinking is not None:
        _check_thinking(thinking, params, max_tokens)
    _check_structured(params)


def _check_thinking(thinking: Any, params: Hyperparameters, max_tokens: int) -> None:
    where = "hyperparameters['thinking']"
    if not isinstance(thinking, dict) or thinking.get("type") not in (
        "enabled",
        "disabled",
        "adaptive",
    ):
        raise ValidationError(
            f"{where}: must be a dict with type 'enabled' (and budget_tokens), "
            f"'adaptive' or 'disabled', got {thinking!r}"
        )
    if thinking["type"] == "disabled":
        return
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1024:
            raise ValidationError(f"{where}: budget_tokens must be an integer >= 1024")
        if budget >= max_tokens:
            raise ValidationError(
                f"{where}: budget_tokens ({budget}) must be less than max_tokens ({max_tokens})"
            )
    if params.temperature is not None and params.temperature != 1:
        raise ValidationError(
            "extended thinking cannot be combined with a temperature other than 1"
        )
    if "top_k" in params.extra:
        raise ValidationError("extended thinking cannot be combined with top_k")
    if params.tool_choice not in (None, "auto", "none"):
        raise ValidationError(
            "extended thinking cannot be combined with a tool_choice that forces a tool"
        )


def thinking_on(params: Hyperparameters) -> bool:
    """Whether the request enables extended thinking."""
    thinking = params.extra.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def structured_mode(params: Hyperparameters, setting: str) -> StructuredMode | None:
    """How ``response_schema`` is sent (None when there is none); see the module docstring."""
    if params.response_schema is None:
        return None
    if setting == "native" or (setting == "auto" and thinking_on(params)):
        return "native"
    return "tool"


def _check_structured(params: Hyperparameters) -> None:
    schema = params.response_schema
    if schema is None:
        return
    names = {tool.name for tool in params.tools or []}
    if schema.name in names:
        raise ValidationError(
            f"response_schema is sent as a tool named {schema.name!r}, which clashes with a "
            "tool of the same name; rename one of them"
        )
    config = params.extra.get("output_config")
    if isinstance(config, dict) and config.get("format") is not None:
        raise ValidationError("give either response_schema or output_config.format, not both")


def check_structured_mode(params: Hyperparameters, mode: StructuredMode | None) -> None:
    """Refuse settings that cannot be combined with a forced response-schema tool."""
    if mode == "tool" and thinking_on(params):
        raise ValidationError(
            "extended thinking cannot be combined with response_schema sent as a forced tool; "
            "use structured_output='auto' or 'native'"
        )
    if mode == "tool" and params.tool_choice not in (None, "auto", "required"):
        raise ValidationError(
            f"hyperparameters['tool_choice']={params.tool_choice!r} cannot be combined with "
            "response_schema, which is sent as a forced tool (structured_output='tool')"
        )


def check_request(key: str, messages: list[Message]) -> None:
    """Refuse one request Anthropic cannot take (core has checked the conversation shape).

    Raises:
        ValidationError: Naming ``key`` and the reason.
    """
    if all(m.role is MessageRole.SYSTEM for m in messages):  # pragma: no cover - core checks
        raise ValidationError("has no user message", key=key)
    for index, message in enumerate(messages):
        where = f"message #{index}"
        if "cache_control" in message.metadata:
            try:
                _cache_control(message.metadata["cache_control"], f"{where} cache_control")
            except ValidationError as exc:
                raise ValidationError(exc.reason, key=key) from None
        for part in message.contents:
            if isinstance(part, Attachment):
                _check_attachment(key, where, part)
            elif isinstance(part, ToolCall) and not _ID_RE.fullmatch(part.id):
                raise ValidationError(
                    f"{where}: tool call id {part.id!r} must match [a-zA-Z0-9_-]+", key=key
                )
            elif isinstance(part, ToolResult) and not _ID_RE.fullmatch(part.id):
                raise ValidationError(
                    f"{where}: tool result id {part.id!r} must match [a-zA-Z0-9_-]+", key=key
                )


def _check_attachment(key: str, where: str, part: Attachment) -> None:
    if part.mime_type in _IMAGE_TYPES or part.mime_type == "application/pdf":
        return
    if part.mime_type == "text/plain" and part.data is not None:
        try:
            part.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{where}: text/plain attachment is not UTF-8", key=key) from None
        return
    raise ValidationError(
        f"{where}: Anthropic takes png, jpeg, gif or webp images, PDFs and inline text/plain "
        f"documents, not {part.mime_type}"
        + (" given by URL" if part.mime_type == "text/plain" else ""),
        key=key,
    )


def _cache_control(value: Any, where: str) -> dict[str, Any]:
    """Normalise a prompt-caching marker to ``{"type": "ephemeral"[, "ttl"]}``."""
    if value is True or value == "ephemeral":
        return {"type": "ephemeral"}
    if isinstance(value, str) and value in _TTLS:
        return {"type": "ephemeral", "ttl": value}
    if (
        isinstance(value, dict)
        and value.get("type") == "ephemeral"
        and set(value) <= {"type", "ttl"}
        and value.get("ttl", "5m") in _TTLS
    ):
        return dict(value)
    raise ValidationError(
        f"{where}: expected True, 'ephemeral', '5m', '1h' or "
        f"{{'type': 'ephemeral', 'ttl': '5m'|'1h'}}, got {value!r}"
    )


# -------------------------------------------------------------------------- encoding


# Looked up once: an enum member's class attribute access is slow on Python 3.11.
_SYSTEM = MessageRole.SYSTEM


def encode_request(
    custom_id: str,
    messages: list[Message],
    params: Hyperparameters,
    *,
    model: str,
    default_max_tokens: int,
    mode: StructuredMode | None,
) -> dict[str, Any]:
    """One entry of the create call's ``requests`` array."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": params.max_tokens or default_max_tokens,
    }
    system = _system(messages)
    if system is not None:
        body["system"] = system
    body["messages"] = [_message(m) for m in messages if m.role is not _SYSTEM]
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.top_p is not None:
        body["top_p"] = params.top_p
    if params.stop is not None:
        body["stop_sequences"] = list(params.stop)
    body.update({name: value for name, value in params.extra.items()})
    _tools(body, params, mode)
    return {"custom_id": custom_id, "params": body}


def _system(messages: list[Message]) -> str | list[dict[str, Any]] | None:
    systems = [m for m in messages if m.role is _SYSTEM]
    if not systems:
        return None
    if not any("cache_control" in m.metadata for m in systems):
        return "\n\n".join(m.text for m in systems)
    blocks: list[dict[str, Any]] = []
    for message in systems:
        block: dict[str, Any] = {"type": "text", "text": message.text}
        if "cache_control" in message.metadata:
            block["cache_control"] = _cache_control(message.metadata["cache_control"], "system")
        blocks.append(block)
    return blocks


def _message(message: Message) -> dict[str, Any]:
    cache = message.metadata.get("cache_control")
    parts = message.contents
    if len(parts) == 1 and isinstance(parts[0], str) and cache is None:
        return {"role": message.role.value, "content": parts[0]}
    blocks = [_block(part) for part in parts]
    # The API wants tool results first in a user turn; the order among them is kept.
    blocks.sort(key=lambda block: block["type"] != "tool_result")
    if cache is not None:
        blocks[-1]["cache_control"] = _cache_control(cache, "message")
    return {"role": message.role.value, "content": blocks}


def _block(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": dict(part.args)}
    if isinstance(part, ToolResult):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.id,
            "content": part.output,
        }
        if part.is_error:
            block["is_error"] = True
        return block
    assert isinstance(part, Attachment)
    return _attachment(part)


def _attachment(part: Attachment) -> dict[str, Any]:
    if part.mime_type == "text/plain":
        assert part.data is not None
        source: dict[str, Any] = {
            "type": "text",
            "media_type": "text/plain",
            "data": part.data.decode("utf-8"),
        }
    elif part.url is not None:
        source = {"type": "url", "url": part.url}
    else:
        source = {"type": "base64", "media_type": part.mime_type, "data": part.base64_data()}
    if part.mime_type in _IMAGE_TYPES:
        return {"type": "image", "source": source}
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.filename:
        block["title"] = part.filename
    return block


def _tools(body: dict[str, Any], params: Hyperparameters, mode: StructuredMode | None) -> None:
    tools = [
        {"name": t.name, "input_schema": t.parameters}
        | ({"description": t.description} if t.description else {})
        for t in params.tools or []
    ]
    choice: dict[str, Any] | None = None
    if params.tool_choice == "required":
        choice = {"type": "any"}
    elif params.tool_choice in ("auto", "none"):
        choice = {"type": params.tool_choice} if tools else None
    elif params.tool_choice is not None:
        choice = {"type": "tool", "name": params.tool_choice}
    schema = params.response_schema
    if schema is not None and mode == "tool":
        tools.append(
            {
                "name": schema.name,
                "description": "Give the final answer as this tool's input, "
                "which must follow the schema exactly.",
                "input_schema": schema.json_schema,
            }
        )
        choice = {"type": "any"} if len(tools) > 1 else {"type": "tool", "name": schema.name}
    elif schema is not None and mode == "native":
        config = dict(body.get("output_config") or {})
        config["format"] = {"type": "json_schema", "schema": strict_schema(schema.json_schema)}
        body["output_config"] = config
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice


def strict_schema(schema: Any) -> Any:
    """A copy of ``schema`` where every object schema forbids unknown properties.

    Anthropic's native structured outputs require ``additionalProperties: false``; an
    explicit value the caller set is kept.
    """
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {name: strict_schema(value) for name, value in schema.items()}
    if copy.get("type") == "object" and "additionalProperties" not in copy:
        copy["additionalProperties"] = False
    return copy
