"""GeminiBatchOperations end to end against the Gemini emulator: wire facts and faults."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import lmbatch_gemini._http
import lmbatch_gemini._operations
import pytest
from lmbatch_gemini import GeminiBatchOperations
from lmbatch_gemini._emulator import GeminiEmulator
from lmbatch_gemini._status import batch_info

import lmbatch
from lmbatch.provider import (
    AuthenticationError,
    BatchStatus,
    ConfigError,
    MissingCredentialsError,
    ProviderLimits,
    RateLimitError,
    SubmissionUncertainError,
)
from lmbatch.testing.emulator import Emulator, EmulatorSettings

MODEL = "gemini-2.5-flash"
FAST = {"status_check_interval": 0, "max_iterations": 30}
DATA = Path(__file__).resolve().parent / "data"


def vendor(server: Emulator) -> GeminiEmulator:
    found = server.state.vendors["gemini"]
    assert isinstance(found, GeminiEmulator)
    return found


@pytest.fixture
async def custom_server() -> AsyncIterator[Any]:
    """Start emulators with given Gemini options (stopped after the test)."""
    started: list[Emulator] = []

    async def start(**options: Any) -> Emulator:
        settings = EmulatorSettings(
            mode="polls", polls_per_step=2, vendor_options={"gemini": options}
        )
        server = Emulator(settings)
        await server.__aenter__()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.__aexit__(None, None, None)


# -------------------------------------------------------------------- submission modes


async def test_small_batches_go_inline_and_big_ones_as_a_file(
    make_ops: Any, gemini: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = make_ops()
    small = await ops.create({"a": "one", "b": "two"})
    assert gemini.batches[small].input_file is None  # inline
    assert gemini.batches[small].requests[0].key is not None
    monkeypatch.setattr(lmbatch_gemini._operations, "INLINE_LIMIT", 200)
    big = await ops.create({"c": "three " * 50})
    assert gemini.batches[big].input_file is not None
    assert [r.key for r in gemini.batches[big].requests] == [
        next(iter(gemini.batches[big].requests)).key
    ]


async def test_the_modes_and_their_limits(make_ops: Any) -> None:
    assert make_ops(mode="inline").limits.max_bytes_per_batch < 20_000_000
    assert make_ops(mode="file").limits.max_bytes_per_batch == 2 * 1024**3
    assert make_ops().limits.max_bytes_per_batch == 2 * 1024**3


async def test_a_job_over_the_limits_is_split_into_stamped_batches(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    ops = make_ops(mode="inline")
    ops.limits = ProviderLimits(
        max_requests_per_batch=2, max_bytes_per_batch=10**6, custom_id_pattern=r"[a-z0-9_-]{1,64}"
    )
    requests = {f"k{i}": f"echo {i}" for i in range(5)}
    results = await ops.invoke(requests, **FAST)
    assert sorted(results) == sorted(requests)
    assert all(output.text == f"echo: echo {key[1:]}" for key, output in results.items())
    names = sorted(batch.display_name for batch in gemini.batches.values())
    assert len(names) == 3
    assert [name.rsplit("=", 1)[1] for name in names] == ["0]", "1]", "2]"]


async def test_a_file_is_uploaded_in_chunks_and_deleted_after_the_results(
    make_ops: Any, gemini: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lmbatch_gemini._operations, "UPLOAD_CHUNK_BYTES", 100)
    ops = make_ops(mode="file")
    requests = {f"k{i}": f"a somewhat longer prompt number {i}" for i in range(6)}
    results = await ops.invoke(requests, **FAST)
    assert all(results[key].text == f"echo: {text}" for key, text in requests.items())
    uploads = [call for call in gemini.state.calls if call.operation == "upload"]
    assert len(uploads) > 3  # the start, then several chunks
    (batch,) = gemini.batches.values()
    assert batch.input_file is not None
    assert batch.input_file not in gemini.files  # deleted once read
    assert batch.output_file in gemini.files  # Gemini's own file stays


async def test_the_input_file_can_be_kept(make_ops: Any, gemini: GeminiEmulator) -> None:
    ops = make_ops(mode="file", delete_input_file=False)
    await ops.invoke({"a": "x"}, **FAST)
    (batch,) = gemini.batches.values()
    assert batch.input_file in gemini.files


# ---------------------------------------------------------------------- results


@pytest.mark.parametrize("results_in", ["response", "metadata"])
@pytest.mark.parametrize("mode", ["inline", "file"])
async def test_results_are_found_wherever_gemini_puts_them(
    custom_server: Any, results_in: str, mode: str
) -> None:
    server = await custom_server(results_in=results_in)
    ops = GeminiBatchOperations(
        model=MODEL, api_key="k", base_url=server.gemini_base_url, mode=mode, store=":memory:"
    )
    async with ops:
        results = await ops.invoke({"a": "one", "b": "two [[lmbatch:error=400]]"}, **FAST)
    assert results["a"].text == "echo: one"
    assert results["b"].error is not None
    assert results["b"].error.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("paths", [{"download"}, {"api"}])
async def test_both_download_url_forms(custom_server: Any, paths: set[str]) -> None:
    server = await custom_server(download_paths=frozenset(paths))
    ops = GeminiBatchOperations(
        model=MODEL, api_key="k", base_url=server.gemini_base_url, mode="file", store=":memory:"
    )
    async with ops:
        first = await ops.invoke({"a": "one"}, **FAST)
        second = await ops.invoke({"b": "two"}, **FAST)
    assert first["a"].text == "echo: one"
    assert second["b"].text == "echo: two"
    downloads = [call for call in server.calls if call.operation == "results"]
    assert all(call.status == 200 for call in downloads)  # the working form is remembered
    assert len(downloads) == 2
    assert all(
        call.path.startswith("/gemini/download/") == ("download" in paths) for call in downloads
    )


async def test_the_sdk_state_words(custom_server: Any) -> None:
    server = await custom_server(state_prefix="JOB_STATE_")
    ops = GeminiBatchOperations(
        model=MODEL, api_key="k", base_url=server.gemini_base_url, store=":memory:"
    )
    async with ops:
        batch_id = await ops.create({"a": "one"})
        assert (await ops.info(batch_id))["provider_status"] == "JOB_STATE_PENDING"
        results = await ops.invoke({"a": "one"}, reuse=False, **FAST)
    assert results["a"].ok


async def test_results_are_matched_by_key_not_by_position(
    ops: GeminiBatchOperations, gemini: GeminiEmulator
) -> None:
    batch_id = await ops.create({"first": "one", "second": "two"})
    gemini.state.finish(batch_id)
    info = await ops.info(batch_id)
    entries = info["raw"]["response"]["inlinedResponses"]["inlinedResponses"]
    entries.reverse()  # Gemini promises input order; lmbatch does not rely on it
    records = [record async for record in ops.iter_result_records(info, {})]
    texts = {record.custom_id: record.output.text for record in records}
    assert {cid.split("_lb")[0]: text for cid, text in texts.items()} == {
        "first": "echo: one",
        "second": "echo: two",
    }


async def test_a_batch_made_elsewhere_without_keys_gets_positions(
    ops: GeminiBatchOperations, emulator: Emulator
) -> None:
    body = {
        "batch": {
            "displayName": "made with curl",
            "inputConfig": {
                "requests": {
                    "requests": [
                        {"request": {"contents": [{"parts": [{"text": "one"}]}]}},
                        {"request": {"contents": [{"parts": [{"text": "two"}]}]}},
                    ]
                }
            },
        }
    }
    async with httpx.AsyncClient(headers={"x-goog-api-key": "k"}) as client:
        answer = await client.post(
            f"{emulator.gemini_base_url}/v1/models/{MODEL}:batchGenerateContent", json=body
        )
    batch_id = answer.json()["name"]
    emulator.finish(batch_id)
    results = await ops.retrieve(batch_id)
    assert {key: output.text for key, output in results.items()} == {
        "0": "echo: one",
        "1": "echo: two",
    }


async def test_thinking_and_usage_come_back(ops: GeminiBatchOperations) -> None:
    results = await ops.invoke(
        {"t": "Is 7 prime?"},
        {"thinking_config": {"include_thoughts": True, "thinking_budget": 512}},
        **FAST,
    )
    output = results["t"]
    assert output.thinking[0].text == "Thinking about: Is 7 prime?"
    assert output.thinking[1].signature  # kept to go on with the conversation
    assert output.token_usage is not None
    assert output.token_usage.reasoning_tokens == 16
    assert output.token_usage.output_tokens > 16


async def test_a_forced_tool_call(ops: GeminiBatchOperations) -> None:
    tool = {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    }
    results = await ops.invoke({"t": "Find it"}, {"tools": [tool], "tool_choice": "lookup"}, **FAST)
    (call,) = results["t"].tool_calls
    assert call.name == "lookup"
    assert results["t"].finish_reason == "tool_calls"


async def test_a_blocked_prompt_is_a_refusal(ops: GeminiBatchOperations) -> None:
    results = await ops.invoke({"r": "something [[refuse]]"}, **FAST)
    assert results["r"].refusal == "the prompt was blocked (SAFETY)"
    assert results["r"].finish_reason == "content_filter"


@pytest.mark.parametrize("mode", ["inline", "file"])
async def test_an_expired_batch_keeps_what_ran_and_says_expired(make_ops: Any, mode: str) -> None:
    ops = make_ops(mode=mode)
    results = await ops.invoke(
        {"ran": "fine", "late": "too late [[lmbatch:expire]]"}, resubmit=0, **FAST
    )
    assert results["ran"].text == "echo: fine"
    assert results["late"].error is not None
    assert results["late"].error.kind == "expired"


async def test_the_emulator_expiring_a_whole_batch(
    ops: GeminiBatchOperations, gemini: GeminiEmulator
) -> None:
    batch_id = await ops.create({"a": "one", "b": "two", "c": "three"})
    gemini.state.expire(batch_id, finished=1)
    assert await ops.status(batch_id) is BatchStatus.EXPIRED
    info = await ops.info(batch_id)
    assert info["request_counts"]["expired"] == 2
    results = await ops.retrieve(batch_id)
    assert [results[k].ok for k in "abc"] == [True, False, False]
    assert {results[k].error.kind for k in "bc"} == {"expired"}  # type: ignore[union-attr]


async def test_cancelled_requests_are_cancelled_not_missing(
    ops: GeminiBatchOperations, gemini: GeminiEmulator
) -> None:
    requests = {f"k{i}": f"text {i}" for i in range(4)}
    batch_id = await ops.create(requests)
    gemini.state.advance(batch_id)  # running: half of them finish before the cancel
    await ops.cancel(batch_id)
    assert await ops.status(batch_id) is BatchStatus.CANCELLED
    results = await ops.retrieve(batch_id)
    kinds = [results[key].error.kind if results[key].error else "ok" for key in requests]
    assert kinds == ["ok", "ok", "cancelled", "cancelled"]


async def test_a_failed_batch_says_why(ops: GeminiBatchOperations, gemini: GeminiEmulator) -> None:
    batch_id = await ops.create({"a": "one", "b": "two"})
    gemini.fail(batch_id, 3, "The input is not valid.")
    info = await ops.info(batch_id)
    assert info["status"] is BatchStatus.FAILED
    assert info["errors"][0]["message"] == "The input is not valid."
    assert info["errors"][0]["code"] == "INVALID_ARGUMENT"
    results = await ops.retrieve(batch_id)
    assert {output.error.message for output in results.values()} == {  # type: ignore[union-attr]
        "The input is not valid."
    }


async def test_lost_requests_are_resubmitted(
    ops: GeminiBatchOperations, gemini: GeminiEmulator
) -> None:
    gemini.state.faults.fail_key("lost", "omit")
    results = await ops.invoke({"lost": "x", "fine": "y"}, resubmit=0, **FAST)
    assert results["lost"].error is not None
    assert results["lost"].error.kind == "missing"
    # Transient errors (DEADLINE_EXCEEDED = 504) are resubmitted by invoke.
    gemini.state.faults.clear()
    gemini.state.faults.fail_key("slow", "error=504")
    outcome = await ops.invoke({"slow": "z"}, resubmit=1, **FAST)
    assert outcome["slow"].finish_details["lmbatch_round"] == 2
    assert gemini.state.submissions["slow"] == 2


# ----------------------------------------------------------------- faults and create


async def test_429_on_create_is_a_rate_limit_and_nothing_is_made(
    ops: GeminiBatchOperations, gemini: GeminiEmulator
) -> None:
    gemini.state.faults.fail("create", 429)
    with pytest.raises(RateLimitError) as caught:
        await ops.create({"a": "one"})
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert caught.value.status_code == 429
    assert gemini.batches == {}


async def test_a_failed_upload_sends_no_create(make_ops: Any, gemini: GeminiEmulator) -> None:
    gemini.state.faults.fail("upload", 400)
    with pytest.raises(lmbatch.ProviderError):
        await make_ops(mode="file").create({"a": "one"})
    assert gemini.state.create_calls == 0


async def test_a_refused_file_create_deletes_the_upload(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    gemini.state.faults.fail("create", 400)
    with pytest.raises(lmbatch.ProviderError):
        await make_ops(mode="file").create({"a": "one"})
    assert not any(not f.generated for f in gemini.files.values())


@pytest.mark.parametrize("mode", ["inline", "file"])
async def test_a_500_after_the_create_is_found_again_not_paid_twice(
    make_ops: Any, gemini: GeminiEmulator, mode: str
) -> None:
    ops = make_ops(mode=mode, create_settle_seconds=0)
    gemini.state.faults.fail("create", 500, nth=1, after_effect=True)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one", "b": "two"})
    # The same call again finds the batch by its stamped displayName.
    results = await ops.invoke({"a": "one", "b": "two"}, **FAST)
    assert results["a"].text == "echo: one"
    assert len(gemini.batches) == 1
    assert gemini.state.submissions["a"] == 1


async def test_no_outcome_is_made_up_for_a_batch_not_proven_the_chunks(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    # The create answered 500 but made the batch; it was cancelled before running.
    ops = make_ops(create_settle_seconds=0)
    gemini.state.faults.fail("create", 500, nth=1, after_effect=True)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one", "b": "two"})
    (batch_id,) = gemini.batches
    gemini.batches[batch_id].cancel()
    # Found by its stamp and adopted, it ended with no result: nothing proves it the
    # chunk's (cancelled outcomes made up from the job store would have "proven" it).
    with pytest.raises(lmbatch.SubmissionAmbiguousError):
        await ops.invoke({"a": "one", "b": "two"}, **FAST)


async def test_a_500_before_the_create_made_nothing_and_is_sent_again(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    ops = make_ops(create_settle_seconds=0)
    gemini.state.faults.fail("create", 500, nth=1)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one"})
    results = await ops.invoke({"a": "one"}, **FAST)
    assert results["a"].ok
    assert len(gemini.batches) == 1


async def test_the_search_reads_every_page(make_ops: Any, gemini: GeminiEmulator) -> None:
    ops = make_ops(list_page_size=1, create_settle_seconds=0)
    for i in range(3):
        await ops.create({"other": f"batch {i}"})
    gemini.state.faults.fail("create", 503, nth=1, after_effect=True)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"mine": "x"})
    # Newest first here, but the search does not rely on any order: all pages are read.
    await ops.invoke({"mine": "x"}, **FAST)
    assert gemini.state.submissions["mine"] == 1


async def test_a_download_cut_at_a_line_is_read_again(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    ops = make_ops(mode="file")
    ops.result_download_delays = (0.0,)
    tamper = gemini.state.faults.tamper("results", "drop_tail", times=1)
    requests = {f"k{i}": f"t{i}" for i in range(4)}
    results = await ops.invoke(requests, **FAST)
    assert tamper.fired == 1
    assert all(results[key].text == f"echo: t{key[1:]}" for key in requests)
    assert max(gemini.state.submissions.values()) == 1  # nothing resubmitted


async def test_a_truncated_download_loses_only_the_cut_line(
    make_ops: Any, gemini: GeminiEmulator
) -> None:
    ops = make_ops(mode="file")
    gemini.state.faults.tamper("results", "truncate")
    requests = {f"k{i}": f"t{i}" for i in range(4)}
    results = await ops.invoke(requests, resubmit=False, **FAST)
    bad = [output.error for output in results.values() if output.error is not None]
    assert [error.kind for error in bad] == ["invalid_response"]
    assert max(gemini.state.submissions.values()) == 1


@pytest.mark.parametrize("action", ["unknown_id", "duplicate_all"])
async def test_unknown_and_duplicate_lines_are_ignored(
    make_ops: Any, gemini: GeminiEmulator, action: str
) -> None:
    tamper = gemini.state.faults.tamper("results", action)  # type: ignore[arg-type]
    requests = {f"k{i}": f"t{i}" for i in range(3)}
    results = await make_ops(mode="file").invoke(requests, **FAST)
    assert tamper.fired >= 1
    assert sorted(results) == sorted(requests)
    assert all(output.ok for output in results.values())


@pytest.mark.parametrize("mode", ["inline", "file"])
async def test_a_duplicated_result_counts_once(make_ops: Any, mode: str) -> None:
    results = await make_ops(mode=mode).invoke(
        {"twice": "x [[lmbatch:duplicate]]", "once": "y"}, **FAST
    )
    assert results["twice"].text == "echo: x [[lmbatch:duplicate]]"
    assert results["once"].ok


async def test_a_malformed_line_is_one_outcome_not_a_lost_batch(make_ops: Any) -> None:
    ops = make_ops(mode="file")
    results = await ops.invoke({"bad": "x [[lmbatch:malformed]]", "good": "y"}, resubmit=0, **FAST)
    assert results["good"].ok
    assert results["bad"].error is not None
    assert results["bad"].error.kind == "invalid_response"


async def test_a_transient_status_error_is_retried_by_the_client(
    make_ops: Any, gemini: GeminiEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lmbatch_gemini._http, "_FIRST_PAUSE", 0.0)
    ops = make_ops(max_retries=2)
    batch_id = await ops.create({"a": "one"})
    fault = gemini.state.faults.fail("retrieve", 503, nth=1)
    assert await ops.status(batch_id) is BatchStatus.IN_PROGRESS
    assert fault.fired == 1


# ------------------------------------------------------------------ list, cancel, delete


async def test_list_follows_the_page_tokens(make_ops: Any) -> None:
    ops = make_ops(list_page_size=2)
    created = {await ops.create({"a": f"list {i}"}) for i in range(5)}
    listed = await ops.list()
    assert created <= {item["id"] for item in listed}
    assert all(item["id"].startswith("batches/") for item in listed)


async def test_delete(ops: GeminiBatchOperations, gemini: GeminiEmulator) -> None:
    batch_id = await ops.create({"a": "one"})
    await ops.delete(batch_id)
    assert batch_id not in gemini.batches
    with pytest.raises(lmbatch.BatchNotFoundError):
        await ops.status(batch_id)


async def test_a_bare_batch_id_is_taken_too(ops: GeminiBatchOperations) -> None:
    batch_id = await ops.create({"a": "one"})
    bare = batch_id.removeprefix("batches/")
    assert (await ops.fetch_batch(bare))["id"] == batch_id


# ------------------------------------------------------------------ auth and options


async def test_the_key_travels_in_the_header_only(make_ops: Any) -> None:
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    ops = make_ops(mode="file", api_key="secret-key")
    ops.http.client.event_hooks["request"].append(record)
    await ops.invoke({"a": "one"}, **FAST)
    assert len(sent) > 4  # upload, create, polls, download, deletion
    assert all(request.headers["x-goog-api-key"] == "secret-key" for request in sent)
    assert not any("secret-key" in str(request.url) for request in sent)


async def test_a_missing_or_refused_key(
    make_ops: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = GeminiBatchOperations(model=MODEL, base_url=emulator.gemini_base_url, store=":memory:")
    with pytest.raises(MissingCredentialsError, match="GEMINI_API_KEY"):
        await ops.create({"a": "one"})
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google")
    assert ops.api_key() == "from-google"  # the SDK's order
    monkeypatch.delenv("GOOGLE_API_KEY")
    assert ops.api_key() == "from-gemini"
    async with httpx.AsyncClient() as client:  # no key at all: Google's 403
        answer = await client.get(f"{emulator.gemini_base_url}/v1/batches")
    assert answer.status_code == 403
    assert answer.json()["error"]["status"] == "PERMISSION_DENIED"


async def test_an_invalid_key_is_an_authentication_error() -> None:
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
            ],
        }
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=body))
    ops = GeminiBatchOperations(model=MODEL, api_key="bad", store=":memory:", max_retries=0)
    ops.http._client = httpx.AsyncClient(transport=transport)
    with pytest.raises(AuthenticationError, match="API key not valid"):
        await ops.status("batches/x")
    await ops.aclose()


@pytest.mark.parametrize("version", ["v1", "v1beta"])
async def test_the_api_version(make_ops: Any, gemini: GeminiEmulator, version: str) -> None:
    ops = make_ops(api_version=version)
    await ops.invoke({"a": "one"}, **FAST)
    assert {call.path.split("/")[2] for call in gemini.state.calls} == {version}


def test_the_base_url_is_the_root_without_a_version(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="without a version"):
        GeminiBatchOperations(
            model=MODEL, base_url="https://generativelanguage.googleapis.com/v1beta"
        )
    ops = GeminiBatchOperations(model=MODEL, api_key="k", base_url="https://proxy.example/g/")
    assert ops.http.root == "https://proxy.example/g"
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1")
    with pytest.raises(ConfigError, match="without a version"):
        _ = GeminiBatchOperations(model=MODEL, api_key="k").http


async def test_the_base_url_from_the_sdk_variable(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.gemini_base_url)
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    ops = lmbatch.get_batch_operations("gemini", model=MODEL, store=":memory:")
    async with ops:
        results = await ops.invoke({"a": "one"}, **FAST)
    assert results["a"].ok


async def test_vendor_clock_and_token_count(ops: GeminiBatchOperations) -> None:
    assert await ops.vendor_date()
    estimate = await ops.estimate({"a": "one two three four"}, count_tokens="vendor")
    assert estimate.input_method == "vendor"


async def test_a_genuine_envelope_read_through_the_provider(ops: GeminiBatchOperations) -> None:
    info = batch_info(json.loads((DATA / "inline_succeeded.json").read_text()))
    records = {r.custom_id: r.output async for r in ops.iter_result_records(info, {})}
    assert records["capital"].text == "Paris."
    assert records["slow"].error is not None
    assert records["slow"].error.status_code == 504
