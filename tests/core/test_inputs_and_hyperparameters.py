"""Validation of requests and hyperparameters, before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from lmbatch import (
    Hyperparameters,
    Message,
    MessageRole,
    Tool,
    ToolCall,
    ToolResult,
    ValidationError,
)
from lmbatch._inputs import normalize_input


def test_string_becomes_one_user_message() -> None:
    assert normalize_input("k", "hi") == [Message.user("hi")]


def test_parts_become_one_user_message() -> None:
    messages = normalize_input("k", ["a", "b"])
    assert len(messages) == 1
    assert messages[0].role is MessageRole.USER
    assert messages[0].contents == ["a", "b"]


def test_message_dicts_are_accepted() -> None:
    messages = normalize_input(
        "k", [{"role": "system", "contents": ["s"]}, {"role": "user", "contents": ["u"]}]
    )
    assert [m.role for m in messages] == [MessageRole.SYSTEM, MessageRole.USER]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("   ", "empty"),
        ([], "empty list"),
        ([Message.user("a"), "b"], "mixes"),
        ([Message.system("s")], "only system"),
        ([Message.user(ToolCall(id="1", name="f"))], "assistant messages"),
        ([Message.user("q"), Message.assistant(ToolResult(id="1", output="x"))], "user messages"),
        (3.5, "must be a str"),
        ([{"role": "wizard", "contents": ["x"]}], "not valid"),
    ],
)
def test_bad_inputs_name_the_key_and_reason(value: Any, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as caught:
        normalize_input("the-key", value)
    assert caught.value.key == "the-key"
    assert "the-key" in str(caught.value)


class Answer(BaseModel):
    answer: str


def test_portable_hyperparameters_and_pass_through() -> None:
    params = Hyperparameters.from_mapping(
        {
            "max_tokens": 10,
            "temperature": 0,
            "top_p": 0.5,
            "stop": "END",
            "seed": 7,
            "response_schema": Answer,
            "tools": [{"name": "lookup", "description": "find", "parameters": {"type": "object"}}],
            "tool_choice": "lookup",
            "reasoning_effort": "low",
        }
    )
    assert params.stop == ["END"]
    assert params.temperature == 0.0
    assert params.response_schema is not None
    assert params.response_schema.model is Answer
    assert params.response_schema.name == "Answer"
    assert params.response_schema.model_path == f"{__name__}:Answer"
    assert params.tools == [Tool(name="lookup", description="find", parameters={"type": "object"})]
    assert params.extra == {"reasoning_effort": "low"}


def test_tool_from_pydantic_model() -> None:
    class GetWeather(BaseModel):
        """Weather for a city."""

        city: str

    params = Hyperparameters.from_mapping({"tools": [GetWeather]})
    assert params.tools is not None
    assert params.tools[0].name == "GetWeather"
    assert params.tools[0].description == "Weather for a city."
    assert params.tools[0].parameters["properties"]["city"]["type"] == "string"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"temperature": 3}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": -1}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"seed": 1.5}, "seed"),
        ({"stop": [""]}, "stop"),
        ({"response_schema": {"type": "string"}}, "response_schema"),
        ({"response_schema": 3}, "response_schema"),
        (
            {"response_schema": {"type": "object", "properties": {"a": {"type": "strin"}}}},
            r"response_schema.*not a valid JSON Schema.*properties/a/type",
        ),
        (
            {"response_schema": {"type": "object", "required": "a"}},
            r"response_schema.*not a valid JSON Schema: 'a' is not of type 'array'",
        ),
        (
            {"tools": [{"name": "t", "parameters": {"type": "object", "properties": 3}}]},
            r"tools.*tool 't': parameters are not a valid JSON Schema",
        ),
        ({"tools": [{"name": "bad name!"}]}, "tools"),
        ({"tools": [{"name": "a"}, {"name": "a"}]}, "tools"),
        ({"tools": [{"name": "a", "parameters": {"type": "string"}}]}, "tools"),
        ({"tool_choice": "missing"}, "tool_choice"),
        ({1: 2}, "names must be strings"),
    ],
)
def test_invalid_hyperparameters_are_refused(values: dict[Any, Any], names: str) -> None:
    with pytest.raises(ValidationError, match=names):
        Hyperparameters.from_mapping(values)


def test_hyperparameters_must_be_a_dict() -> None:
    with pytest.raises(ValidationError, match="must be a dict"):
        Hyperparameters.from_mapping([("temperature", 1)])  # type: ignore[arg-type]
