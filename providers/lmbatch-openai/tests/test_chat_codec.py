"""The public chat-completions codec, for vendors whose chat bodies copy OpenAI's."""

from __future__ import annotations

from typing import Any

import lmbatch_openai
import pytest
from lmbatch_openai import (
    UnreadableAnswerError,
    batch_info,
    decode_chat_completion,
    emulated_chat_completion,
    encode_chat_body,
    validate_chat_hyperparameters,
    validate_chat_request,
)

from lmbatch.provider import (
    Attachment,
    BatchStatus,
    Hyperparameters,
    Message,
    ValidationError,
)
from lmbatch.testing.emulator import RequestRejected

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PDF = b"%PDF-1.4\n%fake\n"


def _params(**values: Any) -> Hyperparameters:
    return Hyperparameters.from_mapping(values)


def test_every_public_name_resolves() -> None:
    for name in lmbatch_openai.__all__:
        assert getattr(lmbatch_openai, name) is not None, name


def test_vendor_field_names_and_attachment_encoding() -> None:
    picture = Attachment.from_bytes(PNG, "image/png")
    document = Attachment.from_url("https://example.com/a.pdf", "application/pdf")
    messages = [Message.user(picture, document, "describe")]
    params = _params(max_tokens=5, seed=7)
    openai_body = encode_chat_body("m", messages, params)
    assert (openai_body["max_completion_tokens"], openai_body["seed"]) == (5, 7)

    def attachment(part: Attachment) -> dict[str, Any]:
        return {"type": "document_url", "document_url": part.url}

    vendor = encode_chat_body(
        "m",
        messages,
        params,
        max_tokens_field="max_tokens",
        seed_field="random_seed",
        attachment=attachment,
    )
    assert (vendor["max_tokens"], vendor["random_seed"]) == (5, 7)
    assert "max_completion_tokens" not in vendor
    assert "seed" not in vendor
    assert [part["type"] for part in vendor["messages"][0]["content"]] == [
        "document_url",
        "document_url",
        "text",
    ]


def test_attachments_are_refused_as_the_vendor_takes_them() -> None:
    inline_png = [Message.user(Attachment.from_bytes(PNG, "image/png"), "x")]
    inline_pdf = [Message.user(Attachment.from_bytes(PDF, "application/pdf"), "x")]
    url_pdf = [Message.user(Attachment.from_url("https://e.com/a.pdf", "application/pdf"), "x")]
    validate_chat_request("k", inline_png)  # OpenAI's chat: images any way
    validate_chat_request("k", inline_pdf)  # ... and PDFs inline
    with pytest.raises(ValidationError, match="PDFs as inline data only"):
        validate_chat_request("k", url_pdf)
    with pytest.raises(ValidationError, match="images by URL only"):
        validate_chat_request("k", inline_png, images="url")
    with pytest.raises(ValidationError, match="PDFs by URL only"):
        validate_chat_request("k", inline_pdf, pdfs="url")
    validate_chat_request("k", url_pdf, pdfs="url")


def test_hyperparameters_that_replace_lmbatch_keys_are_refused() -> None:
    with pytest.raises(ValidationError, match="set by lmbatch"):
        validate_chat_hyperparameters(_params(messages=[]))
    validate_chat_hyperparameters(_params(temperature=0.5))


def _completion(message: dict[str, Any], finish: str = "stop") -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": finish}
    usage: dict[str, Any] = {"prompt_tokens": 3, "completion_tokens": 2}
    usage["prompt_tokens_details"] = {"cached_tokens": 1}
    return {"id": "c1", "model": "m", "choices": [choice], "usage": usage}


def test_decoding_reads_what_vendors_add_to_openais_answer() -> None:
    reasoned = decode_chat_completion(_completion({"content": "hi", "reasoning": "hmm"}))
    assert [item.type for item in reasoned.outputs] == ["thinking", "text"]
    assert reasoned.token_usage is not None
    assert reasoned.token_usage.cached_input_tokens == 1
    chunks = [
        {"type": "thinking", "thinking": [{"type": "text", "text": "first"}]},
        {"type": "text", "text": '{"a": '},
        {"type": "text", "text": "1}"},
    ]
    chunked = decode_chat_completion(
        _completion({"content": chunks}, "model_length"),
        structured=True,
        finish_reasons={"model_length": "length"},
    )
    assert [item.type for item in chunked.outputs] == ["thinking", "structured"]
    assert chunked.finish_reason == "length"
    assert chunked.finish_details["stop_reason"] == "model_length"
    odd = decode_chat_completion(_completion({"content": "x"}, "model_length"))
    assert odd.finish_reason == "other"  # not one of the words given


def test_unreadable_answers_raise() -> None:
    with pytest.raises(UnreadableAnswerError, match="no choices"):
        decode_chat_completion({"choices": []})
    with pytest.raises(UnreadableAnswerError):
        decode_chat_completion(_completion({"content": "not json"}), structured=True)


def test_the_emulated_answer_echoes_and_refuses_what_the_vendor_would() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
    answer = emulated_chat_completion(body)
    assert decode_chat_completion(answer).text == "echo: hello"
    with pytest.raises(RequestRejected):
        emulated_chat_completion({"messages": body["messages"]})


def test_batch_info_reads_an_openai_shaped_batch_object() -> None:
    raw = {"id": "b", "status": "expired", "request_counts": {"total": 3, "completed": 1}}
    info = batch_info(raw, "vendor")
    assert (info["provider"], info["status"]) == ("vendor", BatchStatus.EXPIRED)
    assert info["request_counts"]["expired"] == 2
