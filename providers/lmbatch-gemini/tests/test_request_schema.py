"""Every request lmbatch encodes for Gemini fits the official request types.

The schema (``data/generate_content_request.schema.json``) is generated from the
google-genai SDK's own pydantic types (``scripts/generate_request_schema.py``): unknown
fields are refused, as the API refuses them. When the SDK is installed, the requests are
also validated by its types directly, and the file is checked to be up to date.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lmbatch_gemini._body import SpooledRequests
from lmbatch_gemini._encoding import check_hyperparameters, encode_request
from pydantic import BaseModel

from lmbatch.provider import Attachment, Hyperparameters, Message, ToolCall, ToolResult

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "tests" / "data" / "generate_content_request.schema.json"
GENERATOR = ROOT / "scripts" / "generate_request_schema.py"


def _sdk_installed() -> bool:
    # find_spec of a submodule imports its parent: without any `google` package it raises.
    try:
        return importlib.util.find_spec("google.genai") is not None
    except ModuleNotFoundError:
        return False


HAS_SDK = _sdk_installed()


class Answer(BaseModel):
    """Structured output."""

    title: str
    scores: list[int]
    note: str | None = None


TOOL = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CONVERSATION = [
    Message.system("Be brief."),
    Message.user("Weather in Paris?", Attachment.from_bytes(b"\x89PNG", "image/png")),
    Message.assistant(
        "Checking.",
        ToolCall(id="c1", name="get_weather", args={"city": "Paris"}),
        thought_signature="c2ln",
    ),
    Message.user(ToolResult(id="c1", output="18C")),
    Message.assistant(ToolCall(id="c2", name="get_weather", args={"city": "Rome"})),
    Message.user(
        ToolResult(id="c2", output="unknown", is_error=True),
        Attachment.from_url(
            "https://generativelanguage.googleapis.com/v1beta/files/x", mime_type="application/pdf"
        ),
    ),
]
CASES: dict[str, tuple[list[Message], dict[str, Any], str]] = {
    "plain": ([Message.user("Hello")], {}, "json_schema"),
    "portable": (
        [Message.system("s"), Message.user("u")],
        {"max_tokens": 5, "temperature": 0.2, "top_p": 0.5, "stop": ["x"], "seed": 3},
        "json_schema",
    ),
    "conversation": (CONVERSATION, {"tools": [TOOL], "tool_choice": "get_weather"}, "json_schema"),
    "tool-modes": (
        [Message.user("u")],
        {"tools": [TOOL], "tool_choice": "required"},
        "json_schema",
    ),
    "json-schema": ([Message.user("u")], {"response_schema": Answer}, "json_schema"),
    "openapi-schema": ([Message.user("u")], {"response_schema": Answer}, "schema"),
    "vendor-fields": (
        [Message.user("u")],
        {
            "thinking_config": {"thinking_budget": 512, "include_thoughts": True},
            "top_k": 20,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "response_mime_type": "text/plain",
            "response_modalities": ["TEXT"],
            "media_resolution": "MEDIA_RESOLUTION_LOW",
            "safety_settings": [
                {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_ONLY_HIGH"}
            ],
            "cached_content": "cachedContents/abc",
            "labels": {"team_name": "eval"},
            "tool_config": {"function_calling_config": {"mode": "AUTO"}},
        },
        "json_schema",
    ),
}


@cache
def validators() -> dict[str, jsonschema.Draft202012Validator]:
    document = json.loads(SCHEMA_FILE.read_text())
    return {
        name: jsonschema.Draft202012Validator({**entry, "$defs": document["$defs"]})
        for name, entry in document["entries"].items()
    }


def problems(instance: Any, entry: str) -> list[str]:
    errors = sorted(validators()[entry].iter_errors(instance), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message[:200]}" for e in errors]


def encoded(case: str) -> dict[str, Any]:
    messages, values, structured = CASES[case]
    params = Hyperparameters.from_mapping(values)
    check_hyperparameters(params, structured)
    return encode_request("k-1", messages, params, structured=structured)


@pytest.mark.parametrize("case", sorted(CASES))
def test_encoded_requests_fit_the_schema(case: str) -> None:
    assert problems(encoded(case)["request"], "request") == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_inline_entries_and_file_lines_fit_the_schema(case: str, tmp_path: Path) -> None:
    # What is sent: the spooled line rewritten as an inline entry and as a file line.
    spool = tmp_path / "chunk.jsonl"
    spool.write_text(json.dumps(encoded(case)) + "\n")
    spooled = SpooledRequests(spool)
    body = json.loads(b"".join(spooled.inline_body("name")))
    (entry,) = body["batch"]["inputConfig"]["requests"]["requests"]
    assert entry["metadata"] == {"key": "k-1"}
    assert problems(entry, "inline") == []
    (line,) = b"".join(spooled.file_body(1024)).splitlines()
    assert json.loads(line)["key"] == "k-1"
    assert problems(json.loads(line), "line") == []


def test_the_schema_refuses_what_gemini_refuses() -> None:
    request = encoded("plain")["request"]
    assert problems({**request, "max_tokens": 5}, "request")  # an unknown field
    assert problems({**request, "generationConfig": {"maxTokens": 5}}, "request")
    assert problems({"contents": "Hello"}, "request")


@pytest.mark.skipif(not HAS_SDK, reason="google-genai is not installed")
@pytest.mark.parametrize("case", sorted(CASES))
def test_encoded_requests_fit_the_sdk_types(case: str) -> None:
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        from generate_request_schema import request_models  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(GENERATOR.parent))
    model = request_models()["request"]
    model.model_validate_json(json.dumps(encoded(case)["request"]))


@pytest.mark.skipif(not HAS_SDK, reason="google-genai is not installed")
def test_the_schema_file_is_up_to_date() -> None:
    sys.path.insert(0, str(GENERATOR.parent))
    try:
        from generate_request_schema import render
    finally:
        sys.path.remove(str(GENERATOR.parent))
    assert SCHEMA_FILE.read_text() == render(), (
        "regenerate it: python providers/lmbatch-gemini/scripts/generate_request_schema.py"
    )
