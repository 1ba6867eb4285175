"""Workers drive detached jobs to the end, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import lmbatch
import lmbatch.worker
from lmbatch import open_store
from lmbatch.cli._app import app
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.worker._support import detach_job, spawn_worker


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_submit_detach_records_the_job_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    store = str(tmp_path / "jobs.sqlite3")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"key": f"q{i}", "input": f"Hi {i}"}) + "\n" for i in range(3))
    )
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        code, out, err = _cli(
            "submit", str(prompts), "-p", "openai", "-m", "gpt-4.1-mini", "--store", store,
            "-O", f"base_url={emulator.openai_base_url}", "--detach", "--json",
        )  # fmt: skip
        assert code == 0, err
        submitted = json.loads(out)
        assert submitted["detached"] is True
        job_id = submitted["id"]
        assert job_id.startswith("lmbjob_")
        assert emulator.create_calls == 0
        assert emulator.calls == []  # not even an upload
        code, out, err = _cli("jobs", "--store", store, "--json")
        assert code == 0, err
        rows = json.loads(out)
        assert [(row["id"], row["status"]) for row in rows] == [(job_id, "pending")]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_worker_once_drives_a_detached_job_to_done(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = (
        str(tmp_path / "jobs.sqlite3")
        if backend == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as emulator:
        job_id = detach_job(emulator, url, count=40, chunk_size=10)
        assert emulator.create_calls == 0
        events: list[lmbatch.worker.WorkerEvent] = []
        report = lmbatch.worker.run(
            trust_store_endpoints=True,
            store=url, once=True, poll_interval=0.01, lease_seconds=5, on_event=events.append,
            create_settle_seconds=0.5,
        )  # fmt: skip
        assert report.finished == [job_id]
        assert report.outcomes == 40
        assert [e.event for e in events][:2] == ["started", "claimed"]
        assert events[-1].event == "stopped"
        assert emulator.create_calls == 4
        assert sorted(emulator.submissions.values()) == [1] * 40
    # The results are in the store: read without the vendor (the emulator is gone).
    code, out, err = _cli("results", job_id, "--store", url)
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(f"k{i}" for i in range(40))
    assert all(line["ok"] and line["text"] == f"echo: Question {line['key']}?" for line in lines)
    store = open_store(url)
    try:
        queued = store.queued_job(job_id)
        assert queued is not None
        assert queued.state == "done"
        assert queued.summary == {
            "state": "done",
            "outcomes": 40,
            "ok": 40,
            "failed": 0,
            "rounds": 1,
        }
        assert store.queued_jobs() == []
        assert store.worker_alive(report.worker) is None  # it left cleanly
    finally:
        store.close()


def test_worker_resubmits_per_the_jobs_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    settings = EmulatorSettings(mode="polls", key_faults={"k3": "expire"})
    with Emulator(settings) as emulator:
        job_id = detach_job(emulator, url, count=6, chunk_size=3)
        report = lmbatch.worker.run(
            trust_store_endpoints=True, store=url, once=True, poll_interval=0.01, lease_seconds=5
        )
        assert report.finished == [job_id]
        # The default policy: an expired request goes into two more rounds.
        assert emulator.submissions["k3"] == 3
        assert emulator.submissions["k2"] == 1
    store = open_store(url)
    try:
        kept = {key: json.loads(text) for key, text in store.iter_saved_results(job_id)}
        assert len(kept) == 6
        assert kept["k3"]["error"]["kind"] == "expired"
        assert kept["k3"]["finish_details"]["lmbatch_round"] == 3  # the last round's outcome
        assert kept["k2"]["error"] is None
        assert len(store.child_jobs(job_id)) == 1
    finally:
        store.close()


def test_sigterm_mid_run_releases_claims_and_a_second_worker_finishes(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = EmulatorSettings(mode="polls", polls_per_step=3, create_delay=0.3)
    with Emulator(settings) as emulator:
        job_id = detach_job(emulator, postgres_url, count=60, chunk_size=10)
        first = spawn_worker(
            postgres_url, tmp_path / "a", "--poll-interval", "0.05", "--lease", "30"
        )
        assert first.stderr is not None
        # Stop it once its first create call is under way.
        deadline = time.monotonic() + 60
        while emulator.create_calls == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        events = [json.loads(line)["event"] for line in err.splitlines() if line.startswith("{")]
        assert "released" in events, err
        assert events[-1] == "stopped", err
        store = open_store(postgres_url)
        try:
            queued = store.queued_job(job_id)
            assert queued is not None
            assert (queued.state, queued.owner) == ("pending", None)
            job = store.get_job(job_id)
            assert job is not None
            # The create in progress finished and was recorded; nothing is left uncertain.
            assert {c.state for c in job.chunks} <= {"planned", "submitted"}
            assert any(c.state == "submitted" for c in job.chunks)
            assert any(c.state == "planned" for c in job.chunks)
        finally:
            store.close()
        second = spawn_worker(
            postgres_url, tmp_path / "b", "--once", "--poll-interval", "0.05", "--lease", "30"
        )
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert sorted(emulator.submissions.values()) == [1] * 60
    store = open_store(postgres_url)
    try:
        assert len(list(store.iter_saved_results(job_id))) == 60
        assert store.queued_job(job_id).state == "done"  # type: ignore[union-attr]
    finally:
        store.close()


def test_worker_command_refuses_bad_options() -> None:
    code, _, err = _cli("worker", "--concurrency", "0")
    assert code != 0
    assert "--concurrency" in err


def test_worker_options_are_checked() -> None:
    with pytest.raises(lmbatch.ValidationError, match="lease"):
        lmbatch.worker.run(lease_seconds=0)


def test_worker_takes_only_the_jobs_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        first = detach_job(emulator, url, count=3, chunk_size=3, prefix="a")
        second = detach_job(emulator, url, count=3, chunk_size=3, prefix="b")
        report = lmbatch.worker.run(
            trust_store_endpoints=True,
            store=url,
            once=True,
            poll_interval=0.01,
            lease_seconds=5,
            job_ids=[second],
        )
        assert report.finished == [second]
        assert sorted(emulator.submissions) == ["b0", "b1", "b2"]
        report = lmbatch.worker.run(
            trust_store_endpoints=True,
            store=url,
            once=True,
            poll_interval=0.01,
            lease_seconds=5,
            provider="anthropic",
        )
        assert report.finished == []
    store = open_store(url)
    try:
        assert [q.job_id for q in store.queued_jobs()] == [first]
    finally:
        store.close()


def test_a_job_that_keeps_failing_is_retried_then_marked_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        job_id = detach_job(emulator, url, count=3, chunk_size=3)
        monkeypatch.delenv("OPENAI_API_KEY")  # this worker's machine has no key
        events: list[lmbatch.worker.WorkerEvent] = []
        report = lmbatch.worker.run(
            trust_store_endpoints=True,
            store=url, once=True, poll_interval=0.01, lease_seconds=5, max_failures=2,
            retry_delay=0, on_event=events.append,
        )  # fmt: skip
        assert report.failed == [job_id]
        assert emulator.create_calls == 0
    about_job = [e for e in events if e.job_id]
    assert [e.event for e in about_job] == ["claimed", "retrying", "claimed", "failed"]
    assert "OPENAI_API_KEY" in about_job[-1].details["error"]
    store = open_store(url)
    try:
        queued = store.queued_job(job_id)
        assert queued is not None
        assert queued.state == "failed"
        assert queued.failures == 1  # the last failure is in the summary
        assert "OPENAI_API_KEY" in str(queued.summary)
    finally:
        store.close()


def test_a_worker_whose_lease_was_taken_stops_driving_the_job_without_leaving_it_uncertain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    settings = EmulatorSettings(mode="polls", polls_per_step=1000, create_delay=0.1)
    with Emulator(settings) as emulator:
        job_id = detach_job(emulator, url, count=30, chunk_size=10)
        events: list[lmbatch.worker.WorkerEvent] = []

        async def scenario() -> lmbatch.worker.WorkerReport:
            stop, lost = asyncio.Event(), asyncio.Event()

            def seen(event: lmbatch.worker.WorkerEvent) -> None:
                events.append(event)
                if event.event == "lease_lost":
                    lost.set()

            worker = asyncio.create_task(
                lmbatch.worker.serve(
                    trust_store_endpoints=True,
                    stop=stop,
                    store=url,
                    poll_interval=0.02,
                    lease_seconds=0.3,
                    on_event=seen,
                )
            )
            while emulator.create_calls == 0:  # noqa: ASYNC110 - counted in another thread
                await asyncio.sleep(0.01)
            # Another worker takes the job over (as if this one's lease had lapsed).
            thief = open_store(url)
            try:
                owner = thief.queued_job(job_id).owner  # type: ignore[union-attr]
                assert owner is not None
                thief.release_queued_job(job_id, owner)
                assert thief.claim_queued_job("thief:1", 600) == job_id
            finally:
                thief.close()
            await asyncio.wait_for(lost.wait(), 60)
            await asyncio.sleep(0.5)
            stop.set()
            return await worker

        report = asyncio.run(scenario())
    assert report.finished == []
    assert job_id not in report.released  # not ours to release any more
    store = open_store(url)
    try:
        queued = store.queued_job(job_id)
        assert queued is not None
        assert queued.owner == "thief:1"
        job = store.get_job(job_id)
        assert job is not None
        # The create that was running finished and was recorded: nothing left uncertain.
        assert all(c.state != "submitting" for c in job.chunks), job.chunks
    finally:
        store.close()


def test_results_of_a_worker_finished_job_after_a_retry_give_the_retried_outcomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcomes a worker kept are not read once a later round (a retry) exists."""
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls", key_faults={"k1": "error=400"})) as emulator:
        job_id = detach_job(emulator, url, count=4, chunk_size=2)
        report = lmbatch.worker.run(
            trust_store_endpoints=True, store=url, once=True, poll_interval=0.01, lease_seconds=5
        )
        assert report.finished == [job_id]
        emulator.faults.clear()
        code, out, err = _cli(
            "retry", job_id, "--failed", "--wait", "--store", url,
            "-O", f"base_url={emulator.openai_base_url}", "--json",
        )  # fmt: skip
        assert code == 0, (out, err)
        assert emulator.submissions["k1"] == 2
        code, out, err = _cli(
            "results", job_id, "--store", url, "-O", f"base_url={emulator.openai_base_url}"
        )
    assert code == 0, err
    rows = {row["key"]: row for row in map(json.loads, out.splitlines())}
    assert set(rows) == {"k0", "k1", "k2", "k3"}
    assert rows["k1"]["error"] is None, rows["k1"]
    assert rows["k1"]["text"] == "echo: Question k1?"


