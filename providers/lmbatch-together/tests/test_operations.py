"""The Together provider end to end through the emulator: its wire quirks, every outcome."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lmbatch_together import TogetherBatchOperations

from lmbatch.provider import (
    BatchNotFoundError,
    BatchStatus,
    ProviderError,
    ProviderRequestError,
    SubmissionUncertainError,
)

LONG_KEY = "k" * 100  # beyond Together's 64-character custom_id


async def test_invoke_round_trip_with_every_outcome(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    requests = {
        "hello": "Say hello",
        LONG_KEY: "A key longer than a custom_id may be",
        "limited": "[[lmbatch:error=429]] please",
        "broken": "[[lmbatch:error=400]] please",
    }
    results = await ops.invoke(requests, {"max_tokens": 50}, status_check_interval=0)
    assert set(results) == set(requests)
    assert results["hello"].text == "echo: Say hello"
    assert results["hello"].token_usage is not None
    assert results["hello"].token_usage.input_tokens > 0
    assert results[LONG_KEY].text == "echo: A key longer than a custom_id may be"
    assert results["broken"].error is not None
    assert results["broken"].error.status_code == 400
    assert results["broken"].error.provider == "together"
    # Rate-limited lines are resubmitted (transient), and fail again the same way.
    assert results["limited"].error is not None
    assert results["limited"].error.status_code == 429
    assert (emulator.submissions["hello"], emulator.submissions["limited"]) == (1, 3)


async def test_the_wire_carries_together_s_shapes(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"q": "Hi"}, {"max_tokens": 7})
    job = emulator.state.together_batches[batch_id]
    line = json.loads(job.input_path.read_text().splitlines()[0])
    assert set(line) == {"custom_id", "body"}
    assert line["body"]["max_tokens"] == 7
    assert job.model_id == ops.model  # the create call's model_id
    paths = [call.path for call in emulator.calls]
    # The SDK's three-step upload, then the create.
    assert [p for p in paths if "/files" in p or "/upload/" in p][:3] == [
        "/together/v1/files",
        f"/together/upload/{job.input_file_id}",
        f"/together/v1/files/{job.input_file_id}/preprocess",
    ]


async def test_status_reads_the_wrapped_job_and_upper_case_words(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"q": "Hi"})
    first = await ops.status(batch_id)
    assert first is BatchStatus.IN_PROGRESS
    info = await ops.fetch_batch(batch_id)
    assert info["provider_status"] in ("IN_PROGRESS", "VALIDATING")
    emulator.finish(batch_id)
    done = await ops.fetch_batch(batch_id)
    assert (done["status"], done["provider_status"]) == (BatchStatus.FINISHED, "COMPLETED")
    assert done["raw"]["progress"] == 100.0


async def test_list_reads_the_one_unpaginated_array_newest_first(
    ops: TogetherBatchOperations,
) -> None:
    first = await ops.create({"a": "one"})
    second = await ops.create({"b": "two"})
    page = await ops.list_batches_page(None)
    assert page.next_cursor is None
    ids = [info["id"] for info in page.batches]
    assert ids.index(second) < ids.index(first)


async def test_cancel_keeps_what_finished(ops: TogetherBatchOperations, emulator: Any) -> None:
    requests = {f"k{i}": f"question {i}" for i in range(4)}
    batch_id = await ops.create(requests)
    await ops.status(batch_id)  # VALIDATING → IN_PROGRESS
    await ops.cancel(batch_id)
    assert await ops.status(batch_id) is BatchStatus.CANCELLED
    results = await ops.retrieve(batch_id)
    kinds = sorted("ok" if r.error is None else r.error.kind for r in results.values())
    assert kinds == ["cancelled", "cancelled", "ok", "ok"]


async def test_an_invalid_file_fails_the_job_with_its_error(
    ops: TogetherBatchOperations, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The emulator is the module's: its option goes back after the test.
    monkeypatch.setattr(emulator.state.vendors["together"].options, "max_requests", 1)
    results = await ops.invoke({"a": "one", "b": "two"}, status_check_interval=0, resubmit=0)
    errors = {key: output.error for key, output in results.items()}
    assert all(error is not None and error.kind == "errored" for error in errors.values())
    assert "more than 1 requests" in str(errors["a"].message if errors["a"] else "")


async def test_a_create_that_may_have_happened_is_reconciled_not_sent_twice(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    """A 500 after the job was made: the next run finds it (by its results), never resends."""
    emulator.faults.fail("create", 500, provider="together", nth=1, after_effect=True)
    with pytest.raises(SubmissionUncertainError) as raised:
        await ops.create({"q": "Hi"})
    assert raised.value.provider == "together"
    assert emulator.create_calls == 1
    results = await ops.invoke({"q": "Hi"}, status_check_interval=0, reuse=True)
    assert results["q"].text == "echo: Hi"
    assert emulator.create_calls == 1  # the job made by the failed call was adopted
    assert emulator.submissions["q"] == 1


async def test_a_refused_create_is_definite_and_its_file_is_deleted(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    emulator.faults.fail("create", 400, provider="together", nth=1)
    with pytest.raises(ProviderRequestError) as raised:
        await ops.create({"q": "Hi"})
    assert raised.value.status_code == 400
    vendor = emulator.state.vendors["together"]
    assert vendor.files == {}  # the uploaded input file was deleted again
    assert await ops.create({"q": "Hi"})  # nothing is left uncertain


async def test_an_unknown_job_is_batch_not_found(ops: TogetherBatchOperations) -> None:
    with pytest.raises(BatchNotFoundError):
        await ops.fetch_batch("no-such-job")


async def test_a_download_cut_mid_stream_is_read_again_not_resubmitted(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    """The together SDK's transport errors (httpx's) mean "read it again", as openai's do."""
    ops.result_download_delays = (0.0,)
    tamper = emulator.faults.tamper("content", "disconnect", provider="together", times=1)
    requests = {f"k{i}": f"question {i}" for i in range(4)}
    results = await ops.invoke(requests, status_check_interval=0)
    assert tamper.fired == 1
    assert all(output.ok for output in results.values())
    assert max(emulator.submissions.values()) == 1


async def test_vendor_errors_keep_their_code_and_request_id(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    emulator.faults.fail("retrieve", 429, provider="together", nth=1)
    batch_id = await ops.create({"q": "Hi"})
    with pytest.raises(ProviderError) as raised:
        await ops.fetch_batch(batch_id)
    assert raised.value.status_code == 429
    assert raised.value.provider == "together"
    assert raised.value.code
    assert raised.value.request_id
