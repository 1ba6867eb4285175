"""lmbatch requests become Gemini GenerateContentRequests; bad ones are refused first."""

from __future__ import annotations

from typing import Any

import pytest
from lmbatch_gemini import GeminiBatchOperations
from lmbatch_gemini._encoding import check_hyperparameters, encode_request, gemini_schema
from pydantic import BaseModel

from lmbatch.provider import (
    Attachment,
    Hyperparameters,
    Message,
    ToolCall,
    ToolResult,
    ValidationError,
)


class Verdict(BaseModel):
    """A structured answer."""

    title: str
    score: int
    tags: list[str] | None = None


def params(**values: Any) -> Hyperparameters:
    checked = Hyperparameters.from_mapping(values)
    check_hyperparameters(checked, "json_schema")
    return checked


def request(
    messages: list[Message], structured: str = "json_schema", **values: Any
) -> dict[str, Any]:
    record = encode_request("k1", messages, params(**values), structured=structured)
    assert record["custom_id"] == "k1"
    body: dict[str, Any] = record["request"]
    return body


def test_a_plain_prompt() -> None:
    assert request([Message.user("Hello")]) == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}]
    }


def test_system_messages_and_turns() -> None:
    body = request(
        [
            Message.system("Be brief."),
            Message.system("Answer in French."),
            Message.user("Hi"),
            Message.assistant("Salut"),
            Message.user("Ça va?"),
        ]
    )
    assert body["systemInstruction"] == {
        "parts": [{"text": "Be brief."}, {"text": "Answer in French."}]
    }
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]


def test_portable_hyperparameters_go_to_generation_config() -> None:
    body = request(
        [Message.user("x")], max_tokens=64, temperature=0.5, top_p=0.9, stop="END", seed=7
    )
    assert body["generationConfig"] == {
        "maxOutputTokens": 64,
        "temperature": 0.5,
        "topP": 0.9,
        "stopSequences": ["END"],
        "seed": 7,
    }


def test_attachments_inline_and_by_uri() -> None:
    body = request(
        [
            Message.user(
                Attachment.from_bytes(b"\x89PNG", "image/png"),
                Attachment.from_url(
                    "https://generativelanguage.googleapis.com/v1beta/files/abc",
                    mime_type="application/pdf",
                ),
                "Describe both",
            )
        ]
    )
    assert body["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
        {
            "fileData": {
                "mimeType": "application/pdf",
                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
            }
        },
        {"text": "Describe both"},
    ]


def test_tool_calls_and_results_carry_the_function_name() -> None:
    body = request(
        [
            Message.user("Weather in Paris?"),
            Message.assistant(ToolCall(id="c1", name="get_weather", args={"city": "Paris"})),
            Message.user(ToolResult(id="c1", output="18C"), "And now?"),
            Message.assistant(ToolCall(id="c2", name="get_weather", args={"city": "Rome"})),
            Message.user(ToolResult(id="c2", output="no data", is_error=True)),
        ]
    )
    contents = body["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [{"functionCall": {"id": "c1", "name": "get_weather", "args": {"city": "Paris"}}}],
    }
    assert contents[2]["parts"][0] == {
        "functionResponse": {"id": "c1", "name": "get_weather", "response": {"output": "18C"}}
    }
    assert contents[4]["parts"][0]["functionResponse"]["response"] == {"error": "no data"}


def test_a_thought_signature_goes_back_on_the_function_call_part() -> None:
    body = request(
        [
            Message.user("Weather?"),
            Message.assistant(
                "Let me check.",
                ToolCall(id="c1", name="get_weather", args={}),
                thought_signature="c2lnbmF0dXJl",
            ),
            Message.user(ToolResult(id="c1", output="sunny")),
        ]
    )
    parts = body["contents"][1]["parts"]
    assert "thoughtSignature" not in parts[0]
    assert parts[1]["thoughtSignature"] == "c2lnbmF0dXJl"
    # Without a call, on the first part.
    text_only = request([Message.user("a"), Message.assistant("b", thought_signature="c2ln")])
    assert text_only["contents"][1]["parts"][0]["thoughtSignature"] == "c2ln"


def test_tools_and_tool_choice() -> None:
    tool = {"name": "lookup", "description": "Find a fact", "parameters": {"type": "object"}}
    auto = request([Message.user("x")], tools=[tool], tool_choice="auto")
    assert auto["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "lookup",
                    "description": "Find a fact",
                    "parametersJsonSchema": {"type": "object"},
                }
            ]
        }
    ]
    assert auto["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    modes = {
        "none": {"mode": "NONE"},
        "required": {"mode": "ANY"},
        "lookup": {"mode": "ANY", "allowedFunctionNames": ["lookup"]},
    }
    for choice, expected in modes.items():
        body = request([Message.user("x")], tools=[tool], tool_choice=choice)
        assert body["toolConfig"]["functionCallingConfig"] == expected
    assert "toolConfig" not in request([Message.user("x")], tools=[tool])


def test_response_schema_as_json_schema() -> None:
    body = request([Message.user("x")], response_schema=Verdict)
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == Verdict.model_json_schema()