def test_retry_of_a_worker_finished_job_finds_its_failed_keys_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcomes a worker kept say which keys failed: no result file is read again."""
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls", key_faults={"k1": "error=400"})) as emulator:
        job_id = detach_job(emulator, url, count=4, chunk_size=2)
        report = lmbatch.worker.run(
            trust_store_endpoints=True, store=url, once=True, poll_interval=0.01, lease_seconds=5
        )
        assert report.finished == [job_id]
        emulator.faults.clear()

        def downloads() -> int:
            return sum(call.operation == "content" for call in emulator.calls)

        before = downloads()
        assert before >= 2  # the worker read both batches' results
        code, out, err = _cli(
            "retry", job_id, "--failed", "--store", url,
            "-O", f"base_url={emulator.openai_base_url}", "--json",
        )  # fmt: skip
        assert code == 0, (out, err)
        assert json.loads(out)["retried"] == 1
        assert emulator.submissions["k1"] == 2
        assert downloads() == before


def test_a_job_recorded_on_another_server_gets_no_key_unless_the_worker_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whoever can write to a shared store must not choose where a worker's key goes."""
    url = str(tmp_path / "jobs.sqlite3")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        refused = detach_job(emulator, url, count=2, chunk_size=2, prefix="r")
        events: list[lmbatch.worker.WorkerEvent] = []
        report = lmbatch.worker.run(
            store=url, once=True, poll_interval=0.01, lease_seconds=5, max_failures=1,
            on_event=events.append,
        )  # fmt: skip
        assert report.failed == [refused]
        assert emulator.calls == []  # not even a status check: the key never left
        (failed,) = [event for event in events if event.event == "failed"]
        assert "base_url" in failed.details["error"]
        assert "--trust-store-endpoints" in failed.details["error"]
        # Named by the worker's operator, the same server is used.
        named = detach_job(emulator, url, count=2, chunk_size=2, prefix="n")
        report = lmbatch.worker.run(
            store=url, once=True, poll_interval=0.01, lease_seconds=5,
            base_url=emulator.openai_base_url,
        )  # fmt: skip
        assert report.finished == [named]
        assert sorted(emulator.submissions.values()) == [1, 1]
