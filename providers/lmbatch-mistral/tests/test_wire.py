"""Mistral's wire facts, each handled (tests fail without the handling)."""

from __future__ import annotations

from typing import Any

import pytest
from lmbatch_mistral import MistralBatchOperations
from lmbatch_mistral._status import STATUS_TABLE, batch_info

import lmbatch
from lmbatch.provider import (
    BatchNotFoundError,
    BatchStatus,
    MissingCredentialsError,
    ProviderRequestError,
    SubmissionUncertainError,
)
from lmbatch.testing.emulator import EndpointFault


def _ops(emulator: Any, **options: Any) -> MistralBatchOperations:
    settings: dict[str, Any] = {"model": "mistral-small-latest", "api_key": "test"}
    settings.update(base_url=emulator.mistral_base_url, store=":memory:")
    return MistralBatchOperations(**{**settings, **options})


async def test_input_goes_as_an_uploaded_file_or_inline(emulator: Any) -> None:
    for mode in ("file", "inline"):
        ops = _ops(emulator, input=mode, metadata={"team": "a"}, timeout_hours=6)
        batch_id = await ops.create({"q": "hello"}, {"seed": 7})
        job = emulator.state.mistral_jobs_by_id[batch_id]
        assert bool(job.input_files) is (mode == "file")
        assert job.endpoint == "/v1/chat/completions"
        assert job.model == "mistral-small-latest"
        assert job.timeout_hours == 6
        assert job.metadata["team"] == "a"
        assert any(key.startswith("lmbatch_") for key in job.metadata)  # the job's stamps
        assert job.requests[0]["body"]["random_seed"] == 7
        assert "seed" not in job.requests[0]["body"]
        await ops.aclose()


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("QUEUED", BatchStatus.IN_PROGRESS),
        ("RUNNING", BatchStatus.IN_PROGRESS),
        ("SUCCESS", BatchStatus.FINISHED),
        ("FAILED", BatchStatus.FAILED),
        ("TIMEOUT_EXCEEDED", BatchStatus.EXPIRED),
        ("CANCELLATION_REQUESTED", BatchStatus.CANCELING),
        ("CANCELLED", BatchStatus.CANCELLED),
    ],
)
def test_the_seven_statuses(word: str, status: BatchStatus) -> None:
    raw = {"id": "j", "status": word, "total_requests": 4, "succeeded_requests": 1}
    raw["failed_requests"] = 1
    info = batch_info(raw, "mistral")
    assert info["status"] is status
    assert info["provider_status"] == word
    rest = {"TIMEOUT_EXCEEDED": "expired", "CANCELLED": "cancelled"}.get(word, "processing")
    if status.is_terminal and rest == "processing":
        rest = ""
    if rest:
        assert info["request_counts"][rest] == 2  # type: ignore[literal-required]
    assert len(STATUS_TABLE) == 7


def test_a_failed_job_reports_its_errors() -> None:
    raw = {"id": "j", "status": "FAILED", "errors": [{"message": "bad file"}]}
    info = batch_info(raw, "mistral")
    assert info["errors"][0]["message"] == "bad file"


async def test_output_and_error_files_are_both_read(ops: MistralBatchOperations) -> None:
    results = await ops.invoke(
        {"ok": "fine", "bad": "x [[lmbatch:error=429]]", "broken": "y [[lmbatch:malformed]]"},
        status_check_interval=0,
        resubmit=False,
    )
    assert results["ok"].text == "echo: fine"
    assert results["bad"].error is not None
    assert results["bad"].error.status_code == 429
    assert results["broken"].error is not None
    assert results["broken"].error.kind == "invalid_response"


async def test_timeout_exceeded_is_expired_and_keeps_what_finished(
    ops: MistralBatchOperations,
) -> None:
    batch_id = await ops.create({"ok": "fine", "late": "slow [[lmbatch:expire]]"})
    while not (await ops.status(batch_id)).is_terminal:
        pass
    assert (await ops.status(batch_id)) is BatchStatus.EXPIRED
    results = await ops.retrieve(batch_id)
    assert results["ok"].ok
    assert results["late"].error is not None
    assert results["late"].error.kind == "expired"


async def test_cancel_asks_for_cancellation(emulator: Any, ops: MistralBatchOperations) -> None:
    batch_id = await ops.create({"a": "one", "b": "two"})
    await ops.cancel(batch_id)
    assert emulator.state.mistral_jobs_by_id[batch_id].status == "CANCELLATION_REQUESTED"
    assert (await ops.info(batch_id))["status"] in (BatchStatus.CANCELING, BatchStatus.CANCELLED)


async def test_list_pages_with_page_and_page_size(emulator: Any) -> None:
    ops = _ops(emulator, list_page_size=1)
    created = [await ops.create({"a": f"list {i}"}) for i in range(3)]
    assert [info["id"] for info in await ops.list()] == list(reversed(created))
    await ops.aclose()


