"""Secrets never reach reprs, error messages, logs or the job store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lmbatch
from lmbatch.testing.emulator import Emulator, EmulatorSettings

SECRET = "sk-test-0123456789abcdefSECRET"


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
async def test_api_key_stays_out_of_reprs_logs_and_store(
    provider: str, model: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as emulator:
        base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url
        ops = lmbatch.get_batch_operations(
            provider, model=model, api_key=SECRET, base_url=base_url, store=str(store)
        )
        async with ops:
            results = await ops.invoke(
                {"a": "hello", "b": "fail [[lmbatch:error=400]]"}, status_check_interval=0
            )
    texts = [repr(ops), repr(ops.settings), str(ops.settings), caplog.text]
    texts += [output.model_dump_json() for output in results.values()]
    assert all(SECRET not in text for text in texts)
    assert _files_holding(tmp_path, SECRET) == []


def _files_holding(directory: Path, secret: str) -> list[Path]:
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]
