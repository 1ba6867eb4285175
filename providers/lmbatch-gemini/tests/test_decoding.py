"""Gemini results (inline entries, file lines) become lmbatch outcomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmbatch_gemini._decoding import decode_entry, decode_line, decode_response, salvage_key
from lmbatch_gemini._errors import rpc_status

from lmbatch.provider import (
    LMOutput,
    RefusalOutput,
    StructuredOutput,
    TextOutput,
    ThinkingOutput,
    TokenUsage,
    ToolCall,
)

DATA = Path(__file__).resolve().parent / "data"
STRUCTURED = {"response_schema": {"type": "object"}}


def checked(output: LMOutput) -> LMOutput:
    """The output, validated (decoders build outputs without validation)."""
    assert LMOutput.model_validate(output.model_dump()) == output
    return output


def inline_entries() -> list[Any]:
    operation = json.loads((DATA / "inline_succeeded.json").read_text())
    entries: list[Any] = operation["response"]["inlinedResponses"]["inlinedResponses"]
    return entries


def file_records() -> dict[str, LMOutput]:
    lines = (DATA / "file_responses.jsonl").read_bytes().splitlines()
    records = [decode_line(line, i, {}) for i, line in enumerate(lines)]
    return {record.custom_id: checked(record.output) for record in records if record.custom_id}


def test_inline_results_with_one_error_entry() -> None:
    records = [decode_entry(entry, i, {}) for i, entry in enumerate(inline_entries())]
    assert [r.custom_id for r in records] == ["capital", "story", "slow"]
    capital, story, slow = (checked(r.output) for r in records)
    assert capital.ok
    assert capital.text == "Paris."
    assert capital.finish_reason == "stop"
    assert capital.token_usage == TokenUsage(input_tokens=9, output_tokens=2)
    assert capital.finish_details["stop_reason"] == "STOP"
    assert capital.finish_details["model"] == "gemini-2.5-flash"
    assert story.ok
    assert story.finish_reason == "length"
    # google.rpc.Status code 4: DEADLINE_EXCEEDED, a 504 (transient: resubmitted).
    assert slow.error is not None
    assert slow.error.kind == "errored"
    assert slow.error.code == "DEADLINE_EXCEEDED"
    assert slow.error.status_code == 504
    assert slow.error.message == "Deadline expired before operation could complete."
    assert slow.error.provider == "gemini"


def test_a_file_batch_with_thinking_tokens() -> None:
    q1 = file_records()["q1"]
    assert [type(item) for item in q1.outputs] == [ThinkingOutput, ThinkingOutput, TextOutput]
    thought, signed, _text = q1.outputs
    assert isinstance(thought, ThinkingOutput)
    assert thought.text.startswith("**Weighing")
    # The answer part's signature is kept, so the conversation can go on.
    assert isinstance(signed, ThinkingOutput)
    assert signed.signature == "CiQB0e2Kb3Zb1yX0sig=="
    assert q1.text == "7 is prime."
    assert q1.token_usage == TokenUsage(
        input_tokens=12, output_tokens=4 + 1024, cached_input_tokens=8, reasoning_tokens=1024
    )


def test_a_function_call_gets_an_id_and_the_tool_calls_reason() -> None:
    q2 = file_records()["q2"]
    assert q2.tool_calls == [ToolCall(id="call_0", name="get_weather", args={"city": "Paris"})]
    assert q2.finish_reason == "tool_calls"
    assert q2.thinking[0].signature == "CiQB0e2Kb3Zb1yX0sig2=="


def test_a_blocked_prompt_is_a_refusal() -> None:
    q3 = file_records()["q3"]
    assert q3.ok
    assert q3.refusal == "the prompt was blocked (PROHIBITED_CONTENT)"
    assert q3.finish_reason == "content_filter"
    assert q3.finish_details["block_reason"] == "PROHIBITED_CONTENT"
    assert q3.token_usage is not None
    assert q3.token_usage.input_tokens == 5


def test_a_blocked_answer_is_a_refusal() -> None:
    q4 = file_records()["q4"]
    assert q4.finish_reason == "content_filter"
    assert q4.refusal == "the answer was blocked (SAFETY)"
    assert q4.finish_details["stop_reason"] == "SAFETY"


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("LANGUAGE", "other"),
        ("OTHER", "other"),
    ],
)
def test_finish_reasons(word: str, reason: str) -> None:
    response = {
        "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": word}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1},
    }
    output = checked(decode_response(response, {}))
    assert output.finish_reason == reason
    assert output.finish_details["stop_reason"] == word


def test_text_in_several_parts_is_parsed_whole_for_structured_output() -> None:
    response = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "thinking", "thought": True},
                        {"text": '{"title": "Batch'},
                        {"text": ' APIs", "score": 7}'},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    output = checked(decode_response(response, STRUCTURED))
    assert output.structured_output == {"title": "Batch APIs", "score": 7}
    assert isinstance(output.outputs[0], ThinkingOutput)
    assert isinstance(output.outputs[1], StructuredOutput)
    assert output.token_usage is None  # no usage reported


def test_structured_output_that_is_not_json_is_an_invalid_response() -> None:
    response = {
        "candidates": [{"content": {"parts": [{"text": "not json"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2},
    }
    output = checked(decode_response(response, STRUCTURED))
    assert output.error is not None
    assert output.error.kind == "invalid_response"
    assert output.token_usage == TokenUsage(input_tokens=3, output_tokens=2)  # still billed


def test_function_call_ids_given_by_gemini_are_kept() -> None:
    response = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"functionCall": {"id": "fc-1", "name": "a", "args": {}}},
                        {"functionCall": {"name": "b"}},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    calls = checked(decode_response(response, {})).tool_calls
    assert [(c.id, c.name) for c in calls] == [("fc-1", "a"), ("call_1", "b")]


@pytest.mark.parametrize(
    ("status", "kind", "code", "http"),
    [
        ({"code": 4, "message": "m"}, "errored", "DEADLINE_EXCEEDED", 504),
        ({"code": 8, "message": "m"}, "errored", "RESOURCE_EXHAUSTED", 429),
        ({"code": 13, "message": "m"}, "errored", "INTERNAL", 500),
        ({"code": 14, "message": "m"}, "errored", "UNAVAILABLE", 503),
        ({"code": 3, "message": "m"}, "errored", "INVALID_ARGUMENT", 400),
        ({"code": 1, "message": "m"}, "cancelled", "CANCELLED", None),
        # An error body with the HTTP code and the status word (error envelopes' shape).
        (
            {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"},
            "errored",
            "RESOURCE_EXHAUSTED",
            429,
        ),
        ({"status": "UNAVAILABLE", "message": "m"}, "errored", "UNAVAILABLE", 503),
    ],
)
def test_per_request_errors(status: dict[str, Any], kind: str, code: str, http: int | None) -> None:
    record = decode_line(json.dumps({"key": "k", "error": status}).encode(), 0, {})
    error = checked(record.output).error
    assert error is not None
    assert (error.kind, error.code) == (kind, code)
    if kind == "errored":
        assert error.status_code == http


def test_rpc_status_reads_codes_sent_as_strings() -> None:
    assert rpc_status({"code": "8", "message": "quota"}) == ("RESOURCE_EXHAUSTED", 429, "quota")
    assert rpc_status("nonsense") == (None, None, "")


def test_a_malformed_line_keeps_the_key_it_still_shows() -> None:
    record = decode_line(b'{"key": "k\\"7", "response": {"candi', 0, {})
    assert record.custom_id == 'k"7'
    assert record.output.error is not None
    assert record.output.error.kind == "invalid_response"
    assert salvage_key(b"no key here") is None
    assert decode_line(b"[1, 2]", 0, {}).custom_id is None


def test_results_without_a_key_get_their_position() -> None:
    # A batch made elsewhere without keys: one outcome per result all the same.
    line = decode_line(b'{"response": {"candidates": []}}', 5, {})
    assert line.custom_id == "5"
    entry = decode_entry({"error": {"code": 13, "message": "x"}}, 2, {})
    assert entry.custom_id == "2"
    assert decode_entry("junk", 3, {}).custom_id == "3"


def test_a_result_with_neither_response_nor_error_is_invalid() -> None:
    record = decode_entry({"metadata": {"key": "k"}}, 0, {})
    assert record.custom_id == "k"
    assert record.output.error is not None
    assert record.output.error.kind == "invalid_response"


def test_parts_other_than_text_and_calls_are_left_in_raw() -> None:
    response = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": "AA=="}},
                        {"text": "hi"},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    output = checked(decode_response(response, {}))
    assert output.outputs == [TextOutput(text="hi")]
    assert output.raw == response


def test_an_empty_candidate_list_without_block_reason() -> None:
    output = checked(decode_response({"candidates": []}, {}))
    assert output.ok
    assert output.outputs == []
    assert output.finish_reason is None
    assert not any(isinstance(i, RefusalOutput) for i in output.outputs)