async def test_the_input_file_is_deleted_once_results_are_read(emulator: Any) -> None:
    ops = _ops(emulator)
    await ops.invoke({"a": "one"}, status_check_interval=0)
    (job,) = emulator.state.mistral_jobs_by_id.values()
    assert job.input_files
    assert job.input_files[0] not in emulator.state.mistral_files
    await ops.aclose()


async def test_a_missing_key_names_the_variable(emulator: Any) -> None:
    ops = MistralBatchOperations(model="m", base_url=emulator.mistral_base_url, store=":memory:")
    with pytest.raises(MissingCredentialsError) as caught:
        await ops.create({"a": "one"})
    assert caught.value.env_var == "MISTRAL_API_KEY"


async def test_the_provider_is_found_by_name(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", "from-env")
    ops = lmbatch.get_batch_operations(
        "mistral", model="m", base_url=emulator.mistral_base_url, store=":memory:"
    )
    results = await ops.invoke({"q": "hi"}, status_check_interval=0)
    assert results["q"].text == "echo: hi"
    await ops.aclose()


async def test_a_failed_create_is_uncertain_and_never_retried(emulator: Any) -> None:
    emulator.faults.add(EndpointFault("create", status=503, after_effect=True))
    ops = _ops(emulator)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one"})
    assert emulator.create_calls == 1
    await ops.aclose()


async def test_a_refused_create_is_definite(emulator: Any) -> None:
    emulator.faults.add(EndpointFault("create", status=422))
    ops = _ops(emulator)
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, SubmissionUncertainError)
    assert caught.value.status_code == 422
    await ops.aclose()


async def test_an_unknown_job_is_not_found(ops: MistralBatchOperations) -> None:
    with pytest.raises(BatchNotFoundError):
        await ops.status("0f0f0f0f-0000-0000-0000-000000000000")


def test_result_lines_decode_chunked_content_and_thinking() -> None:
    body = {
        "choices": [
            {
                "message": {
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "answer"},
                    ]
                },
                "finish_reason": "model_length",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }
    line = '{"custom_id": "c", "response": {"status_code": 200, "body": %s}}'
    import json

    ops = MistralBatchOperations(model="m", api_key="k", store=":memory:")
    record = ops.decode_result_line(line % json.dumps(body), {})
    assert record.custom_id == "c"
    assert record.output.text == "answer"
    assert record.output.finish_reason == "length"
    assert [item.type for item in record.output.outputs] == ["thinking", "text"]
    assert ops.decode_result_line('{"custom_id": "d", "error": "boom"}', {}).output.error


def _line(ops: MistralBatchOperations, record: dict[str, Any]) -> Any:
    import json

    return ops.decode_result_line(json.dumps({"custom_id": "a", **record}), {}).output


@pytest.mark.parametrize(
    ("record", "transient"),
    [
        ({"error": {"code": "internal_error", "message": "m"}}, True),
        ({"error": "boom"}, False),
        ({"response": {"status_code": 503, "body": {"message": "busy"}}}, True),
        ({"response": {"status_code": 422, "body": {"type": "invalid_request_error"}}}, False),
    ],
)
def test_failed_requests_say_whether_they_are_worth_resubmitting(
    record: dict[str, Any], transient: bool
) -> None:
    ops = MistralBatchOperations(model="m", api_key="k", store=":memory:")
    output = _line(ops, record)
    assert output.error is not None
    assert output.error.transient is transient


def test_usage_counts_cached_prompt_tokens() -> None:
    ops = MistralBatchOperations(model="m", api_key="k", store=":memory:")
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    body = {"choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}], "usage": usage}
    output = _line(ops, {"response": {"status_code": 200, "body": body}})
    assert output.token_usage is not None
    assert output.token_usage.cached_input_tokens == 4


def test_images_go_as_image_url_and_pdfs_as_document_url_by_url_only() -> None:
    from lmbatch.provider import Attachment, Hyperparameters, ValidationError

    ops = MistralBatchOperations(model="m", api_key="k", store=":memory:")
    picture = Attachment.from_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, "image/png")
    document = Attachment.from_url("https://example.com/a.pdf", "application/pdf")
    messages = [lmbatch.Message.user(picture, document, "what?")]
    ops.validate_request("k1", messages, Hyperparameters())
    parts = ops.encode_request("k1", messages, Hyperparameters())["body"]["messages"][0]["content"]
    assert parts[0]["type"] == "image_url"
    assert parts[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert parts[1] == {"type": "document_url", "document_url": "https://example.com/a.pdf"}
    inline = Attachment.from_bytes(b"%PDF-1.4\n", "application/pdf")
    with pytest.raises(ValidationError, match="PDFs by URL only"):
        ops.validate_request("k1", [lmbatch.Message.user(inline, "x")], Hyperparameters())


async def test_a_create_at_a_wrong_base_url_names_it_and_is_definite(emulator: Any) -> None:
    ops = _ops(emulator, base_url=emulator.base_url + "/nothing", input="inline")
    with pytest.raises(ProviderRequestError, match="MISTRAL_BASE_URL") as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, SubmissionUncertainError)
    await ops.aclose()
