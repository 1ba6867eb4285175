"""--timeout of the waiting commands: a default overall limit, 0 for none."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT
from lmbatch.cli._run_commands import resume_command, run_command, wait_command
from tests.cli.conftest import Invoke


@pytest.mark.parametrize("command", [run_command, wait_command, resume_command])
def test_waiting_commands_stop_after_the_default_timeout(command: object) -> None:
    assert inspect.signature(command).parameters["timeout"].default == DEFAULT_TIMEOUT  # type: ignore[arg-type]


def test_run_with_timeout_zero_waits_without_limit(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch(
        "run",
        str(prompts),
        "-p",
        "fake",
        "-O",
        "polls_until_done=4",
        "--poll-interval",
        "0",
        "--timeout",
        "0",
        "-o",
        "out.jsonl",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert len(Path("out.jsonl").read_text().splitlines()) == 3


def test_run_timeout_is_reported_with_the_batch_id(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch(
        "run",
        str(prompts),
        "-p",
        "fake",
        "-O",
        "polls_until_done=100000",
        "--poll-interval",
        "0.01",
        "--timeout",
        "0.2",
    )
    assert outcome.exit_code != 0
    assert "did not finish within" in outcome.stderr
