"""Encoding: every request the provider builds is a valid Anthropic batch request."""

from __future__ import annotations

from typing import Any

import pytest
from lmbatch_anthropic import AnthropicBatchOperations
from pydantic import BaseModel

from lmbatch import Attachment, Message, ToolCall, ToolResult, ValidationError
from lmbatch.provider import normalize_input

from .conftest import MODEL, spec_errors

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"


class Weather(BaseModel):
    """A forecast."""

    city: str
    celsius: float
    tags: list[str]


class Lookup(BaseModel):
    """Look a word up."""

    word: str


def encode(
    request: Any,
    hyperparameters: dict[str, Any] | None = None,
    *,
    key: str = "k1",
    **options: Any,
) -> dict[str, Any]:
    """Validate and encode one request exactly as ``create`` does, without sending it."""
    options.setdefault("model", MODEL)
    ops = AnthropicBatchOperations(api_key="test", store=":memory:", **options)
    params = ops._checked_hyperparameters(hyperparameters)
    messages = normalize_input(key, request)
    ops.validate_request(key, messages, params)
    return ops.encode_request(key, messages, params)


TOOL_CONVERSATION = [
    Message.system("You can look words up."),
    Message.user("What does 'batch' mean?"),
    Message.assistant("Let me check.", ToolCall(id="toolu_01", name="Lookup", args={"word": "b"})),
    Message.user("Here you go.", ToolResult(id="toolu_01", output="a group of things"), "Thanks!"),
]

