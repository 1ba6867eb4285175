"""Models: messages, attachments, outputs, usage, status."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from lmbatch import (
    Attachment,
    BatchStatus,
    LMError,
    LMOutput,
    Message,
    MessageRole,
    RefusalOutput,
    StructuredOutput,
    TextOutput,
    ThinkingOutput,
    TokenUsage,
    ToolCall,
    ToolResult,
)


def test_message_constructors_set_roles_and_contents() -> None:
    image = Attachment.from_bytes(b"\x89PNG", "image/png", "a.png")
    message = Message.user("look", image)
    assert message.role is MessageRole.USER
    assert message.contents == ["look", image]
    assert Message.system("s").role is MessageRole.SYSTEM
    assert Message.assistant(ToolCall(id="1", name="f", args={"x": 1})).role == "assistant"


def test_attachment_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Attachment(mime_type="image/png")
    with pytest.raises(ValueError, match="exactly one"):
        Attachment(mime_type="image/png", data=b"x", url="https://example.com/a.png")


def test_attachment_from_path_guesses_mime_type(tmp_path: Path) -> None:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    attachment = Attachment.from_path(pdf)
    assert attachment.mime_type == "application/pdf"
    assert attachment.is_pdf
    assert attachment.filename == "doc.pdf"
    assert attachment.data_url().startswith("data:application/pdf;base64,")


def test_attachment_from_url_and_unknown_type() -> None:
    assert Attachment.from_url("https://example.com/cat.jpg?x=1").mime_type == "image/jpeg"
    with pytest.raises(ValueError, match="mime type"):
        Attachment.from_url("https://example.com/blob")


def test_message_with_binary_attachment_round_trips_through_json() -> None:
    message = Message.user("see", Attachment.from_bytes(bytes(range(256)), "image/png"))
    assert Message.model_validate_json(message.model_dump_json()) == message


def _rich_output() -> LMOutput:
    return LMOutput(
        outputs=[
            ThinkingOutput(text="hmm", signature="sig"),
            TextOutput(text="Hello "),
            TextOutput(text="world"),
            StructuredOutput(data={"a": [1, 2, {"b": None}]}),
            ToolCall(id="call_1", name="lookup", args={"q": "x", "n": 3}),
        ],
        token_usage=TokenUsage(input_tokens=5, output_tokens=7, cached_input_tokens=1),
        finish_details={"stop_reason": "end_turn"},
        raw={"custom_id": "k"},
    )


def test_output_properties() -> None:
    output = _rich_output()
    assert output.ok
    assert output.texts == ["Hello ", "world"]
    assert output.text == "Hello world"
    assert output.structured_output == {"a": [1, 2, {"b": None}]}
    assert output.tool_calls == [ToolCall(id="call_1", name="lookup", args={"q": "x", "n": 3})]
    assert output.thinking[0].signature == "sig"
    assert output.refusal is None
    assert LMOutput(outputs=[RefusalOutput(text="no")]).refusal == "no"


def test_output_round_trips_through_json() -> None:
    output = _rich_output()
    assert LMOutput.model_validate_json(output.model_dump_json()) == output
    failed = LMOutput.failure("expired", "too late", code="batch_expired", provider="fake")
    assert LMOutput.model_validate_json(failed.model_dump_json()) == failed
    assert not failed.ok
    assert failed.text is None


def test_output_parse_into_model() -> None:
    class Pair(BaseModel):
        a: int
        b: str

    output = LMOutput(outputs=[StructuredOutput(data={"a": 1, "b": "x"})])
    assert output.parse(Pair) == Pair(a=1, b="x")


def test_error_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="kind"):
        LMError(kind="exploded")  # type: ignore[arg-type]


def test_token_usage_adds_and_sums() -> None:
    a = TokenUsage(input_tokens=1, output_tokens=2, cached_input_tokens=3, reasoning_tokens=4)
    b = TokenUsage(input_tokens=10, output_tokens=20, cached_input_tokens=30, reasoning_tokens=40)
    assert a + b == TokenUsage(
        input_tokens=11, output_tokens=22, cached_input_tokens=33, reasoning_tokens=44
    )
    assert sum([a, b]) == a + b
    assert (a + b).total_tokens == 33


def test_tool_result_is_a_content_part() -> None:
    message = Message.user(ToolResult(id="call_1", output="42"))
    assert Message.model_validate_json(message.model_dump_json()) == message


def test_batch_status_terminal_states() -> None:
    terminal = {s for s in BatchStatus if s.is_terminal}
    assert terminal == {
        BatchStatus.FINISHED,
        BatchStatus.FAILED,
        BatchStatus.CANCELLED,
        BatchStatus.EXPIRED,
    }
