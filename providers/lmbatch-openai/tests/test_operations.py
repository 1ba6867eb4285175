"""The provider against the live emulator: submission safety, errors, files, endpoints."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import Any

import pytest
from lmbatch_openai import OpenAIBatchOperations
from lmbatch_openai._settings import OpenAISettings
from pydantic import RootModel

import lmbatch
from lmbatch import (
    Attachment,
    AuthenticationError,
    BatchNotFoundError,
    BatchStatus,
    JobStore,
    Message,
    MissingCredentialsError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
    ValidationError,
)
from lmbatch.testing import reconcile_chunks
from lmbatch.testing.listener import Listener


def _ops(emulator: Any, **options: Any) -> OpenAIBatchOperations:
    options.setdefault("store", ":memory:")
    return OpenAIBatchOperations(
        model="gpt-4.1-mini",
        api_key="test",
        base_url=emulator.openai_base_url,
        max_retries=options.pop("max_retries", 2),
        **options,
    )


def _operations(emulator: Any) -> list[str]:
    return [call.operation or "?" for call in emulator.calls]


async def _finish(ops: OpenAIBatchOperations, batch_id: str) -> None:
    for _ in range(20):
        if (await ops.status(batch_id)).is_terminal:
            return
    raise AssertionError("batch did not finish")


# -- submission is never repeated -----------------------------------------------------


async def test_create_500_after_the_batch_was_made_is_uncertain_and_not_retried(
    emulator: Any,
) -> None:
    emulator.faults.fail("create", 500, provider="openai", after_effect=True)
    ops = _ops(emulator)
    with pytest.raises(SubmissionUncertainError) as caught:
        await ops.create({"a": "one"})
    error = caught.value
    assert emulator.create_calls == 1
    assert error.details["input_file_id"].startswith("file-")
    assert error.details["job_id"].startswith("lmbjob_")
    assert error.status_code == 500
    assert error.request_id
    # The batch exists; reconciling by metadata finds it.
    store_job = ops.store.get_job(error.details["job_id"])
    assert store_job is not None
    listed = await ops.list()
    assert len(listed) == 1
    assert listed[0]["metadata"]["lmbatch_job_id"] == error.details["job_id"]
    await ops.aclose()


async def test_create_timeout_or_connection_loss_is_uncertain(emulator: Any) -> None:
    emulator.faults.fail("create", 503, provider="openai")
    ops = _ops(emulator, max_retries=5)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one"})
    assert emulator.create_calls == 1  # max_retries does not apply to creation
    await ops.aclose()


async def test_interrupted_create_is_found_by_its_stamp_and_nothing_else(
    emulator: Any,
) -> None:
    emulator.faults.fail("create", 500, nth=2, provider="openai", after_effect=True)
    ops = _ops(emulator)
    other = await ops.create({"a": "one"})  # same size, stamped for another job
    with pytest.raises(SubmissionUncertainError) as caught:
        await ops.create({"a": "one"})
    job = ops.store.get_job(caught.value.details["job_id"])
    assert job is not None
    await reconcile_chunks(ops, job, [0])
    found = ops.store.get_job(job.job_id).chunks[0].batch_id  # type: ignore[union-attr]
    assert found is not None
    assert found != other
    listed = {item["id"]: item for item in await ops.list()}
    assert listed[found]["metadata"]["lmbatch_job_id"] == job.job_id
    await ops.aclose()


async def test_create_4xx_is_definite_and_the_upload_is_cleaned_up(emulator: Any) -> None:
    emulator.faults.fail("create", 400, provider="openai")
    ops = _ops(emulator)
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, SubmissionUncertainError)
    assert caught.value.status_code == 400
    # "list": the vendor's clock, read from a Date header before the first create.
    assert _operations(emulator) == ["list", "upload", "create", "delete_file"]
    await ops.aclose()


async def test_upload_failure_is_not_retried(emulator: Any) -> None:
    emulator.faults.fail("upload", 500, provider="openai")
    ops = _ops(emulator, max_retries=5)
    with pytest.raises(ProviderServerError):
        await ops.create({"a": "one"})
    assert _operations(emulator) == ["list", "upload"]  # the clock read, then the upload
    assert emulator.create_calls == 0
    await ops.aclose()


async def test_upload_404_names_the_base_url_not_an_unknown_batch(emulator: Any) -> None:
    wrong = emulator.openai_base_url.rstrip("/") + "/wrong-prefix"
    ops = OpenAIBatchOperations(
        model="gpt-4.1-mini", api_key="test", base_url=wrong, max_retries=0, store=":memory:"
    )
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({"a": "one"})
    error = caught.value
    assert not isinstance(error, BatchNotFoundError | SubmissionUncertainError)
    assert error.status_code == 404
    assert "not found" in str(error)
    assert wrong in str(error)
    (job,) = ops.store.list_jobs()
    assert [chunk.state for chunk in job.chunks] == ["planned"]  # safe to send once fixed
    await ops.aclose()


async def test_create_404_is_a_request_error_naming_the_base_url(emulator: Any) -> None:
    emulator.faults.fail("create", 404, provider="openai")
    ops = _ops(emulator)
    with pytest.raises(ProviderRequestError, match="not found at base URL") as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, BatchNotFoundError | SubmissionUncertainError)
    assert caught.value.status_code == 404
    await ops.aclose()


async def test_lone_surrogate_in_a_prompt_uploads_nothing(emulator: Any) -> None:
    ops = _ops(emulator)
    with pytest.raises(ValidationError) as caught:
        await ops.create({"fine": "hello", "bad": "half an emoji \ud83d"})
    assert caught.value.key == "bad"
    assert "lone surrogate" in str(caught.value)
    assert emulator.calls == []
    await ops.aclose()


async def test_batch_metadata_identifies_the_job(emulator: Any) -> None:
    ops = _ops(emulator, metadata={"team": "search"}, output_expires_after=7200)
    batch_id = await ops.create({"a": "one"})
    info = await ops.info(batch_id)
    metadata = info["raw"]["metadata"]
    assert metadata["team"] == "search"
    assert metadata["lmbatch_job_id"].startswith("lmbjob_")
    assert metadata["lmbatch_chunk"] == "0"
    await ops.aclose()


# -- reads map errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, BatchNotFoundError),
        (429, RateLimitError),
        (500, ProviderServerError),
        (409, ProviderRequestError),
    ],
)
async def test_status_errors_map_to_the_lmbatch_tree(
    emulator: Any, status: int, error_class: type[Exception]
) -> None:
    ops = _ops(emulator, max_retries=0)
    batch_id = await ops.create({"a": "one"})
    emulator.faults.fail("retrieve", status, provider="openai")
    with pytest.raises(error_class) as caught:
        await ops.status(batch_id)
    error: Any = caught.value
    assert error.provider == "openai"
    assert error.status_code == status
    assert error.request_id
    await ops.aclose()


async def test_reads_use_the_sdk_retries(emulator: Any) -> None:
    ops = _ops(emulator, max_retries=2)
    batch_id = await ops.create({"a": "one"})
    emulator.faults.fail("retrieve", 500, provider="openai", nth=1)
    assert await ops.status(batch_id) is BatchStatus.IN_PROGRESS
    await ops.aclose()


async def test_unreachable_vendor_is_a_connection_error() -> None:
    ops = OpenAIBatchOperations(
        model="gpt-4.1-mini",
        api_key="test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        store=":memory:",
    )
    with pytest.raises(ProviderConnectionError):
        await ops.status("batch_x")
    with pytest.raises(ProviderConnectionError):
        await ops.create({"a": "one"})  # the upload never reached anyone: not uncertain
    await ops.aclose()


# -- results -------------------------------------------------------------------------


async def test_retrieve_deletes_the_input_file_unless_told_not_to(emulator: Any) -> None:
    for keep in (False, True):
        emulator.reset()
        ops = _ops(emulator, delete_input_file=not keep)
        batch_id = await ops.create({"a": "one"})
        await _finish(ops, batch_id)
        input_file = (await ops.info(batch_id))["raw"]["input_file_id"]
        await ops.retrieve(batch_id)
        client = ops._client()
        files = [f.id async for f in client.files.list()]
        assert (input_file in files) is keep
        await ops.aclose()


async def test_retrieve_decodes_by_the_endpoint_the_batch_used(
    emulator: Any, tmp_path: Any
) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    chat_ops = _ops(emulator, endpoint="/v1/chat/completions", store=store)
    batch_id = await chat_ops.create({"a": "hello"})
    await _finish(chat_ops, batch_id)
    responses_ops = _ops(emulator, store=store)
    results = await responses_ops.retrieve(batch_id)
    assert results["a"].text == "echo: hello"
    # A batch the store does not know: the Batch object's endpoint decides.
    emulator_batch = await _ops(emulator).retrieve(batch_id)
    assert emulator_batch["a"].text == "echo: hello"
    await chat_ops.aclose()
    await responses_ops.aclose()


async def test_partial_results_of_an_expired_batch(emulator: Any) -> None:
    ops = _ops(emulator)
    requests = {"done": "first", "late": "second [[lmbatch:expire]]"}
    batch_id = await ops.create(requests)
    await _finish(ops, batch_id)
    info = await ops.info(batch_id)
    assert info["status"] is BatchStatus.EXPIRED
    assert info["request_counts"]["expired"] == 1
    results = await ops.retrieve(batch_id)
    assert results["done"].text == "echo: first"
    assert results["late"].error is not None
    assert results["late"].error.kind == "expired"
    await ops.aclose()


async def test_cancel_from_validating_and_from_in_progress(emulator: Any) -> None:
    ops = _ops(emulator)
    early = await ops.create({"a": "one"})
    await ops.cancel(early)  # still validating: no status check yet
    late = await ops.create({f"k{i}": f"n {i}" for i in range(4)})
    assert await ops.status(late) is BatchStatus.IN_PROGRESS
    await ops.cancel(late)
    assert await ops.status(late) in (BatchStatus.CANCELING, BatchStatus.CANCELLED)
    await _finish(ops, early)
    await _finish(ops, late)
    early_results = await ops.retrieve(early)
    assert early_results["a"].error is not None
    assert early_results["a"].error.kind == "cancelled"
    late_results = await ops.retrieve(late)
    kinds = sorted("ok" if o.ok else o.error.kind for o in late_results.values())  # type: ignore[union-attr]
    assert kinds == ["cancelled", "cancelled", "ok", "ok"]
    await ops.aclose()


async def test_list_follows_every_page(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(OpenAIBatchOperations, "list_page_size", 2)
    ops = _ops(emulator)
    created = [await ops.create({"a": f"list {i}"}) for i in range(5)]
    before = len(emulator.calls)
    listed = await ops.list()
    assert [item["id"] for item in listed] == created[::-1]
    assert [c.path for c in emulator.calls[before:] if c.operation == "list"] == ["/v1/batches"] * 3
    await ops.aclose()


async def test_failed_batch_surfaces_batch_level_errors(emulator: Any) -> None:
    ops = _ops(emulator)
    batch_id = await ops.create({"a": "one", "b": "two"})
    # Make the vendor see a broken input file: a duplicate custom_id.
    state_batch = emulator.state.openai_batches[batch_id]
    state_batch.check.errors.append(
        {"code": "duplicate_custom_id", "message": "dup", "param": None, "line": 2}
    )
    await _finish(ops, batch_id)
    info = await ops.info(batch_id)
    assert info["status"] is BatchStatus.FAILED
    assert info["errors"] == [
        {"code": "duplicate_custom_id", "message": "dup", "line": 2, "param": None}
    ]
    results = await ops.retrieve(batch_id)
    assert {o.error.kind for o in results.values() if o.error} == {"errored"}
    await ops.aclose()


async def test_result_files_are_read_from_the_base_url_whatever_id_the_vendor_names(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are downloaded by id through the client: a hostile id cannot move the host."""
    ops = _ops(emulator, max_retries=0)
    with Listener() as foreign:
        fetch = ops.fetch_batch

        async def hostile_file_id(batch_id: str) -> Any:
            info = await fetch(batch_id)
            info["raw"]["error_file_id"] = f"{foreign.origin}/v1/files/stolen"
            return info

        monkeypatch.setattr(ops, "fetch_batch", hostile_file_id)
        batch_id = await ops.create({"a": "hello"})
        await _finish(ops, batch_id)
        with pytest.raises(ProviderError):  # the emulator knows no such file
            await ops.retrieve(batch_id)
    await ops.aclose()
    assert foreign.requests == []
    downloads = [call.path for call in emulator.calls if call.path.endswith("/content")]
    assert len(downloads) == 2  # the real output file, then the hostile id: both asked here


