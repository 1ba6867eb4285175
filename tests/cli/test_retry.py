"""``lmbatch retry JOB --failed`` against the emulator: only the failed keys are sent again."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.cli.conftest import Invoke

KEYS = [f"q{i}" for i in range(6)]


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        yield emulator


@pytest.fixture
def emulator(served: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    served.reset()
    yield served
    served.reset()


@pytest.fixture
def questions(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text(
        "".join(json.dumps({"key": key, "input": f"Question {key}?"}) + "\n" for key in KEYS)
    )
    return path


def _vendor(emulator: Emulator) -> list[str]:
    return [
        "-O",
        f"base_url={emulator.openai_base_url}",
        "-O",
        "api_key=test",
        "-O",
        "max_retries=0",
    ]


def _records(path: Path) -> dict[str, dict[str, object]]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len({line["key"] for line in lines})  # one line per key
    return {line["key"]: line for line in lines}


def _run(lmbatch: Invoke, emulator: Emulator, questions: Path, out: Path) -> str:
    """``lmbatch run`` with q1 and q4 refused for good; returns the id it printed."""
    emulator.faults.fail_key("q1", "error=400")
    emulator.faults.fail_key("q4", "error=400")
    outcome = lmbatch(
        "run",
        str(questions),
        "-p",
        "openai",
        "-m",
        "gpt-4.1-mini",
        *_vendor(emulator),
        "--poll-interval",
        "0",
        "-o",
        str(out),
        "--json",
    )
    assert outcome.exit_code == 3, outcome.stderr
    emulator.faults.clear()
    batch_id: str = outcome.json()["id"]
    return batch_id


def test_retry_sends_only_the_failed_keys_then_results_give_each_key_once(
    lmbatch: Invoke, emulator: Emulator, questions: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first.jsonl"
    batch_id = _run(lmbatch, emulator, questions, first)
    assert {key for key, line in _records(first).items() if not line["ok"]} == {"q1", "q4"}
    before = Counter(emulator.submissions)
    retried = lmbatch("retry", batch_id, "--failed", *_vendor(emulator), "--json")
    assert retried.exit_code == 0, retried.stderr
    report = retried.json()
    assert report["failed"] == 2
    assert report["retried"] == 2
    assert report["rounds"][0]["round"] == 2
    assert emulator.submissions - before == Counter({"q1": 1, "q4": 1})
    waited = lmbatch("wait", report["batch_id"], "--poll-interval", "0", "--no-progress")
    assert waited.exit_code == 0, waited.stderr
    # The job, as results: every key once, the retried ones now ok.
    out = tmp_path / "latest.jsonl"
    written = lmbatch("results", batch_id, "-o", str(out))
    assert written.exit_code == 0, written.stderr
    records = _records(out)
    assert set(records) == set(KEYS)
    assert all(line["ok"] for line in records.values())
    # The jobs list shows the round.
    (job,) = lmbatch("jobs", "--json").json()
    assert job["rounds"] == 2
    # Nothing failed any more: retry says so and sends nothing (twice is the same).
    for _ in range(2):
        again = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
        assert again.exit_code == 0, again.stderr
        assert "nothing to retry" in again.stderr
    assert emulator.submissions - before == Counter({"q1": 1, "q4": 1})


def test_retry_wait_writes_every_key_with_run_exit_codes(
    lmbatch: Invoke, emulator: Emulator, questions: Path, tmp_path: Path
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    emulator.faults.fail_key("q4", "error=400")  # still refused: q1 is fixed, q4 is not
    out = tmp_path / "out.jsonl"
    args = ["retry", batch_id, "--failed", *_vendor(emulator), "--poll-interval", "0"]
    outcome = lmbatch(*args, "-o", str(out), "--json")
    assert outcome.exit_code == 3, outcome.stderr
    report = outcome.json()
    assert report["outcomes"] == {"ok": 5, "errored": 1}
    records = _records(out)
    assert set(records) == set(KEYS)
    assert records["q1"]["ok"]
    assert not records["q4"]["ok"]
    assert "round 2: retrying 2 requests" in outcome.stderr
    allowed = lmbatch(*args, "-o", str(out), "--allow-failures")
    assert allowed.exit_code == 0, allowed.stderr
    assert "round 3: retrying 1 request" in allowed.stderr


def test_retry_of_an_unfinished_job_is_refused_with_the_command_to_wait(
    lmbatch: Invoke, emulator: Emulator, questions: Path
) -> None:
    submitted = lmbatch(
        "submit", str(questions), "-p", "openai", "-m", "gpt-4.1-mini", *_vendor(emulator)
    )
    assert submitted.exit_code == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    before = Counter(emulator.submissions)
    outcome = lmbatch("retry", batch_id, "--failed", *_vendor(emulator), "--json")
    assert outcome.exit_code == 1
    error = outcome.json()["error"]
    assert error["type"] == "BatchNotFinishedError"
    assert "is not finished" in error["message"]
    assert f"lmbatch wait {batch_id}" in error["message"]
    assert emulator.submissions == before


def test_retry_without_kept_input_needs_the_request_file(
    lmbatch: Invoke, emulator: Emulator, questions: Path, tmp_path: Path
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    discarded = lmbatch("retry", batch_id, "--discard-input", "--json")
    assert discarded.exit_code == 0, discarded.stderr
    assert discarded.json()["discarded"] is True
    before = Counter(emulator.submissions)
    refused = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
    assert refused.exit_code == 1
    assert "--requests FILE" in refused.stderr
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"key": "q0", "input": "Something else"}) + "\n")
    wrong = lmbatch("retry", batch_id, "--failed", "--requests", str(other), *_vendor(emulator))
    assert wrong.exit_code != 0
    assert "not those of job" in wrong.stderr
    assert emulator.submissions == before
    out = tmp_path / "out.jsonl"
    fixed = lmbatch(
        "retry",
        batch_id,
        "--failed",
        "--requests",
        str(questions),
        *_vendor(emulator),
        "--poll-interval",
        "0",
        "-o",
        str(out),
    )
    assert fixed.exit_code == 0, fixed.stderr
    assert emulator.submissions - before == Counter({"q1": 1, "q4": 1})
    assert all(line["ok"] for line in _records(out).values())


def test_retry_says_which_keys_to_retry(lmbatch: Invoke) -> None:
    outcome = lmbatch("retry", "lmbjob_x")
    assert outcome.exit_code == 2
    assert "--failed" in outcome.stderr
    bad = lmbatch("retry", "lmbjob_x", "--only", "late")
    assert bad.exit_code == 2
    assert "unknown kind" in bad.stderr


def test_wait_on_the_job_waits_for_its_retry_round_and_writes_every_key(
    lmbatch: Invoke, emulator: Emulator, questions: Path, tmp_path: Path
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    retried = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
    assert retried.exit_code == 0, retried.stderr
    # The hint names the job, whose wait covers the round.
    assert f"lmbatch wait {batch_id} -o OUT.jsonl" in retried.stderr
    round_id = retried.stdout.strip()
    assert round_id != batch_id
    out = tmp_path / "out.jsonl"
    waited = lmbatch("wait", batch_id, "--poll-interval", "0", "--no-progress", "-o", str(out))
    assert waited.exit_code == 0, waited.stderr
    records = _records(out)
    assert set(records) == set(KEYS)
    assert all(line["ok"] for line in records.values())
    # The round ended while the job was waited for.
    round_status = lmbatch("status", round_id, *_vendor(emulator), "--json")
    assert round_status.json()["status"] == "finished"


def test_wait_on_the_job_exits_3_when_the_retry_left_keys_failed(
    lmbatch: Invoke, emulator: Emulator, questions: Path, tmp_path: Path
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    emulator.faults.fail_key("q4", "error=400")  # still refused: q1 is fixed, q4 is not
    retried = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
    assert retried.exit_code == 0, retried.stderr
    out = tmp_path / "out.jsonl"
    args = ["wait", batch_id, "--poll-interval", "0", "--no-progress", "-o", str(out)]
    waited = lmbatch(*args)
    assert waited.exit_code == 3, waited.stderr
    records = _records(out)
    assert set(records) == set(KEYS)
    assert records["q1"]["ok"]
    assert not records["q4"]["ok"]
    assert lmbatch(*args, "--allow-failures").exit_code == 0


def test_status_of_the_job_is_running_while_its_retry_round_runs(
    lmbatch: Invoke,
    emulator: Emulator,
    questions: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    finished = lmbatch("status", batch_id, *_vendor(emulator), "--json")
    assert finished.json()["status"] == "finished"
    retried = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
    assert retried.exit_code == 0, retried.stderr
    # The round stays where it is however often it is looked at.
    monkeypatch.setattr(emulator.settings, "polls_per_step", 1_000_000)
    for _ in range(2):
        running = lmbatch("status", batch_id, *_vendor(emulator), "--json")
        assert running.exit_code == 0, running.stderr
        assert running.json()["status"] == "in_progress"
    emulator.finish()
    done = lmbatch("status", batch_id, *_vendor(emulator), "--json")
    assert done.json()["status"] == "finished"


def test_cancel_of_the_job_cancels_its_running_retry_round(
    lmbatch: Invoke,
    emulator: Emulator,
    questions: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch_id = _run(lmbatch, emulator, questions, tmp_path / "first.jsonl")
    retried = lmbatch("retry", batch_id, "--failed", *_vendor(emulator))
    assert retried.exit_code == 0, retried.stderr
    round_id = retried.stdout.strip()
    monkeypatch.setattr(emulator.settings, "polls_per_step", 1_000_000)
    cancelled = lmbatch("cancel", batch_id, *_vendor(emulator))
    assert cancelled.exit_code == 0, cancelled.stderr
    status = lmbatch("status", round_id, *_vendor(emulator), "--json")
    assert status.json()["status"] in ("canceling", "cancelled")
