"""The deterministic responder: vendor shapes (checked against the specs) and behaviours."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import openai
import pytest
from lmbatch_anthropic._emulator._responder import message_body
from lmbatch_openai._emulator._responder import chat_body, embeddings_body, responses_body

from lmbatch.testing.emulator import Emulator, instance_for

from .conftest import (
    ANTHROPIC,
    CLAUDE,
    MODEL,
    OPENAI_BODIES,
    assert_matches_spec,
    chat_line,
    poll_until_done,
    read_lines,
    responses_line,
    submit,
)

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "score": {"type": "number", "exclusiveMinimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "kind": {"type": "string", "enum": ["cat", "dog"]},
        "email": {"type": ["string", "null"], "format": "email"},
        "home": {"$ref": "#/$defs/address"},
        "nick": {"anyOf": [{"type": "null"}, {"type": "string"}]},
    },
    "required": ["name", "age", "score", "tags", "kind", "email", "home", "nick"],
    "additionalProperties": False,
    "$defs": {
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"const": "00000"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        }
    },
}
WEATHER_TOOL = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
    "required": ["city", "unit"],
}


def test_instance_for_satisfies_the_schema() -> None:
    value = instance_for(PERSON, seed_text="Ada")
    jsonschema.validate(value, PERSON)
    assert value == instance_for(PERSON, seed_text="Ada")  # deterministic
    assert value["kind"] == "cat"
    assert value["home"]["zip"] == "00000"


def test_instance_for_recursive_schema_terminates() -> None:
    tree = {
        "type": "object",
        "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
        "required": ["children"],
    }
    jsonschema.validate(instance_for(tree), tree)


def test_responses_echo_matches_spec() -> None:
    body = responses_body(
        {
            "model": MODEL,
            "input": [{"role": "user", "content": "hello"}],
            "instructions": "Be brief",
        }
    )
    assert_matches_spec(body, OPENAI_BODIES, "Response")
    assert body["output"][0]["content"][0] == {
        "type": "output_text",
        "text": "echo: hello",
        "annotations": [],
        "logprobs": [],
    }
    usage = body["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0


def test_responses_structured_output_and_reasoning() -> None:
    body = responses_body(
        {
            "model": MODEL,
            "input": "who?",
            "reasoning": {"effort": "low", "summary": "auto"},
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "person",
                    "schema": PERSON,
                    "strict": True,
                }
            },
        }
    )
    assert_matches_spec(body, OPENAI_BODIES, "Response")
    reasoning, message = body["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"][0]["type"] == "summary_text"
    jsonschema.validate(json.loads(message["content"][0]["text"]), PERSON)
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] > 0


def test_responses_forced_tool_call() -> None:
    tool = {"type": "function", "name": "weather", "parameters": WEATHER_TOOL, "strict": True}
    body = responses_body(
        {
            "model": MODEL,
            "input": "Paris?",
            "tools": [tool],
            "tool_choice": {"type": "function", "name": "weather"},
        }
    )
    assert_matches_spec(body, OPENAI_BODIES, "Response")
    (call,) = body["output"]
    assert call["type"] == "function_call"
    assert call["name"] == "weather"
    jsonschema.validate(json.loads(call["arguments"]), WEATHER_TOOL)


def test_responses_refusal_and_truncation() -> None:
    refused = responses_body({"model": MODEL, "input": "do it [[refuse]]"})
    assert_matches_spec(refused, OPENAI_BODIES, "Response")
    assert refused["output"][0]["content"][0]["type"] == "refusal"
    cut = responses_body({"model": MODEL, "input": "x" * 200, "max_output_tokens": 5})
    assert_matches_spec(cut, OPENAI_BODIES, "Response")
    assert cut["status"] == "incomplete"
    assert cut["incomplete_details"] == {"reason": "max_output_tokens"}


def test_chat_shapes() -> None:
    plain = chat_body({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert_matches_spec(plain, OPENAI_BODIES, "CreateChatCompletionResponse")
    assert plain["choices"][0]["message"]["content"] == "echo: hi"
    assert plain["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    tool = {"type": "function", "function": {"name": "weather", "parameters": WEATHER_TOOL}}
    forced = chat_body(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Paris?"}]}],
            "tools": [tool],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "reasoning_effort": "low",
        }
    )
    assert_matches_spec(forced, OPENAI_BODIES, "CreateChatCompletionResponse")
    choice = forced["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    jsonschema.validate(
        json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]), WEATHER_TOOL
    )
    assert forced["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    structured = chat_body(
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "who?"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "p", "schema": PERSON},
            },
        }
    )
    jsonschema.validate(json.loads(structured["choices"][0]["message"]["content"]), PERSON)
    refused = chat_body({"model": MODEL, "messages": [{"role": "user", "content": "[[refuse]]"}]})
    assert_matches_spec(refused, OPENAI_BODIES, "CreateChatCompletionResponse")
    assert refused["choices"][0]["message"]["refusal"]
    assert not refused["choices"][0]["message"]["content"]
    cut = chat_body(
        {"model": MODEL, "messages": [{"role": "user", "content": "y" * 99}], "max_tokens": 3}
    )
    assert cut["choices"][0]["finish_reason"] == "length"


def test_embeddings_shape() -> None:
    body = embeddings_body(
        {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}
    )
    assert [len(d["embedding"]) for d in body["data"]] == [4, 4]
    assert body == embeddings_body(
        {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}
    )


def _message(**params: Any) -> dict[str, Any]:
    base = {"model": CLAUDE, "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
    body = message_body({**base, **params})
    assert_matches_spec(body, ANTHROPIC, "Message")
    return body


def test_anthropic_message_shapes() -> None:
    plain = _message(system="Be brief")
    assert plain["content"] == [{"type": "text", "text": "echo: hi", "citations": None}]
    assert plain["stop_reason"] == "end_turn"
    assert plain["usage"]["service_tier"] == "batch"
    thinking = _message(thinking={"type": "enabled", "budget_tokens": 1024})
    assert [b["type"] for b in thinking["content"]] == ["thinking", "text"]
    assert thinking["content"][0]["signature"]
    tools = [{"name": "weather", "description": "w", "input_schema": WEATHER_TOOL}]
    tool = _message(tools=tools, tool_choice={"type": "tool", "name": "weather"})
    assert tool["stop_reason"] == "tool_use"
    jsonschema.validate(tool["content"][0]["input"], WEATHER_TOOL)
    structured = _message(output_config={"format": {"type": "json_schema", "schema": PERSON}})
    jsonschema.validate(json.loads(structured["content"][0]["text"]), PERSON)
    refused = _message(messages=[{"role": "user", "content": "[[refuse]]"}])
    assert refused["stop_reason"] == "refusal"
    cut = _message(max_tokens=2, messages=[{"role": "user", "content": "z" * 100}])
    assert cut["stop_reason"] == "max_tokens"


@pytest.mark.parametrize("endpoint", ["/v1/responses", "/v1/chat/completions"])
async def test_end_to_end_bodies_match_spec(
    oai: openai.AsyncOpenAI, emu: Emulator, endpoint: str
) -> None:
    make = responses_line if endpoint == "/v1/responses" else chat_line
    batch_id = await submit(oai, [make("a", "hello")], endpoint)
    batch = await poll_until_done(oai, batch_id)
    (line,) = await read_lines(oai, batch.output_file_id)
    schema = "Response" if endpoint == "/v1/responses" else "CreateChatCompletionResponse"
    assert_matches_spec(line["response"]["body"], OPENAI_BODIES, schema)