async def test_a_download_redirected_to_another_host_carries_no_key(emulator: Any) -> None:
    with Listener() as foreign:
        redirect = Listener(status=302, headers={"Location": f"{foreign.origin}/stolen"})
        with redirect:
            ops = OpenAIBatchOperations(
                model="gpt-4.1-mini",
                api_key="sk-secret",
                base_url=f"{redirect.origin}/v1",
                store=":memory:",
                max_retries=0,
            )
            with contextlib.suppress(ProviderError):
                async for _ in ops._file_lines("file-1"):
                    pass
            await ops.aclose()
        assert [call.path for call in redirect.requests] == ["/v1/files/file-1/content"]
    assert all("sk-secret" not in str(call.headers) for call in foreign.requests)


# -- bad input: nothing is uploaded ----------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "requests", "hyperparameters"),
    [
        pytest.param("/v1/responses", {"k": "x"}, {"stop": ["END"]}, id="stop-on-responses"),
        pytest.param("/v1/responses", {"k": "x"}, {"seed": 1}, id="seed-on-responses"),
        pytest.param(
            "/v1/chat/completions",
            {"k": [Attachment.from_url("https://example.com/a.pdf"), "read"]},
            None,
            id="pdf-url-on-chat",
        ),
        pytest.param(
            "/v1/responses",
            {
                "k": [
                    Message.user("hi"),
                    Message.assistant(Attachment.from_bytes(b"x", "image/png")),
                ]
            },
            None,
            id="attachment-in-assistant-message",
        ),
        pytest.param(
            "/v1/responses",
            {"k": [Attachment.from_bytes(b"a,b", "text/csv"), "read"]},
            None,
            id="unsupported-attachment-type",
        ),
        pytest.param("/v1/responses", {"k": "   "}, None, id="empty-text"),
        pytest.param("/v1/responses", {"k": ["fine", " "]}, None, id="empty-text-part"),
        pytest.param(
            "/v1/responses",
            {"k": "x"},
            {"response_schema": RootModel[list[int]]},
            id="schema-not-an-object",
        ),
        pytest.param("/v1/responses", {"k": "x"}, {"stream": True}, id="stream-pass-through"),
        pytest.param("/v1/chat/completions", {"k": "x"}, {"model": "o3"}, id="model-pass-through"),
    ],
)
async def test_openai_specific_bad_input_uploads_nothing(
    emulator: Any,
    endpoint: str,
    requests: dict[str, Any],
    hyperparameters: dict[str, Any] | None,
) -> None:
    ops = _ops(emulator, endpoint=endpoint)
    with pytest.raises(ValidationError) as caught:
        await ops.create(requests, hyperparameters)
    assert str(caught.value)
    assert emulator.calls == []
    await ops.aclose()


