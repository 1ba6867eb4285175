"""The provider end to end against the emulator: keys, outcomes, paging, cancel, failures."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import anthropic
import httpx2
import pytest
from lmbatch_anthropic import AnthropicBatchOperations

from lmbatch import (
    AuthenticationError,
    BatchInfo,
    BatchNotFoundError,
    BatchStatus,
    LMBatchError,
    MissingCredentialsError,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ProviderRequestError,
    RateLimitError,
    SubmissionAmbiguousError,
    SubmissionUncertainError,
    UntrustedURLError,
    ValidationError,
)
from lmbatch.testing import reconcile_chunks
from lmbatch.testing.emulator import Emulator
from lmbatch.testing.listener import Listener

from .conftest import DUMMY_KEY, MODEL

pytestmark = pytest.mark.timeout(60)


class Recorder:
    """Collects every HTTP request the SDK client sends."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    async def __call__(self, request: httpx2.Request) -> None:
        self.requests.append(request)

    def sent(self, method: str, fragment: str = "") -> list[httpx2.Request]:
        return [r for r in self.requests if r.method == method and fragment in str(r.url)]


@pytest.fixture
async def recorded(
    emulator: Emulator,
) -> AsyncIterator[tuple[AnthropicBatchOperations, Recorder]]:
    """The provider with a client whose requests are recorded (default SDK retries)."""
    recorder = Recorder()
    ops = AnthropicBatchOperations(
        model=MODEL,
        api_key=DUMMY_KEY,
        base_url=emulator.anthropic_base_url,
        store=":memory:",
        create_settle_seconds=0,  # the emulator answers a create only once it is done
    )
    ops._client = anthropic.AsyncAnthropic(
        api_key=DUMMY_KEY,
        base_url=emulator.anthropic_base_url,
        max_retries=2,
        http_client=httpx2.AsyncClient(event_hooks={"request": [recorder]}),
    )
    yield ops, recorder
    await ops.aclose()


async def finish(ops: AnthropicBatchOperations, batch_id: str) -> BatchStatus:
    for _ in range(20):
        status = await ops.status(batch_id)
        if status.is_terminal:
            return status
    raise AssertionError("batch never ended")


async def test_keys_anthropic_refuses_come_back_unchanged(
    ops: AnthropicBatchOperations, emulator: Emulator
) -> None:
    keys = ["doc/7 — ünïcode", "x" * 200, "fine_key-1"]
    batch_id = await ops.create({key: f"prompt {i}" for i, key in enumerate(keys)})
    sent = set(emulator.submissions)
    assert "fine_key-1" in sent
    assert not {"doc/7 — ünïcode", "x" * 200} & sent
    assert all(len(custom_id) <= 64 for custom_id in sent)
    assert await finish(ops, batch_id) is BatchStatus.FINISHED
    results = await ops.retrieve(batch_id)
    assert sorted(results) == sorted(keys)
    assert results["doc/7 — ünïcode"].text == "echo: prompt 0"
    assert results["x" * 200].text == "echo: prompt 1"


async def test_every_outcome_kind(ops: AnthropicBatchOperations) -> None:
    requests = {
        "ok": "fine",
        "errored": "fail [[lmbatch:error=400]]",
        "overloaded": "fail [[lmbatch:error=529]]",
        "expired": "late [[lmbatch:expire]]",
        "missing": "gone [[lmbatch:omit]]",
        "malformed": "bad [[lmbatch:malformed]]",
        "twice": "again [[lmbatch:duplicate]]",
    }
    batch_id = await ops.create(requests)
    assert await ops.status(batch_id) is BatchStatus.IN_PROGRESS
    assert await finish(ops, batch_id) is BatchStatus.EXPIRED
    info = await ops.info(batch_id)
    assert info["request_counts"]["expired"] == 1
    # The omitted request was lost by the vendor: never counted, so it is "missing" (and
    # worth resubmitting) rather than a short download.
    assert info["request_counts"]["total"] == len(requests) - 1
    results = await ops.retrieve(batch_id)
    assert set(results) == set(requests)
    assert results["ok"].ok
    assert results["twice"].ok
    kinds = {key: out.error.kind for key, out in results.items() if out.error is not None}
    assert kinds == {
        "errored": "errored",
        "overloaded": "errored",
        "expired": "expired",
        "missing": "missing",
        "malformed": "invalid_response",
    }
    errored = results["errored"].error
    assert errored is not None
    assert errored.code == "invalid_request_error"
    assert errored.status_code == 400
    overloaded = results["overloaded"].error
    assert overloaded is not None
    assert overloaded.code == "overloaded_error"


