"""`lmbatch resolve`: settling by hand which batch an interrupted create made."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lmbatch import SubmissionUncertainError
from lmbatch._store_contract import Store, open_store
from lmbatch.testing import FakeBatchOperations, default_backend

from .conftest import Invoke


@pytest.fixture(autouse=True)
def store_location(isolated: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test once per backend: the CLI's store (``LMBATCH_STORE``) is SQLite, then
    PostgreSQL."""
    monkeypatch.setenv("LMBATCH_STORE", store_url)
    return store_url


def _store(tmp_path: Path) -> Store:
    return open_store(os.environ["LMBATCH_STORE"])


def _interrupted_submit(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("submit", str(prompts), "-p", "fake")
    assert outcome.exit_code == 1


def _job_id(tmp_path: Path) -> str:
    store = _store(tmp_path)
    try:
        (job,) = store.list_jobs()
        assert job.chunks[0].state == "submitting"
        return job.job_id
    finally:
        store.close()


def _resume(lmbatch: Invoke, job_id: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "out.jsonl"
    resumed = lmbatch("resume", job_id, "-o", str(out), "--poll-interval", "0")
    assert resumed.exit_code == 0, resumed.stderr
    return {line["key"]: line for line in map(json.loads, out.read_text().splitlines())}


def _made_then_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vendor makes the batch, the client never learns its id."""
    original = FakeBatchOperations.submit_batch

    async def submit(self: FakeBatchOperations, batch: Any) -> str:
        await original(self, batch)
        raise SubmissionUncertainError("(test) connection lost", provider="fake")

    monkeypatch.setattr(FakeBatchOperations, "submit_batch", submit)


def test_not_created_lets_resume_send_the_chunk(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    default_backend.fail_next("submit", SubmissionUncertainError("lost", provider="fake"))
    _interrupted_submit(lmbatch, prompts)
    job_id = _job_id(tmp_path)
    said = lmbatch("resolve", job_id, "--chunk", "0", "--not-created")
    assert said.exit_code == 0, said.stderr
    assert f"lmbatch resume {job_id}" in said.stderr
    results = _resume(lmbatch, job_id, tmp_path)
    assert sorted(results) == ["a", "b", "c"]
    assert all(line["ok"] for line in results.values())
    assert sorted(default_backend.submissions.values()) == [1, 1, 1]


def test_adopted_batch_is_used_without_sending_again(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patched:
        _made_then_interrupted(patched)
        _interrupted_submit(lmbatch, prompts)
    job_id = _job_id(tmp_path)
    (batch_id,) = default_backend.batches
    said = lmbatch("resolve", job_id, "--chunk", "0", "--adopt", batch_id, "--json")
    assert said.exit_code == 0, said.stderr
    assert said.json()["adopted"] == batch_id
    results = _resume(lmbatch, job_id, tmp_path)
    assert all(line["ok"] for line in results.values())
    assert default_backend.calls["submit"] == 1
    assert sorted(default_backend.submissions.values()) == [1, 1, 1]


def test_a_wrongly_adopted_batch_is_never_read_and_the_chunk_is_sent(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    """The user adopts someone else's batch: its results are checked and refused."""
    stranger = tmp_path / "theirs.jsonl"
    stranger.write_text(
        "".join(json.dumps({"key": k, "input": f"not ours {k}"}) + "\n" for k in "abc")
    )
    theirs = lmbatch("submit", str(stranger), "-p", "fake", "--store", str(tmp_path / "b.db"))
    assert theirs.exit_code == 0, theirs.stderr
    default_backend.fail_next("submit", SubmissionUncertainError("lost", provider="fake"))
    _interrupted_submit(lmbatch, prompts)
    job_id = _job_id(tmp_path)
    (their_batch,) = default_backend.batches
    assert lmbatch("resolve", job_id, "--chunk", "0", "--adopt", their_batch).exit_code == 0
    results = _resume(lmbatch, job_id, tmp_path)
    assert {key: line["text"] for key, line in results.items()} == {
        "a": "echo: hello",
        "b": "echo: world",
        "c": "echo: Hi there",
    }
    store = _store(tmp_path)
    try:
        assert len(store.list_jobs()) == 1  # answered in round 1: their results were refused
    finally:
        store.close()
    # Their batch stays theirs: asking this store for it names the job to use instead.
    refused = lmbatch("results", their_batch, "-p", "fake")
    assert refused.exit_code != 0
    assert job_id in refused.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--chunk", "0"], "either --adopt BATCH_ID or --not-created"),
        (["--chunk", "0", "--adopt", "x", "--not-created"], "either --adopt"),
        (["--chunk", "3", "--not-created"], "not chunk 3"),
    ],
)
def test_resolve_refuses_unclear_orders(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    default_backend.fail_next("submit", SubmissionUncertainError("lost", provider="fake"))
    _interrupted_submit(lmbatch, prompts)
    outcome = lmbatch("resolve", _job_id(tmp_path), *args)
    assert outcome.exit_code == 2
    assert expected in outcome.stderr
    assert len(outcome.error_lines) == 1


def test_resolve_never_replaces_a_batch_the_create_returned(lmbatch: Invoke, prompts: Path) -> None:
    submitted = lmbatch("submit", str(prompts), "-p", "fake")
    batch_id = submitted.stdout.strip()
    outcome = lmbatch("resolve", batch_id, "--chunk", "0", "--adopt", "fake_other")
    assert outcome.exit_code == 1
    assert "nothing to resolve" in outcome.stderr


def test_resolve_of_an_unknown_job_is_one_line(lmbatch: Invoke) -> None:
    outcome = lmbatch("resolve", "lmbjob_nope", "--chunk", "0", "--not-created")
    assert outcome.exit_code == 1
    assert "lmbjob_nope" in outcome.stderr
