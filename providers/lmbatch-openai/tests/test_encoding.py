"""Encoding: every line validates against the official request schema, and maps as documented."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from lmbatch_openai import OpenAIBatchOperations
from lmbatch_openai._schema import strict_schema
from pydantic import BaseModel

from lmbatch import Attachment, Message, ToolCall, ToolResult
from lmbatch.provider import normalize_input

from .conftest import SPECS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.4\n%fake\n"
ENDPOINTS = {
    "/v1/responses": "CreateResponse",
    "/v1/chat/completions": "CreateChatCompletionRequest",
}


class Weather(BaseModel):
    """Weather report."""

    city: str
    degrees: float
    tags: list[str] = []


class Lookup(BaseModel):
    """Look something up."""

    query: str


@cache
def _spec() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPECS / "openai-request-bodies.subset.yaml").open() as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)
    return spec


def _one_of(validator: Any, one_of: Any, instance: Any, schema: dict[str, Any]) -> Any:
    """``oneOf``, except that a ``discriminator`` makes it pick (OpenAPI semantics).

    The spec lists overlapping alternatives under a discriminator (e.g. a user message
    matches both ``EasyInputMessage`` and ``InputMessage``); OpenAPI tools choose by the
    discriminator, so one match is enough there.
    """
    if "discriminator" in schema:
        yield from jsonschema._keywords.anyOf(validator, one_of, instance, schema)
    else:
        yield from jsonschema._keywords.oneOf(validator, one_of, instance, schema)


_OpenAPIValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"oneOf": _one_of}
)


def _validator(schema_name: str) -> Any:
    root = {**_spec(), "$ref": f"#/components/schemas/{schema_name}"}
    return _OpenAPIValidator(root)


INPUTS: dict[str, Any] = {
    "plain": "Hello there",
    "parts": ["First part.", "Second part."],
    "conversation": [
        Message.system("Be brief."),
        Message.user("What is 2 + 2?"),
        Message.assistant("4"),
        Message.user("And 3 + 3?"),
    ],
    "two-system-parts": [Message.system("Rule one.", "Rule two."), Message.user("Go")],
    "image-inline": ["Describe this", Attachment.from_bytes(PNG, "image/png")],
    "image-url": [Attachment.from_url("https://example.com/cat.jpg"), "What animal?"],
    "pdf-inline": ["Summarise", Attachment.from_bytes(PDF, "application/pdf", "paper.pdf")],
    "tool-round-trip": [
        Message.user("Weather in Paris?"),
        Message.assistant(
            "Let me check.", ToolCall(id="call_1", name="lookup", args={"query": "Paris"})
        ),
        Message.user(ToolResult(id="call_1", output='{"degrees": 21}'), "Thanks, and?"),
    ],
    "tool-error": [
        Message.user("Weather?"),
        Message.assistant(ToolCall(id="call_2", name="lookup", args={})),
        Message.user(ToolResult(id="call_2", output="timeout", is_error=True)),
    ],
    "unicode": "Grüß Gott — 你好 🌍",
}
HYPERPARAMETERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "sampling": {"max_tokens": 100, "temperature": 0.2, "top_p": 0.9},
    "schema-model": {"response_schema": Weather},
    "schema-dict": {
        "response_schema": {
            "type": "object",
            "title": "Answer",
            "properties": {"answer": {"type": "string"}, "nested": {"type": "object"}},
        }
    },
    "tools-auto": {"tools": [Lookup], "tool_choice": "auto"},
    "tools-named": {
        "tools": [
            {"name": "lookup", "description": "Find", "parameters": Lookup.model_json_schema()}
        ],
        "tool_choice": "lookup",
    },
    "tools-required": {"tools": [Lookup], "tool_choice": "required"},
    "pass-through": {"metadata": {"team": "a"}, "service_tier": "auto", "store": False},
}
CHAT_ONLY: dict[str, dict[str, Any]] = {
    "stop-seed": {"stop": ["END"], "seed": 7},
    "chat-extras": {"presence_penalty": 0.5, "reasoning_effort": "low"},
}
RESPONSES_ONLY: dict[str, dict[str, Any]] = {
    "reasoning": {"reasoning": {"effort": "low", "summary": "auto"}, "truncation": "auto"},
}


def _ops(endpoint: str) -> OpenAIBatchOperations:
    return OpenAIBatchOperations(
        model="gpt-4.1-mini", api_key="test", endpoint=endpoint, store=":memory:"
    )


def _encode(ops: OpenAIBatchOperations, key: str, value: Any, hp: dict[str, Any] | None) -> Any:
    params = ops._checked_hyperparameters(hp)
    messages = normalize_input(key, value)
    ops.validate_request(key, messages, params)
    return ops.encode_request(key, messages, params)


def _cases(endpoint: str) -> list[Any]:
    extra = CHAT_ONLY if endpoint.endswith("completions") else RESPONSES_ONLY
    return [
        pytest.param(endpoint, key, hp_name, id=f"{endpoint.rsplit('/', 1)[-1]}-{key}-{hp_name}")
        for key in INPUTS
        for hp_name in [*HYPERPARAMETERS, *extra]
    ]


@pytest.mark.parametrize(
    ("endpoint", "key", "hp_name"), _cases("/v1/responses") + _cases("/v1/chat/completions")
)
def test_every_line_validates_against_the_official_schema(
    endpoint: str, key: str, hp_name: str
) -> None:
    hp = {**HYPERPARAMETERS, **CHAT_ONLY, **RESPONSES_ONLY}[hp_name]
    line = _encode(_ops(endpoint), key, INPUTS[key], hp)
    assert line["custom_id"] == key
    assert line["method"] == "POST"
    assert line["url"] == endpoint
    json.dumps(line)  # JSON-able
    errors = sorted(_validator(ENDPOINTS[endpoint]).iter_errors(line["body"]), key=str)
    assert not errors, [e.message for e in errors[:3]]


def test_responses_mapping() -> None:
    body = _encode(
        _ops("/v1/responses"),
        "k",
        INPUTS["tool-round-trip"],
        {"max_tokens": 5, "tools": [Lookup], "tool_choice": "Lookup", "response_schema": Weather},
    )["body"]
    assert body["model"] == "gpt-4.1-mini"
    assert body["max_output_tokens"] == 5
    assert "max_tokens" not in body
    assert body["tool_choice"] == {"type": "function", "name": "Lookup"}
    assert body["tools"][0]["name"] == "Lookup"
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema"
    assert fmt["strict"] is True
    assert fmt["name"] == "Weather"
    assert fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["required"] == ["city", "degrees", "tags"]
    kinds = [item.get("type") for item in body["input"]]
    assert kinds == ["message", "message", "function_call", "function_call_output", "message"]
    call = body["input"][2]
    assert call == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "lookup",
        "arguments": '{"query":"Paris"}',
    }
    assert body["input"][3] == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": '{"degrees": 21}',
    }


def test_chat_mapping() -> None:
    body = _encode(
        _ops("/v1/chat/completions"),
        "k",
        INPUTS["tool-round-trip"],
        {
            "max_tokens": 5,
            "stop": "END",
            "seed": 3,
            "tool_choice": "lookup",
            "tools": [{"name": "lookup", "parameters": {"type": "object", "properties": {}}}],
            "response_schema": Weather,
        },
    )["body"]
    assert body["max_completion_tokens"] == 5
    assert body["stop"] == ["END"]
    assert body["seed"] == 3
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert body["response_format"]["json_schema"]["strict"] is True
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["user", "assistant", "tool", "user"]
    assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "lookup"
    assert body["messages"][2] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"degrees": 21}',
    }


def test_attachments_become_data_urls_or_urls() -> None:
    responses = _encode(_ops("/v1/responses"), "k", INPUTS["image-inline"], None)["body"]
    image = responses["input"][0]["content"][1]
    assert image["type"] == "input_image"
    assert image["image_url"].startswith("data:image/png;base64,")
    pdf = _encode(_ops("/v1/responses"), "k", INPUTS["pdf-inline"], None)["body"]
    assert pdf["input"][0]["content"][1]["file_data"].startswith("data:application/pdf;base64,")
    assert pdf["input"][0]["content"][1]["filename"] == "paper.pdf"
    url = _encode(_ops("/v1/chat/completions"), "k", INPUTS["image-url"], None)["body"]
    assert url["messages"][0]["content"][0]["image_url"]["url"] == "https://example.com/cat.jpg"


def test_tool_error_is_marked_in_the_text() -> None:
    body = _encode(_ops("/v1/responses"), "k", INPUTS["tool-error"], None)["body"]
    assert body["input"][-1]["output"] == "Error: timeout"


def test_strict_schema_closes_nested_objects_without_touching_the_original() -> None:
    original = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"type": "object", "properties": {"a": {}}}},
            "ref": {"$ref": "#/$defs/Inner"},
        },
        "$defs": {"Inner": {"type": "object", "properties": {"b": {"type": "integer"}}}},
    }
    strict = strict_schema(original)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["items"]["items"]["additionalProperties"] is False
    assert strict["$defs"]["Inner"]["additionalProperties"] is False
    assert strict["$defs"]["Inner"]["required"] == ["b"]
    assert "additionalProperties" not in original


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"model": "m", "input": "x", "max_output_tokens": "5"}, id="wrong-type"),
        pytest.param(
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            id="image-without-detail",
        ),
        pytest.param({"model": "m", "input": [{"role": "robot", "content": "x"}]}, id="bad-role"),
        pytest.param(
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema"}}},
            id="schema-without-name",
        ),
    ],
)
def test_the_schema_check_catches_mistakes(broken: dict[str, Any]) -> None:
    """The validator used above is not vacuous."""
    assert list(_validator("CreateResponse").iter_errors(broken))