async def test_cancel_gives_cancelled_outcomes(ops: AnthropicBatchOperations) -> None:
    requests = {f"k{i}": f"cancel {i}" for i in range(4)}
    batch_id = await ops.create(requests)
    await ops.cancel(batch_id)
    assert await ops.status(batch_id) is BatchStatus.CANCELING
    assert await finish(ops, batch_id) is BatchStatus.CANCELLED
    info = await ops.info(batch_id)
    assert info["request_counts"]["cancelled"] == 2
    results = await ops.retrieve(batch_id)
    kinds = sorted(out.error.kind if out.error else "ok" for out in results.values())
    assert kinds == ["cancelled", "cancelled", "ok", "ok"]
    with pytest.raises(ProviderRequestError) as caught:
        await ops.cancel(batch_id)
    assert caught.value.status_code == 400


async def test_list_follows_after_id_until_has_more_is_false(
    recorded: tuple[AnthropicBatchOperations, Recorder],
) -> None:
    ops, recorder = recorded
    ops = AnthropicBatchOperations(
        ops.anthropic_settings.model_copy(update={"list_page_size": 2}), store=":memory:"
    )
    ops._client = recorded[0]._client
    created = [await ops.create({"a": f"batch {i}"}) for i in range(5)]
    before = len(recorder.requests)
    listed = await ops.list()
    assert [item["id"] for item in listed] == list(reversed(created))
    pages = [r for r in recorder.requests[before:] if "/v1/messages/batches?" in str(r.url)]
    assert len(pages) == 3
    assert "after_id" not in str(pages[0].url)
    assert f"after_id={created[3]}" in str(pages[1].url)
    assert f"after_id={created[1]}" in str(pages[2].url)
    assert all("limit=2" in str(page.url) for page in pages)


async def test_results_follow_the_given_url_on_the_base_url_host(
    emulator: Emulator, recorded: tuple[AnthropicBatchOperations, Recorder]
) -> None:
    ops, recorder = recorded
    batch_id = await ops.create({"a": "hello"})
    await finish(ops, batch_id)
    info = await ops.info(batch_id)
    # The path and query are the vendor's to choose (a signed link stays as given).
    given = f"{emulator.base_url}/v1/messages/batches/{batch_id}/results?signed=abc"
    info["raw"]["results_url"] = given
    records = [record async for record in ops.iter_result_records(info, {})]
    assert [r.output.text for r in records] == ["echo: hello"]
    results_calls = recorder.sent("GET", "/results")
    assert [str(r.url) for r in results_calls] == [given]
    headers = results_calls[0].headers
    assert DUMMY_KEY in (headers.get("x-api-key"), headers.get("authorization", "").split()[-1])
    assert results_calls[0].headers["accept"] == "application/binary"


def _point_results_at(
    ops: AnthropicBatchOperations, monkeypatch: pytest.MonkeyPatch, origin: str
) -> None:
    """Make every status answer name ``origin`` as the host of the results file."""
    fetch = ops.fetch_batch

    async def fetch_with_moved_results(batch_id: str) -> BatchInfo:
        info = await fetch(batch_id)
        url = info["raw"].get("results_url")
        if url:
            info["raw"]["results_url"] = origin + "/v1" + url.split("/v1", 1)[1]
        return info

    monkeypatch.setattr(ops, "fetch_batch", fetch_with_moved_results)


