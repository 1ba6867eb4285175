"""``lmbatch.run``: the synchronous twin of ``invoke``, from plain code and a running loop."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import lmbatch
from lmbatch import LMInput
from lmbatch.testing import default_backend


@pytest.fixture(autouse=True)
def fresh_backend() -> Iterator[None]:
    default_backend.reset()
    yield
    default_backend.reset()


def _requests() -> dict[str, LMInput]:
    return {"a": "one", "b": "two words"}


def _submitted() -> int:
    return sum(len(batch.records) for batch in default_backend.batches.values())


def test_run_from_plain_code_returns_one_outcome_per_key(tmp_path: Path) -> None:
    seen: list[str] = []
    results = lmbatch.run(
        _requests(),
        provider="fake",
        store=tmp_path / "jobs.sqlite3",
        status_check_interval=0,
        on_progress=lambda info: seen.append(info["status"].value),
    )
    assert sorted(results) == ["a", "b"]
    assert all(output.ok for output in results.values())
    assert _submitted() == 2
    assert seen  # invoke's own options reach invoke, not the provider


def test_run_inside_a_running_event_loop_works_in_a_worker_thread(tmp_path: Path) -> None:
    # What a notebook cell is: synchronous code called while a loop runs in this thread.
    async def cell() -> tuple[dict[str, lmbatch.LMOutput], bool]:
        loop_thread = threading.get_ident()
        threads: list[int] = []
        results = lmbatch.run(
            _requests(),
            provider="fake",
            store=tmp_path / "jobs.sqlite3",
            status_check_interval=0,
            on_progress=lambda info: threads.append(threading.get_ident()),
        )
        return results, bool(threads) and loop_thread not in threads

    results, elsewhere = asyncio.run(cell())
    assert sorted(results) == ["a", "b"]
    assert elsewhere
    assert _submitted() == 2


def test_run_reattaches_instead_of_paying_twice(tmp_path: Path) -> None:
    options = {"provider": "fake", "store": tmp_path / "jobs.sqlite3", "status_check_interval": 0}
    first = lmbatch.run(_requests(), **options)
    again = lmbatch.run(_requests(), **options)
    assert {k: v.text for k, v in again.items()} == {k: v.text for k, v in first.items()}
    assert _submitted() == 2


def test_errors_inside_a_running_loop_reach_the_caller_typed(tmp_path: Path) -> None:
    async def cell() -> None:
        lmbatch.run(
            {"a": "x"},
            provider="fake",
            store=tmp_path / "jobs.sqlite3",
            max_cost="not a number",
        )

    with pytest.raises(lmbatch.ValidationError):
        asyncio.run(cell())
    assert _submitted() == 0


def test_unknown_provider_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(lmbatch.ConfigError):
        lmbatch.run(_requests(), provider="fake", store=tmp_path / "j.sqlite3", colour="red")
    assert _submitted() == 0


def test_progress_without_rich_prints_a_plain_line_per_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # as if the cli extra were missing
    results = lmbatch.run(
        {"a": "one", "b": "two [[lmbatch:error=500]]"},
        provider="fake",
        store=tmp_path / "jobs.sqlite3",
        status_check_interval=0,
        progress=True,
    )
    assert sorted(results) == ["a", "b"]
    lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("round 2: resubmitting 1 request ") for line in lines), lines
    assert "\u2501" not in "".join(lines)  # no bar drawn
    finals = [line for line in lines if ": finished, " in line]
    assert finals, lines
    assert all(len(line.split(", ")) == 3 for line in finals)  # status, counts, elapsed
    assert len(lines) == len(set(lines))  # a line per change, not per status check


def test_progress_with_rich_draws_the_cli_bar_and_announces_rounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch.cli import _progress

    drawn: list[lmbatch.BatchInfo] = []
    original = _progress.BatchProgress.update

    def update(self: _progress.BatchProgress, info: lmbatch.BatchInfo) -> None:
        drawn.append(info)
        original(self, info)

    monkeypatch.setattr(_progress.BatchProgress, "update", update)
    rounds: list[int] = []
    lmbatch.run(
        {"a": "one", "b": "two [[lmbatch:error=500]]"},
        provider="fake",
        store=tmp_path / "jobs.sqlite3",
        status_check_interval=0,
        progress=True,
        on_resubmit=lambda r: rounds.append(r["round"]),  # the caller's own still called
    )
    assert drawn
    assert rounds == [2, 3]  # the default two resubmission rounds


async def test_invoke_progress_shows_plain_lines_and_still_calls_on_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    seen: list[str] = []
    ops = lmbatch.get_batch_operations("fake", store=tmp_path / "jobs.sqlite3")
    async with ops:
        results = await ops.invoke(
            _requests(),
            status_check_interval=0,
            progress=True,
            on_progress=lambda info: seen.append(info["status"].value),
        )
    assert sorted(results) == ["a", "b"]
    assert seen
    assert ": finished, 2/2 done, " in capsys.readouterr().err
