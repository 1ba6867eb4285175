"""Decoding result lines: every outcome kind, both endpoints, usage details."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations

from lmbatch import RefusalOutput, StructuredOutput, TextOutput, ThinkingOutput, ToolCall
from lmbatch.provider import ResultRecord

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
_OPS = OpenAIBatchOperations(model="gpt-4.1-mini", api_key="test", store=":memory:")


def decode_line(line: str, endpoint: str, structured: bool) -> ResultRecord:
    """One result line through core's JSONL shell and the provider's decoder."""
    context = {"endpoint": endpoint, "response_schema": {"type": "object"} if structured else None}
    return _OPS.decode_result_line(line, context)


def _line(custom_id: str, body: dict[str, Any] | None = None, **fields: Any) -> str:
    record: dict[str, Any] = {"id": "batch_req_1", "custom_id": custom_id, "error": None}
    if body is not None:
        record["response"] = {"status_code": 200, "request_id": "req_abc", "body": body}
    record.update(fields)
    return json.dumps(record)


RESPONSE_BODY = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "gpt-4.1-mini-2025-04-14",
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hm."}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
        },
        {
            "type": "function_call",
            "call_id": "call_9",
            "name": "lookup",
            "arguments": '{"query": "x"}',
        },
    ],
    "usage": {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 20,
        "output_tokens_details": {"reasoning_tokens": 7},
        "total_tokens": 30,
    },
}
CHAT_BODY = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4.1-mini",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "Calling.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"query":"y"}'},
                    }
                ],
            },
        }
    ],
    "usage": {
        "prompt_tokens": 11,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


def test_responses_success_with_reasoning_tool_call_and_usage() -> None:
    custom_id, output = decode_line(_line("a", RESPONSE_BODY), RESPONSES, structured=False)
    assert custom_id == "a"
    assert output.ok
    assert output.outputs == [
        ThinkingOutput(text="Hm."),
        TextOutput(text="Hello!"),
        ToolCall(id="call_9", name="lookup", args={"query": "x"}),
    ]
    usage = output.token_usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (10, 20)
    assert (usage.cached_input_tokens, usage.reasoning_tokens) == (4, 7)
    assert output.finish_details["stop_reason"] == "tool_calls"
    assert output.finish_details["request_id"] == "req_abc"
    assert output.finish_details["model"] == "gpt-4.1-mini-2025-04-14"


def test_chat_success_decodes_by_endpoint() -> None:
    _, output = decode_line(_line("c", CHAT_BODY), CHAT, structured=False)
    assert output.text == "Calling."
    assert output.tool_calls == [ToolCall(id="call_1", name="lookup", args={"query": "y"})]
    assert output.token_usage is not None
    assert output.token_usage.cached_input_tokens == 3
    assert output.token_usage.reasoning_tokens == 2
    assert output.finish_details["stop_reason"] == "tool_calls"


def test_refusals_on_both_endpoints() -> None:
    body = {
        "output": [
            {
                "type": "message",
                "content": [{"type": "refusal", "refusal": "No."}],
            }
        ]
    }
    _, output = decode_line(_line("r", body), RESPONSES, structured=True)
    assert output.ok
    assert output.outputs == [RefusalOutput(text="No.")]
    chat = {"choices": [{"message": {"content": None, "refusal": "Nope."}}]}
    _, output = decode_line(_line("r", chat), CHAT, structured=True)
    assert output.refusal == "Nope."


def test_structured_output_is_parsed_and_bad_json_is_invalid_response() -> None:
    good = {
        "output": [{"type": "message", "content": [{"type": "output_text", "text": '{"a": 1}'}]}]
    }
    _, output = decode_line(_line("s", good), RESPONSES, structured=True)
    assert output.outputs == [StructuredOutput(data={"a": 1})]
    bad = {"choices": [{"message": {"content": "not json"}}]}
    _, output = decode_line(_line("s", bad), CHAT, structured=True)
    assert output.error is not None
    assert output.error.kind == "invalid_response"


def test_http_error_line_keeps_vendor_code_message_and_status() -> None:
    line = json.dumps(
        {
            "custom_id": "e",
            "response": {
                "status_code": 400,
                "request_id": "req_x",
                "body": {
                    "error": {
                        "message": "Invalid 'max_output_tokens'.",
                        "type": "invalid_request_error",
                        "param": "max_output_tokens",
                        "code": "integer_below_min_value",
                    }
                },
            },
            "error": None,
        }
    )
    _, output = decode_line(line, RESPONSES, structured=False)
    assert output.error is not None
    assert output.error.kind == "errored"
    assert output.error.status_code == 400
    assert output.error.code == "integer_below_min_value"
    assert output.error.message == "Invalid 'max_output_tokens'."
    assert output.error.provider == "openai"


def test_status_code_zero_anomaly_is_errored() -> None:
    line = json.dumps(
        {"custom_id": "z", "response": {"status_code": 0, "request_id": "", "body": {}}}
    )
    _, output = decode_line(line, RESPONSES, structured=False)
    assert output.error is not None
    assert output.error.kind == "errored"
    assert output.error.status_code == 0


def test_expired_and_cancelled_lines() -> None:
    for code, kind in (("batch_expired", "expired"), ("batch_cancelled", "cancelled")):
        line = _line("x", None, response=None, error={"code": code, "message": "not run"})
        _, output = decode_line(line, RESPONSES, structured=False)
        assert output.error is not None
        assert output.error.kind == kind
        assert output.error.code == code
    other = _line("x", None, response=None, error={"code": "server_error", "message": "m"})
    _, output = decode_line(other, RESPONSES, structured=False)
    assert output.error is not None
    assert output.error.kind == "errored"
    assert output.error.transient  # the vendor's "try again later": resubmitted


@pytest.mark.parametrize(
    ("status", "error", "transient"),
    [
        (429, {"code": "rate_limit_exceeded", "type": "requests"}, True),
        (500, {"type": "server_error"}, True),
        (400, {"code": "rate_limit_exceeded"}, True),  # the code says so, whatever the status
        (400, {"code": "integer_below_min_value"}, False),
        (404, {"code": None, "type": "invalid_request_error"}, False),
    ],
)
def test_error_lines_say_whether_to_try_again(
    status: int, error: dict[str, Any], transient: bool
) -> None:
    response = {"status_code": status, "request_id": "r", "body": {"error": error}}
    _, output = decode_line(_line("e", None, response=response), RESPONSES, False)
    assert output.error is not None
    assert output.error.kind == "errored"
    assert output.error.transient is transient


def test_a_line_error_code_that_is_not_text_is_not_transient() -> None:
    line = _line("x", None, response=None, error={"code": ["odd"], "message": "m"})
    _, output = decode_line(line, RESPONSES, structured=False)
    assert output.error is not None
    assert not output.error.transient


def test_malformed_lines_salvage_the_custom_id() -> None:
    custom_id, output = decode_line('{"id":"batch_req_1","custom_id":"m1","resp', RESPONSES, False)
    assert custom_id == "m1"
    assert output.error is not None
    assert output.error.kind == "invalid_response"
    custom_id, output = decode_line("garbage", RESPONSES, False)
    assert custom_id is None
    custom_id, output = decode_line('{"custom_id": "n"}', RESPONSES, False)
    assert custom_id == "n"
    assert output.error is not None
    assert output.error.kind == "invalid_response"


def test_tool_call_with_broken_arguments_is_invalid_response() -> None:
    body = {"output": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{"}]}
    _, output = decode_line(_line("t", body), RESPONSES, structured=False)
    assert output.error is not None
    assert output.error.kind == "invalid_response"


def test_incomplete_response_reports_the_reason() -> None:
    body = {
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hel"}]}],
    }
    _, output = decode_line(_line("i", body), RESPONSES, structured=False)
    assert output.text == "Hel"
    assert output.finish_details["stop_reason"] == "max_output_tokens"
