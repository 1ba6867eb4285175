"""Core promises exercised through the fake provider: outcomes, splitting, the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lmbatch import (
    BatchNotFinishedError,
    BatchStatus,
    BatchTimeoutError,
    ConfigError,
    JobStore,
    LMOutput,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    ResultsIncompleteError,
    StructuredOutput,
    SubmissionUncertainError,
)
from lmbatch.testing import FakeBackend, FakeBatchOperations


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


def make_ops(
    backend: FakeBackend, store: JobStore | str = ":memory:", **options: Any
) -> FakeBatchOperations:
    return FakeBatchOperations(backend=backend, store=store, **options)


async def wait_done(ops: FakeBatchOperations, batch_id: str) -> None:
    for _ in range(20):
        if (await ops.status(batch_id)).is_terminal:
            return
    raise AssertionError("batch did not end")


async def test_every_failure_kind_is_one_outcome_and_nothing_is_lost(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    requests = {
        "ok": "fine",
        "rate": "x [[lmbatch:error=429]]",
        "broken": "x [[lmbatch:malformed]]",
        "gone": "x [[lmbatch:omit]]",
        "twice": "x [[lmbatch:duplicate]]",
    }
    results = await ops.invoke(requests, status_check_interval=0)
    assert set(results) == set(requests)
    assert results["ok"].text == "echo: fine"
    assert results["twice"].ok
    assert results["rate"].error is not None
    assert results["rate"].error.kind == "errored"
    assert results["rate"].error.status_code == 429
    # The malformed line cannot be attributed, so the request it belonged to is reported
    # as unreadable rather than silently missing.
    assert results["broken"].error is not None
    assert results["broken"].error.kind == "invalid_response"
    assert results["gone"].error is not None
    assert results["gone"].error.kind == "invalid_response"


async def test_omitted_result_is_missing(backend: FakeBackend) -> None:
    results = await make_ops(backend).invoke(
        {"a": "fine", "b": "x [[lmbatch:omit]]"}, status_check_interval=0
    )
    assert results["b"].error is not None
    assert results["b"].error.kind == "missing"


async def test_results_download_failing_once_is_read_again_in_the_same_call(
    backend: FakeBackend,
) -> None:
    backend.fail_next("results", ProviderServerError("download failed", status_code=500))
    results = await make_ops(backend).invoke({"a": "x", "b": "y"}, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert backend.calls["results"] == 2
    assert set(backend.submissions.values()) == {1}


async def test_results_download_failing_for_good_raises_and_resubmits_nothing(
    backend: FakeBackend,
) -> None:
    ops = make_ops(backend)
    requests = {"a": "x", "b": "y"}
    for _ in range(len(ops.result_download_delays) + 1):
        backend.fail_next("results", ProviderServerError("download failed", status_code=500))
    with pytest.raises(ResultsIncompleteError) as caught:
        await ops.invoke(requests, status_check_interval=0)
    assert (caught.value.expected, caught.value.read) == (2, 0)
    assert isinstance(caught.value.__cause__, ProviderServerError)
    assert set(backend.submissions.values()) == {1}
    # The results were never lost: the same invoke re-attaches and reads them.
    results = await ops.invoke(requests, status_check_interval=0)
    assert all(output.ok for output in results.values())
    assert set(backend.submissions.values()) == {1}


async def test_results_download_refused_for_good_is_not_read_again(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    batch_id = await ops.create({"a": "x"})
    await wait_done(ops, batch_id)
    backend.fail_next("results", ProviderRequestError("archived", status_code=400))
    with pytest.raises(ProviderRequestError):
        await ops.retrieve(batch_id)
    assert backend.calls["results"] == 1


async def test_expired_batch_keeps_finished_results(backend: FakeBackend) -> None:
    backend.script_next_batch(expire=True, finished_before_expiry=2)
    ops = make_ops(backend)
    requests = {f"k{i}": f"p{i}" for i in range(5)}
    batch_id = await ops.create(requests)
    await wait_done(ops, batch_id)
    assert await ops.status(batch_id) is BatchStatus.EXPIRED
    results = await ops.retrieve(batch_id)
    assert [results[f"k{i}"].ok for i in range(5)] == [True, True, False, False, False]
    assert {results[f"k{i}"].error.kind for i in range(2, 5)} == {"expired"}  # type: ignore[union-attr]


async def test_failed_batch_gives_every_key_the_batch_error(backend: FakeBackend) -> None:
    backend.script_next_batch(
        fail_with=[
            {
                "code": "token_limit_exceeded",
                "message": "Enqueued token limit reached",
                "line": None,
                "param": None,
            }
        ]
    )
    ops = make_ops(backend)
    results = await ops.invoke({"a": "x", "b": "y"}, status_check_interval=0, resubmit=False)
    for output in results.values():
        assert output.error is not None
        assert output.error.kind == "errored"
        assert output.error.code == "token_limit_exceeded"
    info = await ops.info(next(iter(backend.batches)))
    assert info["status"] is BatchStatus.FAILED
    assert info["errors"][0]["code"] == "token_limit_exceeded"


async def test_cancelled_batch_marks_unrun_requests(backend: FakeBackend) -> None:
    backend.script_next_batch(polls_until_done=10, finished_before_expiry=1)
    ops = make_ops(backend)
    batch_id = await ops.create({"a": "1", "b": "2", "c": "3"})
    await ops.cancel(batch_id)
    await wait_done(ops, batch_id)
    assert await ops.status(batch_id) is BatchStatus.CANCELLED
    results = await ops.retrieve(batch_id)
    assert results["a"].ok
    assert results["b"].error is not None
    assert results["b"].error.kind == "cancelled"


async def test_cancel_of_an_ended_batch_is_a_provider_error(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    batch_id = await ops.create({"a": "1"})
    await wait_done(ops, batch_id)
    with pytest.raises(ProviderRequestError):
        await ops.cancel(batch_id)


class Person(BaseModel):
    name: str
    age: int


async def test_structured_output_that_breaks_the_schema_is_invalid_response(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops(backend)
    original = ops._answer

    def wrong_shape(record: dict[str, Any], script: Any) -> LMOutput:
        output = original(record, script)
        return output.model_copy(
            update={"outputs": [StructuredOutput(data={"name": "x", "age": "old"})]}
        )

    monkeypatch.setattr(ops, "_answer", wrong_shape)
    results = await ops.invoke({"p": "who"}, {"response_schema": Person}, status_check_interval=0)
    assert results["p"].error is not None
    assert results["p"].error.kind == "invalid_response"
    assert results["p"].structured_output == {"name": "x", "age": "old"}


async def test_json_schema_dict_is_checked_too(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops(backend)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    results = await ops.invoke({"p": "x"}, {"response_schema": schema}, status_check_interval=0)
    assert results["p"].ok
    assert isinstance(results["p"].structured_output["n"], int)


async def test_json_schema_dict_answer_that_breaks_it_is_invalid_response(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops(backend)
    original = ops._answer

    def wrong_type(record: dict[str, Any], script: Any) -> LMOutput:
        output = original(record, script)
        return output.model_copy(update={"outputs": [StructuredOutput(data={"age": "forty-two"})]})

    monkeypatch.setattr(ops, "_answer", wrong_type)
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    results = await ops.invoke({"p": "x"}, {"response_schema": schema}, status_check_interval=0)
    assert results["p"].error is not None
    assert results["p"].error.kind == "invalid_response"
    assert "'forty-two' is not of type 'integer'" in results["p"].error.message


def _without_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import jsonschema`` fail, as on an install that lacks it."""
    import sys

    for name in [m for m in sys.modules if m == "jsonschema" or m.startswith("jsonschema.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "jsonschema", None)


async def test_json_schema_dict_is_never_skipped_when_jsonschema_cannot_be_imported(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It used to be checked only "when jsonschema happens to be installed": without it,
    # {"age": "forty-two"} came back ok. A broken install is now a ConfigError, up front.
    _without_jsonschema(monkeypatch)
    ops = make_ops(backend)
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}}
    with pytest.raises(ConfigError, match="jsonschema") as caught:
        await ops.invoke({"p": "x"}, {"response_schema": schema}, status_check_interval=0)
    assert backend.calls["submit"] == 0
    # The error says how to get the check (an extra since core was made light).
    assert "pip install 'lmbatch[jsonschema]'" in str(caught.value)


def test_jsonschema_comes_with_its_extra_and_with_the_cli() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(spec.startswith("jsonschema>") for spec in extras["jsonschema"])
    assert "lmbatch[jsonschema]" in extras["cli"]


async def test_large_input_is_split_into_a_job(backend: FakeBackend) -> None:
    ops = make_ops(backend, max_requests_per_batch=3)
    requests = {f"k{i}": f"p{i}" for i in range(8)}
    job_id = await ops.create(requests)
    assert job_id.startswith("lmbjob_")
    assert len(backend.batches) == 3
    assert sorted(len(b.records) for b in backend.batches.values()) == [2, 3, 3]
    info = await ops.info(job_id)
    assert info["request_counts"]["total"] == 8
    assert len(info["batches"]) == 3
    await wait_done(ops, job_id)
    results = await ops.retrieve(job_id)
    assert results == {key: results[key] for key in requests}
    assert all(results[f"k{i}"].text == f"echo: p{i}" for i in range(8))
    assert max(backend.submissions.values()) == 1
    # A vendor batch id of one chunk also works, and gives that chunk's keys.
    one_batch = next(iter(backend.batches))
    assert len(await ops.retrieve(one_batch)) == 3


async def test_job_status_aggregates_and_cancel_reaches_every_batch(backend: FakeBackend) -> None:
    ops = make_ops(backend, max_requests_per_batch=2, polls_until_done=20)
    job_id = await ops.create({f"k{i}": "p" for i in range(4)})
    assert await ops.status(job_id) is BatchStatus.IN_PROGRESS
    await ops.cancel(job_id)
    assert backend.calls["cancel"] == 2
    await wait_done(ops, job_id)
    assert await ops.status(job_id) is BatchStatus.CANCELLED


async def test_store_restores_caller_keys_in_another_instance(
    backend: FakeBackend, tmp_path: Path
) -> None:
    store_path = tmp_path / "jobs.sqlite3"
    key = "doc/7 — ünïcode"
    first = make_ops(backend, str(store_path), custom_id_pattern=r"[a-z]{1,8}")
    batch_id = await first.create({key: "hello", "plain": "there"})
    second = make_ops(backend, str(store_path), custom_id_pattern=r"[a-z]{1,8}")
    await wait_done(second, batch_id)
    results = await second.retrieve(batch_id)
    assert set(results) == {key, "plain"}
    submitted = set(backend.submissions)
    assert "plain" in submitted
    assert key not in submitted


async def test_batch_unknown_to_the_store_is_keyed_by_vendor_ids(backend: FakeBackend) -> None:
    first = make_ops(backend, custom_id_pattern=r"[a-z]{1,8}")
    batch_id = await first.create({"Weird Key": "hello"})
    stranger = make_ops(backend)  # a different (empty) store
    await wait_done(stranger, batch_id)
    results = await stranger.retrieve(batch_id)
    (custom_id,) = results
    assert custom_id.startswith("k-")


async def test_retrieve_before_finish_raises(backend: FakeBackend) -> None:
    ops = make_ops(backend, polls_until_done=5)
    batch_id = await ops.create({"a": "x"})
    with pytest.raises(BatchNotFinishedError) as caught:
        await ops.retrieve(batch_id)
    assert caught.value.status == BatchStatus.IN_PROGRESS


async def test_timeout_can_cancel(backend: FakeBackend) -> None:
    ops = make_ops(backend, polls_until_done=10)
    with pytest.raises(BatchTimeoutError) as caught:
        await ops.invoke(
            {"a": "x"}, status_check_interval=0, max_iterations=2, cancel_on_timeout=True
        )
    assert backend.calls["cancel"] == 1
    assert caught.value.batch_id in str(caught.value)


async def test_overall_timeout(backend: FakeBackend) -> None:
    ops = make_ops(backend, polls_until_done=1000)
    with pytest.raises(BatchTimeoutError):
        await ops.invoke({"a": "x"}, status_check_interval=0.01, timeout=0.05)


async def test_non_transient_poll_error_is_raised(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    backend.fail_next(
        "fetch", ProviderRequestError("bad request", provider="fake", status_code=400)
    )
    with pytest.raises(ProviderRequestError):
        await ops.invoke({"a": "x"}, status_check_interval=0)
    assert backend.calls["submit"] == 1


async def test_transient_poll_errors_never_resubmit(backend: FakeBackend) -> None:
    ops = make_ops(backend, polls_until_done=3)
    for _ in range(3):
        backend.fail_next("fetch", RateLimitError("slow down", provider="fake", status_code=429))
    results = await ops.invoke({"a": "x"}, status_check_interval=0)
    assert results["a"].ok
    assert backend.calls["submit"] == 1


async def test_progress_callback_sees_every_check(backend: FakeBackend) -> None:
    seen: list[BatchStatus] = []
    await make_ops(backend, polls_until_done=3).invoke(
        {"a": "x"}, status_check_interval=0, on_progress=lambda info: seen.append(info["status"])
    )
    assert seen[-1] is BatchStatus.FINISHED
    assert len(seen) == 4


async def test_failed_submission_of_one_chunk_keeps_the_job_resumable(backend: FakeBackend) -> None:
    ops = make_ops(backend, max_requests_per_batch=2, max_concurrent_submissions=1)
    backend.fail_next("submit", ProviderRequestError("quota", provider="fake", status_code=400))
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({f"k{i}": "p" for i in range(4)})
    assert any("lmbatch.resume" in note for note in caught.value.__notes__)
    job = ops.store.list_jobs()[0]
    assert [chunk.state for chunk in job.chunks] == ["planned", "submitted"]


async def test_uncertain_submission_stays_marked(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    backend.fail_next("submit", SubmissionUncertainError("500 after create", provider="fake"))
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "x"})
    job = ops.store.list_jobs()[0]
    assert job.chunks[0].state == "submitting"


async def test_list_follows_every_page(backend: FakeBackend) -> None:
    ops = make_ops(backend, page_size=2)
    ids = {await ops.create({"a": str(i)}) for i in range(5)}
    listed = await ops.list()
    assert {item["id"] for item in listed} == ids
    assert backend.calls["list"] == 3


async def test_failed_clean_up_after_results_keeps_the_results(
    backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops(backend)

    async def failing_clean_up(info: Any, context: Any) -> None:
        raise ProviderRequestError("could not delete input file", provider="fake", status_code=400)

    monkeypatch.setattr(ops, "after_results", failing_clean_up)
    results = await ops.invoke({"a": "x", "b": "y"}, status_check_interval=0)
    assert all(output.ok for output in results.values())


async def test_fake_batch_ids_do_not_repeat_across_backends(tmp_path: Path) -> None:
    """Two processes (two backends) sharing one store must not collide on batch ids."""
    store = JobStore(tmp_path / "s.sqlite3")
    first = await make_ops(FakeBackend(), store).create({"a": "x"})
    second = await make_ops(FakeBackend(), store).create({"a": "y"})
    assert first != second


def test_fake_class_limits_match_a_default_instance() -> None:
    """`lmbatch providers` reads class-level limits; they must describe the real default."""
    assert FakeBatchOperations.limits == make_ops(FakeBackend()).limits


class _NoLinesForUnrunRequests(FakeBatchOperations):
    """A vendor (like Gemini or Mistral) writing no line for what an ended batch never ran."""

    result_line_states = frozenset({"succeeded", "errored"})


def _silent_vendor(backend: FakeBackend) -> FakeBatchOperations:
    return _NoLinesForUnrunRequests(backend=backend, store=":memory:")


async def test_a_request_an_expired_batch_wrote_nothing_for_is_expired_not_missing(
    backend: FakeBackend,
) -> None:
    # The batch's own end says why the request has no line: "expired" (resubmitted as
    # such), not "missing".
    backend.script_next_batch(expire=True, finished_before_expiry=1)
    ops = _silent_vendor(backend)
    batch_id = await ops.create({"a": "fine", "b": "x [[lmbatch:omit]]"})
    while not (await ops.status(batch_id)).is_terminal:
        pass
    results = await ops.retrieve(batch_id)
    assert results["b"].error is not None
    assert results["b"].error.kind == "expired"


async def test_a_request_a_cancelled_batch_wrote_nothing_for_is_cancelled_not_missing(
    backend: FakeBackend,
) -> None:
    ops = _silent_vendor(backend)
    batch_id = await ops.create({"a": "fine", "b": "x [[lmbatch:omit]]"})
    await ops.cancel(batch_id)
    while not (await ops.status(batch_id)).is_terminal:
        pass
    results = await ops.retrieve(batch_id)
    assert results["b"].error is not None
    assert results["b"].error.kind == "cancelled"
