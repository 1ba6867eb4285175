"""Decoding: result lines become LMOutputs, one per line, whatever the line holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch import StructuredOutput, TextOutput, ThinkingOutput, ToolCall
from lmbatch.provider import ResultRecord

NO_CONTEXT: dict[str, Any] = {}
_OPS = AnthropicBatchOperations(model="claude-sonnet-4-5", api_key="test", store=":memory:")


def decode_line(text: str, context: dict[str, Any]) -> ResultRecord:
    """One results-file line through core's JSONL shell and the provider's decoder."""
    return _OPS.decode_result_line(text, context)


def message(*content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A ``Message`` as the API returns it, with usage including cache tokens."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": list(content),
        "stop_reason": extra.pop("stop_reason", "end_turn"),
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 20,
            "service_tier": "batch",
        },
        **extra,
    }


def line(custom_id: str, result: dict[str, Any]) -> str:
    return json.dumps({"custom_id": custom_id, "result": result})


def succeeded(*content: dict[str, Any], **extra: Any) -> str:
    return line("k1", {"type": "succeeded", "message": message(*content, **extra)})


def test_text_thinking_and_tool_use_in_order() -> None:
    record = decode_line(
        succeeded(
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "redacted_thinking", "data": "enc"},
            {"type": "text", "text": "Hello", "citations": None},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"w": 1}},
        ),
        NO_CONTEXT,
    )
    assert record.custom_id == "k1"
    output = record.output
    assert output.ok
    assert output.outputs == [
        ThinkingOutput(text="hmm", signature="sig=="),
        ThinkingOutput(text="", signature="enc"),
        TextOutput(text="Hello"),
        ToolCall(id="toolu_1", name="lookup", args={"w": 1}),
    ]
    assert output.finish_details["stop_reason"] == "end_turn"
    assert output.finish_details["model"] == "claude-sonnet-4-5-20250929"
    assert output.finish_details["service_tier"] == "batch"


def test_usage_counts_cache_reads_and_writes() -> None:
    output = decode_line(succeeded({"type": "text", "text": "x"}), NO_CONTEXT).output
    assert output.token_usage is not None
    assert output.token_usage.input_tokens == 130  # uncached + cache reads + cache writes
    assert output.token_usage.cached_input_tokens == 100
    assert output.token_usage.output_tokens == 5
    assert output.finish_details["cache_creation_input_tokens"] == 20
    assert output.finish_details["cache_read_input_tokens"] == 100


def test_forced_schema_tool_becomes_structured_output() -> None:
    context = {"structured_output": "tool", "schema_tool": "Weather"}
    output = decode_line(
        succeeded(
            {"type": "tool_use", "id": "toolu_1", "name": "Weather", "input": {"city": "Oslo"}},
            stop_reason="tool_use",
        ),
        context,
    ).output
    assert output.outputs == [StructuredOutput(data={"city": "Oslo"})]
    other = decode_line(
        succeeded({"type": "tool_use", "id": "toolu_2", "name": "Lookup", "input": {}}), context
    ).output
    assert other.tool_calls == [ToolCall(id="toolu_2", name="Lookup", args={})]


def test_native_structured_output_is_parsed_from_text() -> None:
    context = {"structured_output": "native"}
    output = decode_line(succeeded({"type": "text", "text": '{"a": 1}'}), context).output
    assert output.structured_output == {"a": 1}
    broken = decode_line(succeeded({"type": "text", "text": '{"a": '}), context).output
    assert broken.error is not None
    assert broken.error.kind == "invalid_response"
    assert broken.token_usage is not None


def test_refusal() -> None:
    output = decode_line(succeeded(stop_reason="refusal"), NO_CONTEXT).output
    assert output.ok
    assert output.refusal


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "max_tokens: too big"},
                "request_id": "req_1",
            },
            id="nested",
        ),
        pytest.param(
            {"type": "invalid_request_error", "message": "max_tokens: too big"}, id="flat"
        ),
    ],
)
def test_errored_keeps_vendor_type_and_message(error: dict[str, Any]) -> None:
    output = decode_line(line("k2", {"type": "errored", "error": error}), NO_CONTEXT).output
    assert output.error is not None
    assert output.error.kind == "errored"
    assert output.error.code == "invalid_request_error"
    assert output.error.message == "max_tokens: too big"
    assert output.error.status_code == 400
    assert output.error.provider == "anthropic"
    assert not output.error.transient  # a wrong request: not resubmitted


def test_overloaded_error_status() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    output = decode_line(line("k", {"type": "errored", "error": error}), NO_CONTEXT).output
    assert output.error is not None
    assert output.error.status_code == 529
    assert output.error.transient  # resubmitted by invoke


@pytest.mark.parametrize(
    "error_type", ["rate_limit_error", "api_error", "timeout_error", "overloaded_error"]
)
def test_try_again_later_errors_are_transient(error_type: str) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "later"}}
    output = decode_line(line("k", {"type": "errored", "error": error}), NO_CONTEXT).output
    assert output.error is not None
    assert output.error.transient


@pytest.mark.parametrize(("kind", "expected"), [("canceled", "cancelled"), ("expired", "expired")])
def test_canceled_and_expired(kind: str, expected: str) -> None:
    output = decode_line(line("k", {"type": kind}), NO_CONTEXT).output
    assert output.error is not None
    assert output.error.kind == expected


def test_malformed_line_keeps_its_custom_id() -> None:
    text = line("k9", {"type": "succeeded", "message": message({"type": "text", "text": "x"})})
    record = decode_line(text[: len(text) // 2], NO_CONTEXT)
    assert record.custom_id == "k9"
    assert record.output.error is not None
    assert record.output.error.kind == "invalid_response"


@pytest.mark.parametrize(
    "text",
    ['{"result": {"type": "canceled"}}', "[]", "not json at all"],
)
def test_unreadable_lines_have_no_custom_id(text: str) -> None:
    record = decode_line(text, NO_CONTEXT)
    assert record.custom_id is None
    assert record.output.error is not None
    assert record.output.error.kind == "invalid_response"


def test_unknown_result_type() -> None:
    output = decode_line(line("k", {"type": "mystery"}), NO_CONTEXT).output
    assert output.error is not None
    assert output.error.kind == "invalid_response"
