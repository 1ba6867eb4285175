"""Fixtures for CLI tests: an isolated working directory, job store and fake backend."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lmbatch.cli._app import app
from lmbatch.testing import default_backend


@dataclass
class Outcome:
    """What one ``lmbatch`` invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]


Invoke = Callable[..., Outcome]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run every CLI test in an empty directory with its own store and a fresh fake vendor."""
    monkeypatch.chdir(tmp_path)
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_CONFIG", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMBATCH_STORE", str(tmp_path / "store" / "jobs.sqlite3"))
    monkeypatch.setenv("COLUMNS", "200")
    default_backend.reset()
    yield tmp_path
    default_backend.reset()


@pytest.fixture
def lmbatch() -> Invoke:
    """Run ``lmbatch ARGS...`` in this process; returns an :class:`Outcome`."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Outcome:
        result = runner.invoke(app, list(args), input=input)
        return Outcome(result.exit_code, result.stdout, result.stderr, result.exception)

    return invoke


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    """A valid JSONL file of three requests."""
    path = tmp_path / "prompts.jsonl"
    lines = [
        {"key": "a", "input": "hello"},
        {"key": "b", "input": "world", "system": "Be brief"},
        {"key": "c", "input": [{"role": "user", "content": "Hi there"}]},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path