async def test_results_url_on_a_foreign_host_is_refused_and_the_host_receives_nothing(
    ops: AnthropicBatchOperations, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Listener() as foreign:
        _point_results_at(ops, monkeypatch, foreign.origin)
        batch_id = await ops.create({"a": "hello"})
        await finish(ops, batch_id)
        with pytest.raises(UntrustedURLError) as caught:
            await ops.retrieve(batch_id)
    assert foreign.requests == []
    assert caught.value.host == foreign.host
    assert foreign.host in str(caught.value)
    assert DUMMY_KEY not in str(caught.value)


async def test_results_url_on_the_vendor_host_is_read_through_the_configured_base_url(
    ops: AnthropicBatchOperations, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gateway (here the emulator) passes the vendor's absolute results_url through."""
    import lmbatch_anthropic._operations as operations_module

    with Listener() as vendor:
        # The listener plays the vendor's documented host: a results_url naming it is
        # read from the configured base URL instead, so the vendor host gets nothing.
        monkeypatch.setattr(operations_module, "VENDOR_BASE_URLS", (vendor.origin,))
        _point_results_at(ops, monkeypatch, vendor.origin)
        batch_id = await ops.create({"a": "hello"})
        await finish(ops, batch_id)
        results = await ops.retrieve(batch_id)
    assert vendor.requests == []
    assert results["a"].text == "echo: hello"
    assert any(call.path.endswith("/results") for call in emulator.calls)


async def test_results_download_does_not_follow_a_redirect_to_another_host() -> None:
    with Listener() as foreign:
        redirect = Listener(status=302, headers={"Location": f"{foreign.origin}/stolen"})
        with redirect:
            ops = AnthropicBatchOperations(
                model=MODEL, api_key=DUMMY_KEY, base_url=redirect.origin, store=":memory:"
            )
            with pytest.raises(ProviderError):
                async for _ in ops._result_lines("msgbatch_1", f"{redirect.origin}/results"):
                    pass
            await ops.aclose()
        assert len(redirect.requests) >= 1
    assert foreign.requests == []


async def test_betas_go_in_the_create_header(
    emulator: Emulator, recorded: tuple[AnthropicBatchOperations, Recorder]
) -> None:
    _, recorder = recorded
    ops = AnthropicBatchOperations(
        model=MODEL,
        api_key=DUMMY_KEY,
        base_url=emulator.anthropic_base_url,
        betas=["output-300k-2026-03-24", "other-beta"],
        store=":memory:",
    )
    ops._client = recorded[0]._client
    await ops.create({"a": "hi"})
    (create,) = recorder.sent("POST", "/v1/messages/batches")
    assert create.headers["anthropic-beta"] == "output-300k-2026-03-24,other-beta"
    assert "beta=true" not in str(create.url)
    await ops.aclose()


@pytest.mark.parametrize("after_effect", [True, False])
async def test_create_5xx_is_uncertain_and_never_retried(
    emulator: Emulator,
    recorded: tuple[AnthropicBatchOperations, Recorder],
    after_effect: bool,
) -> None:
    ops, recorder = recorded  # the client retries other calls twice
    emulator.faults.fail("create", 500, nth=1, provider="anthropic", after_effect=after_effect)
    with pytest.raises(SubmissionUncertainError) as caught:
        await ops.create({"a": "hi", "b": "there"})
    assert caught.value.status_code == 500
    assert caught.value.provider == "anthropic"
    assert len(recorder.sent("POST", "/v1/messages/batches")) == 1
    assert emulator.create_calls == 1
    (job,) = ops.store.list_jobs()
    assert job.chunks[0].state == "submitting"
    await reconcile_chunks(ops, job, [0])
    (chunk,) = ops.store.get_job(job.job_id).chunks  # type: ignore[union-attr]
    if after_effect:
        assert chunk.batch_id is not None
        assert chunk.batch_id.startswith("msgbatch_")
        assert ops.store.adoption(job.job_id, 0) == (chunk.batch_id, False)  # not yet verified
    else:
        assert (chunk.state, chunk.batch_id) == ("planned", None)


async def test_reconciliation_never_guesses_and_says_how_to_settle(
    ops: AnthropicBatchOperations,
) -> None:
    job_id, _ = ops.store.create_job(
        job_id="lmbjob_" + "0" * 32,
        provider="anthropic",
        model=MODEL,
        fingerprint="f",
        request_count=1,
        context={},
        chunk_sizes=[1],
        keys=[("x_lbaaaaaaaaaa", "x", 0)],
        tag="_lbaaaaaaaaaa",
    )
    assert ops.store.claim_chunk(job_id, 0, _dead_owner())
    ops.store.record_attempt(job_id, 0, time.time() - 5, 0.0)
    # Two same-size batches of unknown origin, still running: either could be chunk 0.
    for custom_id in ("x", "y"):
        await ops._jobs.call(ops.client.messages.batches.create(requests=[_raw_request(custom_id)]))
    job = ops.store.get_job(job_id)
    assert job is not None
    with pytest.raises(SubmissionAmbiguousError) as caught:
        await reconcile_chunks(ops, job, [0])
    error = caught.value
    assert (error.job_id, error.chunk_index, len(error.candidates)) == (job_id, 0, 2)
    assert error.commands == [
        *(f"lmbatch resolve {job_id} --chunk 0 --adopt {c}" for c in error.candidates),
        f"lmbatch resolve {job_id} --chunk 0 --not-created",
    ]
    assert all(command in str(error) for command in error.commands)
    assert ops.store.get_job(job_id).chunks[0].state == "submitting"  # type: ignore[union-attr]


def _raw_request(custom_id: str) -> Any:
    return {
        "custom_id": custom_id,
        "params": {
            "model": MODEL,
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "x"}],
        },
    }


