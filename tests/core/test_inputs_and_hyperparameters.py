"""Validation of requests and hyperparameters, before anything is sent."""

from __future__ import annotations

from decimal import Decimal
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
from lmbatch.testing import FakeBackend, FakeBatchOperations


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


# -- values JSON cannot carry: refused up front, naming the key or the hyperparameter -------


def _deeply_nested(depth: int = 100_000) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


class _Opaque:
    pass


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param({1, 2}, "a set", id="set"),
        pytest.param(Decimal("1.5"), "a Decimal", id="decimal"),
        pytest.param({"inner": _Opaque()}, "a _Opaque", id="object"),
        pytest.param(float("nan"), "NaN", id="nan"),
        pytest.param({"user": "x\ud800"}, "lone surrogate", id="lone-surrogate"),
        pytest.param(_deeply_nested(), "nested too deeply", id="deep"),
    ],
)
def test_pass_through_hyperparameter_json_cannot_carry_is_refused_naming_it(
    value: Any, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Hyperparameters.from_mapping({"vendor_option": value})
    assert "hyperparameters['vendor_option']" in str(caught.value)
    assert reason in str(caught.value)


def _fake_ops() -> FakeBatchOperations:
    return FakeBatchOperations(backend=FakeBackend(), store=":memory:")


@pytest.mark.parametrize(
    ("requests", "key", "reason"),
    [
        pytest.param(
            {"ok": "fine", "bad": "half \ud83d emoji"}, "bad", "lone surrogate", id="prompt"
        ),
        pytest.param(
            {"ok": "fine", "bad": [Message.system("be \udcff brief"), Message.user("hi")]},
            "bad",
            "lone surrogate",
            id="system-message",
        ),
        pytest.param({"ok": "fine", "b\udc80d": "hi"}, "b\udc80d", "lone surrogate", id="key"),
        pytest.param(
            {
                "ok": "fine",
                "deep": [
                    Message.user("hi"),
                    Message.assistant(ToolCall(id="c1", name="f", args={"x": _deeply_nested()})),
                    Message.user(ToolResult(id="c1", output="done")),
                ],
            },
            "deep",
            "nested too deeply",
            id="deep-tool-call",
        ),
        pytest.param(
            {
                "ok": "fine",
                "setty": [
                    Message.user("hi"),
                    Message.assistant(ToolCall(id="c1", name="f", args={"x": {1, 2}})),
                    Message.user(ToolResult(id="c1", output="done")),
                ],
            },
            "setty",
            "a set",
            id="set-in-tool-call",
        ),
    ],
)
async def test_request_json_cannot_carry_is_a_validation_error_naming_the_key(
    requests: dict[str, Any], key: str, reason: str
) -> None:
    ops = _fake_ops()
    with pytest.raises(ValidationError) as caught:
        await ops.create(requests)
    assert caught.value.key == key
    assert reason in str(caught.value)
    assert ops.backend.calls["submit"] == 0
    assert ops.store.list_jobs() == []
    assert list(ops.store.spool_dir().iterdir()) == []  # no plan folder left behind
