"""Every Python code block in the docs and the README runs, so none can rot.

How blocks are treated:

* ```` ```python ```` blocks run, in a fresh temporary directory, with the provider
  environment pointed at a local emulator (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``,
  dummy keys) and status checks sped up, so examples written for the live APIs run
  offline, exactly as printed.
* A ```` ```toml title="lmbatch.toml" ```` block is written to that directory before the
  Python blocks that follow it on the same page run (examples that read config).
* ```` ```python title="lmbatch-echo/lmbatch_echo/_operations.py" ```` blocks (titled with
  a file of an example plugin under ``docs/examples/``) do not run: they are excerpts of
  that file, checked to match it by ``test_example_excerpts.py``, and the file is tested
  with its plugin.
"""

from __future__ import annotations

import asyncio
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

import lmbatch._jobs._waiting
from tests.docs.conftest import EXAMPLE_PLUGIN, excerpt_source, markdown_files

pytest.importorskip("lmbatch.testing.emulator", reason="needs the emulator extra")
from lmbatch.testing.emulator import Emulator

_CONFIG_BLOCK = re.compile(r'^```toml title="lmbatch\.toml"\n(.*?)^```', re.M | re.S)


def _examples() -> list[CodeExample]:
    return [
        example
        for example in find_examples(*markdown_files())
        if excerpt_source(example.prefix_settings().get("title")) is None
    ]


class _FastAsyncio(types.ModuleType):
    """``asyncio`` as core's polling loop sees it, with every sleep cut short."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(min(delay, 0.02), result)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.fixture
def example_env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMBATCH_STORE", str(tmp_path / "jobs.sqlite3"))
    monkeypatch.setenv("OPENAI_API_KEY", "docs-test")
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "docs-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.anthropic_base_url)
    monkeypatch.setattr(lmbatch._jobs._waiting, "asyncio", _FastAsyncio("asyncio"))
    # The tutorial's plugin, importable even where it is not installed.
    monkeypatch.syspath_prepend(str(EXAMPLE_PLUGIN))
    return tmp_path


def _write_config_before(example: CodeExample, directory: Path) -> None:
    text = example.path.read_text(encoding="utf-8")
    before = text[: example.start_index]
    blocks = _CONFIG_BLOCK.findall(before)
    if blocks:
        (directory / "lmbatch.toml").write_text(blocks[-1], encoding="utf-8")


@pytest.mark.parametrize("example", _examples(), ids=str)
def test_code_example_runs(
    example: CodeExample, eval_example: EvalExample, example_env: Path
) -> None:
    _write_config_before(example, example_env)
    eval_example.set_config(line_length=100, target_version="py311")
    eval_example.run(example)


def test_examples_were_found() -> None:
    found = {example.path.name for example in _examples()}
    assert {"README.md", "index.md", "quickstart.md", "tutorial.md"} <= found
    # Issue 19's pages: their examples run here, against the emulator.
    assert {"tables.md", "batchify.md"} <= found


def test_no_example_is_skipped() -> None:
    # Every block runs, or is an excerpt checked against the file it quotes.
    for example in find_examples(*markdown_files()):
        assert "test" not in example.prefix_settings(), f"{example}: runs, or quotes a file"


def test_python_version_is_supported() -> None:
    assert sys.version_info >= (3, 11)
