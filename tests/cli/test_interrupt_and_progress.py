"""Ctrl-C while waiting, and the progress display."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from lmbatch import BatchInfo, BatchStatus
from lmbatch._jobs._orchestrator import Orchestrator
from lmbatch._status import empty_counts
from lmbatch.cli import _run_commands
from lmbatch.cli._progress import BatchProgress
from lmbatch.testing import default_backend
from tests.cli.conftest import Invoke


@pytest.fixture
def interrupt_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the first wait raise KeyboardInterrupt, as Ctrl-C does inside asyncio.run."""

    async def interrupted(*args: Any, **kwargs: Any) -> BatchInfo:
        raise KeyboardInterrupt

    monkeypatch.setattr(_run_commands, "wait_until_done", interrupted)
    # `lmbatch run` waits inside BatchOperations.invoke (its orchestrator's wait).
    monkeypatch.setattr(Orchestrator, "wait", interrupted)


@pytest.mark.usefixtures("interrupt_waiting")
def test_ctrl_c_leaves_the_batch_and_says_how_to_resume(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", "out.jsonl")
    assert outcome.exit_code == 130
    (batch_id,) = default_backend.batches
    assert f"{batch_id} is still running" in outcome.stderr
    assert f"lmbatch wait {batch_id} -o out.jsonl" in outcome.stderr
    assert default_backend.calls["cancel"] == 0


@pytest.mark.usefixtures("interrupt_waiting")
@pytest.mark.parametrize("command", ["run", "wait"])
def test_ctrl_c_is_a_json_error_under_json(lmbatch: Invoke, prompts: Path, command: str) -> None:
    default_backend.script_next_batch(polls_until_done=10)
    target = str(prompts)
    if command == "wait":
        target = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    outcome = lmbatch(command, target, "-p", "fake", "-o", "out.jsonl", "--json")
    assert outcome.exit_code == 130
    (batch_id,) = default_backend.batches
    assert outcome.json() == {
        "error": {"type": "Interrupted", "message": "interrupted (Ctrl-C)", "batch_id": batch_id}
    }
    assert f"lmbatch wait {batch_id} -o out.jsonl" in outcome.stderr


@pytest.mark.usefixtures("interrupt_waiting")
def test_ctrl_c_can_cancel(lmbatch: Invoke, prompts: Path) -> None:
    default_backend.script_next_batch(polls_until_done=10)
    outcome = lmbatch("run", str(prompts), "-p", "fake", "--on-interrupt", "cancel")
    assert outcome.exit_code == 130
    (batch_id,) = default_backend.batches
    assert f"cancel requested for {batch_id}" in outcome.stderr
    assert default_backend.batches[batch_id].cancel_requested


@pytest.mark.usefixtures("interrupt_waiting")
def test_ctrl_c_asks_when_stdin_is_a_terminal(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default_backend.script_next_batch(polls_until_done=10)
    monkeypatch.setattr(_run_commands, "stdin_is_terminal", lambda: True)
    outcome = lmbatch("run", str(prompts), "-p", "fake", input="maybe\ncancel\n")
    assert outcome.exit_code == 130
    (batch_id,) = default_backend.batches
    assert f"Cancel batch {batch_id}, or leave it running?" in outcome.stderr
    assert default_backend.batches[batch_id].cancel_requested


def _info(status: BatchStatus, done: int, total: int, **extra: Any) -> BatchInfo:
    counts = empty_counts(total)
    counts["succeeded"] = done
    counts["processing"] = total - done
    info = BatchInfo(
        id="batch_1",
        provider="fake",
        status=status,
        provider_status="running",
        created_at=datetime.now(UTC),
        request_counts=counts,
        model="m",
        metadata={},
        errors=[],
        raw={},
    )
    info.update(extra)  # type: ignore[typeddict-item]
    return info


def test_progress_shows_counts_and_status_on_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    with BatchProgress(console) as progress:
        assert progress.enabled
        progress.update(_info(BatchStatus.IN_PROGRESS, 0, 0))
        progress.update(_info(BatchStatus.IN_PROGRESS, 4, 10))
        progress.update(_info(BatchStatus.FINISHED, 10, 10))
    text = stream.getvalue()
    assert "batch_1" in text
    assert "10/10" in text
    assert "finished (running)" in text


def test_progress_has_a_row_per_batch_of_a_job() -> None:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    parts = [_info(BatchStatus.IN_PROGRESS, 1, 5, id=f"batch_{n}") for n in (1, 2)]
    job = _info(BatchStatus.IN_PROGRESS, 2, 10, id="lmbjob_x", batches=parts)
    with BatchProgress(console) as progress:
        progress.update(job)
    text = stream.getvalue()
    assert "lmbjob_x" in text
    assert "  batch_2" in text


def test_progress_is_off_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with BatchProgress(Console(file=stream)) as progress:
        assert not progress.enabled
        progress.update(_info(BatchStatus.IN_PROGRESS, 1, 2))
    assert stream.getvalue() == ""
    assert progress.last_info is not None