async def test_create_4xx_is_a_definite_refusal(
    emulator: Emulator, ops: AnthropicBatchOperations
) -> None:
    emulator.faults.fail("create", 429, nth=1, provider="anthropic")
    with pytest.raises(RateLimitError):
        await ops.create({"a": "hi"})
    (job,) = ops.store.list_jobs()
    assert [chunk.state for chunk in job.chunks] == ["planned"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthenticationError), (403, AuthenticationError), (429, RateLimitError)],
)
async def test_status_errors_are_mapped(
    emulator: Emulator, ops: AnthropicBatchOperations, status: int, expected: type[Exception]
) -> None:
    batch_id = await ops.create({"a": "hi"})
    emulator.faults.fail("retrieve", status, provider="anthropic")
    with pytest.raises(expected) as caught:
        await ops.status(batch_id)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert caught.value.request_id  # type: ignore[attr-defined]


async def test_unknown_batch(ops: AnthropicBatchOperations) -> None:
    with pytest.raises(BatchNotFoundError) as caught:
        await ops.info("msgbatch_01doesnotexist0000000000")
    assert caught.value.status_code == 404


async def test_delete_only_ended_batches(ops: AnthropicBatchOperations) -> None:
    batch_id = await ops.create({"a": "hi"})
    with pytest.raises(ProviderRequestError):
        await ops.delete(batch_id)
    await finish(ops, batch_id)
    await ops.delete(batch_id)
    with pytest.raises(BatchNotFoundError):
        await ops.info(batch_id)


async def test_split_job_round_trip(ops: AnthropicBatchOperations, emulator: Emulator) -> None:
    ops.limits = ProviderLimits(
        max_requests_per_batch=2,
        max_bytes_per_batch=1024 * 1024,
        custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
        custom_id_max_length=64,
    )
    requests = {f"key {i}": f"part {i}" for i in range(5)}
    results = await ops.invoke(requests, status_check_interval=0, max_iterations=20)
    assert {key: out.text for key, out in results.items()} == {
        f"key {i}": f"echo: part {i}" for i in range(5)
    }
    assert emulator.create_calls == 3


async def test_no_key_no_call() -> None:
    ops = AnthropicBatchOperations(model=MODEL, store=":memory:")
    with pytest.raises(MissingCredentialsError) as caught:
        await ops.status("msgbatch_x")
    assert caught.value.env_var == "ANTHROPIC_API_KEY"


async def test_key_is_never_shown(ops: AnthropicBatchOperations) -> None:
    secret = AnthropicBatchOperations(model=MODEL, api_key="sk-ant-secret", store=":memory:")
    assert "sk-ant-secret" not in repr(secret)
    assert "sk-ant-secret" not in repr(secret.settings)


# -- a wrong base URL is not an unknown batch ------------------------------------------------


async def test_create_404_names_the_base_url_not_an_unknown_batch(emulator: Emulator) -> None:
    wrong = emulator.anthropic_base_url.rstrip("/") + "/wrong-prefix"
    ops = AnthropicBatchOperations(model=MODEL, api_key=DUMMY_KEY, base_url=wrong, store=":memory:")
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({"a": "hi"})
    error = caught.value
    assert not isinstance(error, BatchNotFoundError | SubmissionUncertainError)
    assert error.status_code == 404
    assert "not found" in str(error)
    assert wrong in str(error)
    (job,) = ops.store.list_jobs()
    assert [chunk.state for chunk in job.chunks] == ["planned"]  # safe to send once fixed
    await ops.aclose()


async def test_create_answered_404_is_a_request_error_naming_the_base_url(
    emulator: Emulator, ops: AnthropicBatchOperations
) -> None:
    emulator.faults.fail("create", 404, nth=1, provider="anthropic")
    with pytest.raises(ProviderRequestError, match="not found at base URL") as caught:
        await ops.create({"a": "hi"})
    assert not isinstance(caught.value, BatchNotFoundError)