def test_response_schema_as_gemini_schema() -> None:
    body = request([Message.user("x")], structured="schema", response_schema=Verdict)
    schema = body["generationConfig"]["responseSchema"]
    assert "responseJsonSchema" not in body["generationConfig"]
    assert schema["type"] == "OBJECT"
    assert schema["propertyOrdering"] == ["title", "score", "tags"]
    assert schema["properties"]["score"] == {"type": "INTEGER", "title": "Score"}
    # Optional[list[str]] (anyOf with null) becomes a nullable array.
    assert schema["properties"]["tags"]["type"] == "ARRAY"
    assert schema["properties"]["tags"]["nullable"] is True
    assert schema["properties"]["tags"]["items"] == {"type": "STRING"}


def test_gemini_schema_inlines_references_and_refuses_recursion() -> None:
    schema = {
        "type": "object",
        "properties": {"item": {"$ref": "#/$defs/Item"}, "kind": {"const": "a"}},
        "$defs": {"Item": {"type": ["string", "null"], "additionalProperties": False}},
    }
    converted = gemini_schema(schema)
    assert converted["properties"]["item"] == {"type": "STRING", "nullable": True}
    assert converted["properties"]["kind"] == {"enum": ["a"], "type": "STRING"}
    recursive = {
        "type": "object",
        "properties": {"next": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
    }
    with pytest.raises(ValidationError, match="refers to itself"):
        gemini_schema(recursive)


def test_vendor_fields_in_either_spelling_land_where_gemini_wants_them() -> None:
    body = request(
        [Message.user("x")],
        thinking_config={"thinking_budget": 1024, "include_thoughts": True},
        topK=40,
        safety_settings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        cached_content="cachedContents/abc",
        labels={"team_name": "eval"},
        response_modalities=["TEXT"],
    )
    assert body["generationConfig"] == {
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        "topK": 40,
        "responseModalities": ["TEXT"],
    }
    assert body["safetySettings"] == [
        {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}
    ]
    assert body["cachedContent"] == "cachedContents/abc"
    assert body["labels"] == {"team_name": "eval"}  # the caller's names, as they are


def test_extra_body_is_sent_as_it_is_and_merges_generation_config() -> None:
    body = request(
        [Message.user("x")],
        max_tokens=10,
        extra_body={"newTopLevelThing": {"a_b": 1}, "generationConfig": {"brandNew": True}},
    )
    assert body["newTopLevelThing"] == {"a_b": 1}
    assert body["generationConfig"] == {"maxOutputTokens": 10, "brandNew": True}


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"max_output_tokens": 5}, "use max_tokens"),
        ({"topP": 0.5}, "use top_p"),
        ({"stop_sequences": ["x"]}, "use stop"),
        ({"response_json_schema": {}}, "use response_schema"),
        ({"system_instruction": "x"}, "Message.system"),
        ({"generation_config": {}}, "pass its fields"),
        ({"top_k": 1, "topK": 2}, "same field"),
        ({"candidate_count": 2}, "one candidate"),
        ({"response_schema": Verdict, "response_mime_type": "application/json"}, "sets it"),
        ({"tools": [{"name": "f"}], "tool_choice": "f", "tool_config": {}}, "not both"),
        ({"tool_choice": "required"}, "needs `tools`"),
        ({"thinking_config": 1024}, "must be a dict"),
    ],
)
def test_refused_hyperparameters(values: dict[str, Any], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        params(**values)


def test_json_mode_without_a_schema_is_a_vendor_field() -> None:
    body = request([Message.user("x")], response_mime_type="application/json")
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


async def test_unknown_names_are_refused_with_a_did_you_mean() -> None:
    ops = GeminiBatchOperations(model="gemini-2.5-flash", api_key="k", store=":memory:")
    with pytest.raises(ValidationError, match="did you mean 'top_k'"):
        await ops.create({"a": "x"}, {"top_kk": 3})
    with pytest.raises(ValidationError, match="extra_body"):
        await ops.create({"a": "x"}, {"reasoning_effort": "low"})


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([Message.user(Attachment.from_bytes(b"GIF8", "image/gif"), "x")], "not image/gif"),
        ([Message.user(ToolResult(id="nope", output="x"))], "answers no earlier tool call"),
        ([Message.user("a"), Message.assistant("b", thought_signature=1)], "must be a string"),
    ],
)
async def test_refused_requests_name_the_key(messages: list[Message], match: str) -> None:
    ops = GeminiBatchOperations(model="gemini-2.5-flash", api_key="k", store=":memory:")
    with pytest.raises(ValidationError, match=match) as caught:
        await ops.create({"bad": messages})
    assert caught.value.key == "bad"


def test_settings_parts_are_built_once_per_job() -> None:
    checked = params(max_tokens=5, tools=[{"name": "f"}])
    one = encode_request("a", [Message.user("x")], checked, structured="json_schema")
    two = encode_request("b", [Message.user("y")], checked, structured="json_schema")
    assert one["request"]["tools"] is two["request"]["tools"]