CASES: list[Any] = [
    pytest.param("Hello", None, {}, id="plain"),
    pytest.param("Grüße, 世界 — ✓", None, {}, id="unicode"),
    pytest.param(["First part.", "Second part."], None, {}, id="parts"),
    pytest.param(
        ["Describe", Attachment.from_bytes(PNG, "image/png", "a.png")], None, {}, id="image-b64"
    ),
    pytest.param(
        ["Describe", Attachment.from_url("https://example.com/cat.jpg")],
        None,
        {},
        id="image-url",
    ),
    pytest.param(
        [Attachment.from_bytes(PDF, "application/pdf", "doc.pdf"), "Summarise"],
        None,
        {},
        id="pdf-b64",
    ),
    pytest.param(
        [Attachment.from_url("https://example.com/paper.pdf"), "Summarise"],
        None,
        {},
        id="pdf-url",
    ),
    pytest.param(
        [Attachment.from_bytes(b"plain words", "text/plain", "notes.txt"), "Summarise"],
        None,
        {},
        id="text-document",
    ),
    pytest.param(
        [Message.system("Be brief."), Message.system("Be kind."), Message.user("Hi")],
        None,
        {},
        id="two-systems",
    ),
    pytest.param(
        [
            Message.system("A long shared context.", cache_control=True),
            Message.system("Per-request rules."),
            Message.user("Question", cache_control="1h"),
        ],
        None,
        {},
        id="prompt-caching",
    ),
    pytest.param(TOOL_CONVERSATION, None, {}, id="tool-conversation"),
    pytest.param(
        [Message.user(ToolResult(id="t_9", output="boom", is_error=True))],
        None,
        {},
        id="tool-error-result",
    ),
    pytest.param(
        [Message.user("Start"), Message.assistant("Sure:")], None, {}, id="assistant-prefill"
    ),
    pytest.param(
        "Hi",
        {"max_tokens": 77, "temperature": 0.3, "top_p": 0.9, "stop": ["END", "STOP"]},
        {},
        id="sampling",
    ),
    pytest.param("Hi", {"stop": "END"}, {}, id="stop-string"),
    pytest.param("Hi", {"tools": [Lookup], "tool_choice": "auto"}, {}, id="tools-auto"),
    pytest.param("Hi", {"tools": [Lookup], "tool_choice": "none"}, {}, id="tools-none"),
    pytest.param("Hi", {"tools": [Lookup], "tool_choice": "required"}, {}, id="tools-required"),
    pytest.param("Hi", {"tools": [Lookup], "tool_choice": "Lookup"}, {}, id="tools-named"),
    pytest.param(
        "Hi",
        {"tools": [{"name": "t", "parameters": {"type": "object", "properties": {}}}]},
        {},
        id="tool-dict-no-description",
    ),
    pytest.param("Weather?", {"response_schema": Weather}, {}, id="schema-tool"),
    pytest.param(
        "Weather?",
        {"response_schema": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        {},
        id="schema-dict",
    ),
    pytest.param(
        "Weather?", {"response_schema": Weather, "tools": [Lookup]}, {}, id="schema-with-tools"
    ),
    pytest.param(
        "Weather?",
        {"response_schema": Weather},
        {"structured_output": "native"},
        id="schema-native",
    ),
    pytest.param(
        "Think",
        {"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2048}},
        {},
        id="thinking",
    ),
    pytest.param("Think", {"thinking": {"type": "adaptive"}}, {}, id="thinking-adaptive"),
    pytest.param(
        "Think",
        {
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "response_schema": Weather,
        },
        {},
        id="thinking-with-schema",
    ),
    pytest.param(
        "Hi",
        {
            "top_k": 5,
            "metadata": {"user_id": "u-1"},
            "cache_control": {"type": "ephemeral"},
            "service_tier": "auto",
            "output_config": {"effort": "low"},
        },
        {},
        id="vendor-extras",
    ),
    pytest.param("Hi", None, {"default_max_tokens": 123}, id="default-max-tokens"),
]


@pytest.mark.parametrize(("request_", "hyperparameters", "options"), CASES)
def test_every_encoded_request_matches_the_spec(
    request_: Any, hyperparameters: dict[str, Any] | None, options: dict[str, Any]
) -> None:
    record = encode(request_, hyperparameters, **options)
    assert spec_errors(record, "MessageBatchIndividualRequestParams") == []
    assert spec_errors(record["params"], "CreateMessageParams") == []
    assert spec_errors({"requests": [record]}, "CreateMessageBatchParams") == []


def test_plain_prompt() -> None:
    assert encode("Hello") == {
        "custom_id": "k1",
        "params": {
            "model": MODEL,
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Hello"}],
        },
    }


def test_default_max_tokens_is_configurable_and_explicit_wins() -> None:
    assert encode("Hi", default_max_tokens=50)["params"]["max_tokens"] == 50
    assert encode("Hi", {"max_tokens": 9}, default_max_tokens=50)["params"]["max_tokens"] == 9


def test_system_messages_are_joined_never_dropped() -> None:
    params = encode([Message.system("Be brief."), Message.user("Hi"), Message.system("Be kind.")])[
        "params"
    ]
    assert params["system"] == "Be brief.\n\nBe kind."
    assert params["messages"] == [{"role": "user", "content": "Hi"}]


def test_prompt_caching_markers_are_kept_where_asked() -> None:
    params = encode(
        [
            Message.system("Shared", cache_control=True),
            Message.system("Own"),
            Message.user("Q1", "Q2", cache_control={"type": "ephemeral", "ttl": "1h"}),
        ]
    )["params"]
    assert params["system"] == [
        {"type": "text", "text": "Shared", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Own"},
    ]
    assert params["messages"][0]["content"] == [
        {"type": "text", "text": "Q1"},
        {"type": "text", "text": "Q2", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]


@pytest.mark.parametrize(
    "hyperparameters",
    [
        {"response_schema": Weather},
        {"tools": [Lookup], "tool_choice": "required"},
        {"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        {"stop": "x", "temperature": 0.5},
    ],
)
def test_unrelated_settings_never_add_or_remove_cache_control(
    hyperparameters: dict[str, Any],
) -> None:
    cached = [Message.system("Ctx", cache_control=True), Message.user("Q")]
    assert encode(cached, hyperparameters)["params"]["system"][0]["cache_control"] == {
        "type": "ephemeral"
    }
    plain = encode([Message.system("Ctx"), Message.user("Q")], hyperparameters)
    assert "cache_control" not in str(plain)
    with_top_level = encode("Q", {**hyperparameters, "cache_control": {"type": "ephemeral"}})
    assert with_top_level["params"]["cache_control"] == {"type": "ephemeral"}


def test_attachments() -> None:
    content = encode(
        [
            Attachment.from_bytes(PNG, "image/png"),
            Attachment.from_url("https://example.com/a.pdf"),
            Attachment.from_bytes(PDF, "application/pdf", "x.pdf"),
            "Compare",
        ]
    )["params"]["messages"][0]["content"]
    assert content[0]["type"] == "image"
    assert content[0]["source"]["type"] == "base64"
    assert content[0]["source"]["media_type"] == "image/png"
    assert content[1] == {
        "type": "document",
        "source": {"type": "url", "url": "https://example.com/a.pdf"},
    }
    assert content[2]["source"]["media_type"] == "application/pdf"
    assert content[2]["title"] == "x.pdf"
    assert content[3] == {"type": "text", "text": "Compare"}


def test_tool_blocks_and_tool_results_first() -> None:
    messages = encode(TOOL_CONVERSATION)["params"]["messages"]
    assert messages[1]["content"][1] == {
        "type": "tool_use",
        "id": "toolu_01",
        "name": "Lookup",
        "input": {"word": "b"},
    }
    assert [block["type"] for block in messages[2]["content"]] == ["tool_result", "text", "text"]
    assert messages[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": "toolu_01",
        "content": "a group of things",
    }


def test_hyperparameter_mapping() -> None:
    params = encode(
        "Hi",
        {
            "temperature": 0.2,
            "top_p": 0.5,
            "stop": "END",
            "tools": [Lookup],
            "tool_choice": "required",
        },
    )["params"]
    assert params["temperature"] == 0.2
    assert params["top_p"] == 0.5
    assert params["stop_sequences"] == ["END"]
    assert params["tools"] == [
        {
            "name": "Lookup",
            "input_schema": Lookup.model_json_schema(),
            "description": "Look a word up.",
        }
    ]
    assert params["tool_choice"] == {"type": "any"}
    named = encode("Hi", {"tools": [Lookup], "tool_choice": "Lookup"})["params"]["tool_choice"]
    assert named == {"type": "tool", "name": "Lookup"}


def test_response_schema_as_forced_tool() -> None:
    params = encode("Weather?", {"response_schema": Weather})["params"]
    assert params["tools"][0]["name"] == "Weather"
    assert params["tools"][0]["input_schema"] == Weather.model_json_schema()
    assert params["tool_choice"] == {"type": "tool", "name": "Weather"}
    assert "output_config" not in params
    both = encode("Weather?", {"response_schema": Weather, "tools": [Lookup]})["params"]
    assert [t["name"] for t in both["tools"]] == ["Lookup", "Weather"]
    assert both["tool_choice"] == {"type": "any"}


def test_response_schema_native_and_with_thinking() -> None:
    native = encode(
        "Weather?",
        {"response_schema": Weather, "output_config": {"effort": "low"}},
        structured_output="native",
    )["params"]
    assert "tools" not in native
    assert native["output_config"]["effort"] == "low"
    schema = native["output_config"]["format"]["schema"]
    assert native["output_config"]["format"]["type"] == "json_schema"
    assert schema["additionalProperties"] is False
    thinking = encode(
        "Weather?",
        {
            "response_schema": Weather,
            "max_tokens": 3000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
        },
    )["params"]
    assert thinking["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "tool_choice" not in thinking
    assert thinking["output_config"]["format"]["type"] == "json_schema"


@pytest.mark.parametrize(
    ("request_", "hyperparameters", "options", "fragment"),
    [
        pytest.param("Hi", {"seed": 1}, {}, "seed", id="seed"),
        pytest.param("Hi", {"temperature": 1.5}, {}, "0..1", id="temperature-above-1"),
        pytest.param("Hi", {"stream": True}, {}, "stream", id="stream"),
        pytest.param("Hi", {"system": "x"}, {}, "Message.system", id="system-extra"),
        pytest.param("Hi", {"frequency_penalty": 1}, {}, "not a portable", id="unknown-extra"),
        pytest.param("Hi", {"stop": "a", "stop_sequences": ["b"]}, {}, "stop", id="two-stops"),
        pytest.param("Hi", {"tool_choice": "required"}, {}, "tools", id="required-no-tools"),
        pytest.param(
            "Hi", {"thinking": {"type": "enabled", "budget_tokens": 10}}, {}, "1024", id="budget"
        ),
        pytest.param(
            "Hi",
            {"thinking": {"type": "enabled", "budget_tokens": 5000}},
            {},
            "less than max_tokens",
            id="budget-over-max",
        ),
        pytest.param(
            "Hi",
            {"thinking": {"type": "adaptive"}, "temperature": 0.2},
            {},
            "temperature",
            id="thinking-temperature",
        ),
        pytest.param(
            "Hi",
            {"thinking": {"type": "adaptive"}, "response_schema": Weather},
            {"structured_output": "tool"},
            "forced tool",
            id="thinking-forced-schema",
        ),
        pytest.param(
            "Hi",
            {"response_schema": Weather, "tools": [Lookup], "tool_choice": "Lookup"},
            {},
            "tool_choice",
            id="schema-vs-named-choice",
        ),
        pytest.param(
            "Hi",
            {
                "response_schema": Weather,
                "tools": [{"name": "Weather", "parameters": {"type": "object"}}],
            },
            {},
            "clashes",
            id="schema-tool-name-clash",
        ),
        pytest.param("Hi", {"cache_control": "forever"}, {}, "ephemeral", id="bad-cache"),
        pytest.param("Hi", None, {"model": None}, "model", id="no-model"),
        pytest.param(
            [Message.user("Hi", cache_control="2h")], None, {}, "ephemeral", id="bad-msg-cache"
        ),
        pytest.param(
            [Attachment.from_url("https://example.com/a.txt", "text/plain"), "x"],
            None,
            {},
            "text/plain",
            id="text-url",
        ),
        pytest.param(
            [Message.user("x"), Message.assistant(ToolCall(id="call 1", name="f"))],
            None,
            {},
            "tool call id",
            id="bad-tool-id",
        ),
    ],
)
def test_refused_before_sending(
    request_: Any, hyperparameters: dict[str, Any] | None, options: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValidationError, match=fragment):
        encode(request_, hyperparameters, **options)