async def test_lone_surrogate_in_a_prompt_sends_nothing(
    emulator: Emulator, ops: AnthropicBatchOperations
) -> None:
    with pytest.raises(ValidationError) as caught:
        await ops.create({"fine": "hello", "bad": "half an emoji \ud83d"})
    assert caught.value.key == "bad"
    assert "lone surrogate" in str(caught.value)
    assert emulator.calls == []


def _spooled_chunk(tmp_path: Path, lines: list[bytes]) -> PreparedBatch:
    path = tmp_path / "chunk-00000.jsonl"
    path.write_bytes(b"".join(lines))
    return PreparedBatch(
        job_id="lmbjob_" + "1" * 32,
        chunk_index=0,
        path=path,
        request_count=len(lines),
        byte_size=path.stat().st_size,
    )


def _line(custom_id: str, text: str) -> bytes:
    return (json.dumps(_raw_request(custom_id) | {"x": text}, ensure_ascii=False) + "\n").encode()


async def test_create_body_is_the_spooled_lines_with_a_declared_length(
    tmp_path: Path, emulator: Emulator, recorded: tuple[AnthropicBatchOperations, Recorder]
) -> None:
    # The body is streamed from the chunk file rather than built in memory: it must still
    # be exactly {"requests": [...those records...]}, sent with a Content-Length (not
    # chunked), through the client's own auth.
    ops, recorder = recorded
    lines = [_line("a", "é ✓"), b"\n", _line("b", "x" * 300_000), _line("c", "")]
    batch_id = await ops.submit_batch(_spooled_chunk(tmp_path, lines))
    assert batch_id.startswith("msgbatch_")
    (create,) = recorder.sent("POST", "/v1/messages/batches")
    # The stream can be read again (here, after it was sent): nothing was held.
    body = b"".join([part async for part in cast(AsyncIterable[bytes], create.stream)])
    assert json.loads(body) == {"requests": [json.loads(line) for line in lines if line.strip()]}
    assert create.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in create.headers
    headers = create.headers
    assert DUMMY_KEY in (headers.get("x-api-key"), headers.get("authorization", "").split()[-1])
    assert emulator.submissions == {"a": 1, "b": 1, "c": 1}


async def test_create_from_a_damaged_spool_file_sends_nothing(
    tmp_path: Path, emulator: Emulator, ops: AnthropicBatchOperations
) -> None:
    batch = _spooled_chunk(tmp_path, [_line("a", "fine"), b'{"custom_id": "b", "par\n'])
    with pytest.raises(LMBatchError, match=r"line 2 of .*chunk-00000\.jsonl"):
        await ops.submit_batch(batch)
    assert emulator.create_calls == 0


def _answer_html(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, text="<html>gateway</html>", headers={"request-id": "req_1"})


def _lose_connection(request: httpx2.Request) -> httpx2.Response:
    raise httpx2.RemoteProtocolError("peer closed connection", request=request)


def _refuse(request: httpx2.Request) -> httpx2.Response:
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": "no"}}
    return httpx2.Response(400, json=error)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (_answer_html, SubmissionUncertainError),
        (_lose_connection, SubmissionUncertainError),
        (_refuse, ProviderRequestError),
    ],
)
async def test_streamed_create_keeps_the_may_have_happened_rule(
    tmp_path: Path, answer: Callable[[httpx2.Request], httpx2.Response], expected: type[Exception]
) -> None:
    # Whatever the body is made of, a create whose answer is unreadable or lost may have
    # made a batch (uncertain, reconciled later); a 4xx made none. One call, never retried.
    calls: list[bytes] = []

    async def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(await request.aread())
        return answer(request)

    ops = AnthropicBatchOperations(model=MODEL, api_key=DUMMY_KEY, store=":memory:")
    ops._client = anthropic.AsyncAnthropic(
        api_key=DUMMY_KEY,
        base_url="http://127.0.0.1:9",
        max_retries=2,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    with pytest.raises(expected) as caught:
        await ops.submit_batch(_spooled_chunk(tmp_path, [_line("a", "hi")]))
    assert type(caught.value) is expected
    assert len(calls) == 1
    assert json.loads(calls[0])["requests"][0]["custom_id"] == "a"
    await ops.aclose()


def _dead_owner() -> str:
    """An owner the store sees as gone: this process, which is not submitting the chunk."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