async def test_missing_model_is_a_validation_error(emulator: Any) -> None:
    ops = OpenAIBatchOperations(api_key="test", base_url=emulator.openai_base_url, store=":memory:")
    with pytest.raises(ValidationError, match="model"):
        await ops.create({"k": "x"})
    assert emulator.calls == []


# -- settings and import hygiene -------------------------------------------------------


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    ops = OpenAIBatchOperations(model="m", store=":memory:")  # the key is needed to send
    with pytest.raises(MissingCredentialsError) as caught:
        ops.check_ready()
    assert caught.value.env_var == "OPENAI_API_KEY"
    assert "OPENAI_API_KEY" in str(caught.value)
    with pytest.raises(MissingCredentialsError):
        ops._client()


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    ops = OpenAIBatchOperations(model="m", store=":memory:")
    client = ops._client()
    assert client.api_key == "sk-from-env"
    assert str(client.base_url).startswith("http://127.0.0.1:1/v1")
    assert "sk-from-env" not in repr(ops) + repr(ops.settings)


def test_settings_refuse_bad_options() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        OpenAISettings(endpoint="/v1/embeddings")
    with pytest.raises(ValueError, match="output_expires_after"):
        OpenAISettings(output_expires_after=60)
    with pytest.raises(ValueError, match="reserved"):
        OpenAISettings(metadata={"lmbatch_job_id": "x"})


def test_importing_lmbatch_and_the_plugin_does_not_import_openai() -> None:
    code = (
        "import sys, lmbatch, lmbatch_openai, lmbatch_openai._plugin;"
        "[entry.name for entry in lmbatch.available_providers()];"
        "assert 'openai' not in sys.modules, 'openai imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_registered_under_its_entry_point_name() -> None:
    entry = next(entry for entry in lmbatch.available_providers() if entry.name == "openai")
    assert entry.operations_class is OpenAIBatchOperations


async def test_reconciliation_stops_listing_at_batches_older_than_the_create(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing stops once batches predate the create attempt, instead of reading every page."""
    import time

    monkeypatch.setattr(OpenAIBatchOperations, "list_page_size", 1)
    ops = _ops(emulator, create_settle_seconds=0)
    for i in range(4):
        await ops.create({"a": f"older {i}"})
    job_id, _ = ops.store.create_job(
        job_id="lmbjob_" + "1" * 32,
        provider="openai",
        model="gpt-4.1-mini",
        fingerprint="f",
        request_count=1,
        context={},
        chunk_sizes=[1],
        keys=[("a", "a", 0)],
    )
    assert ops.store.claim_chunk(job_id, 0, _dead_owner())
    # The vendor's clock an hour ahead of ours: by it, the create was attempted after
    # every existing batch was made.
    ops._jobs.vendor_clock = (3600.0, time.monotonic())
    ops.store.record_attempt(job_id, 0, time.time(), 3600.0)
    pages_before = sum(1 for c in emulator.calls if c.operation == "list")
    job = ops.store.get_job(job_id)
    assert job is not None
    await reconcile_chunks(ops, job, [0])
    assert ops.store.get_job(job_id).chunks[0].state == "planned"  # type: ignore[union-attr]
    assert sum(1 for c in emulator.calls if c.operation == "list") - pages_before == 1
    await ops.aclose()


def _dead_owner() -> str:
    """An owner the store sees as gone: this process, which is not submitting the chunk."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
