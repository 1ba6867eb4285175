"""``progress_steps``: every emulated vendor reports partial progress while a batch runs.

The stepping is the host's (`RunProgress`); each vendor maps it to its own wire shape
(OpenAI's ``request_counts``, Anthropic's ``processing``/``succeeded``, Gemini's
``batchStats``, Mistral's ``*_requests``, OpenRouter's OpenAI-shaped counts). Together
reports no counts while a job runs, only a ``progress`` percentage, which the provider
cannot turn into counts (its job does not say how many requests it holds): there the
percentage moves instead, and a progress display shows the status only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch.provider import BatchOperations
from lmbatch.testing.emulator import Emulator, EmulatorSettings

pytestmark = pytest.mark.timeout(120)

MODELS = {
    "openai": "gpt-4.1-mini",
    "anthropic": "claude-sonnet-4-5",
    "gemini": "gemini-2.5-flash",
    "openrouter": "openai/gpt-4.1-mini",
    "mistral": "mistral-small-latest",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "groq": "llama-3.1-8b-instant",
    "azure": "gpt-4.1-mini",
    "openai-compatible": "meta-llama/Llama-3.3-70B-Instruct",
}
#: Vendors that report a percentage while running, not request counts.
PERCENT_ONLY = {"together"}
REQUESTS = {f"q{i}": f"question {i}" for i in range(6)}


def _ops(vendor: str, emulator: Emulator, store: Path) -> BatchOperations:
    options: dict[str, Any] = {"base_url": emulator.base_url_for(vendor)}
    if vendor == "azure":
        options = {"endpoint": emulator.base_url_for(vendor), "deployment": "gpt-4-1-mini-batch"}
    return lmbatch.get_batch_operations(
        vendor, model=MODELS[vendor], api_key="test", store=str(store), **options
    )


def _done(info: lmbatch.BatchInfo) -> int:
    counts = info["request_counts"]
    return counts["succeeded"] + counts["errored"]


@pytest.mark.parametrize("vendor", sorted(MODELS))
async def test_a_status_check_mid_run_shows_partial_progress(vendor: str, tmp_path: Path) -> None:
    seen: list[lmbatch.BatchInfo] = []
    settings = EmulatorSettings(mode="manual", progress_steps=3)
    async with Emulator(settings) as emulator, _ops(vendor, emulator, tmp_path / "s") as ops:
        batch_id = await ops.create(REQUESTS)
        while not (info := await ops.info(batch_id))["status"].is_terminal:
            seen.append(info)
            emulator.advance(batch_id)
    if vendor in PERCENT_ONLY:
        percents = [running["raw"]["progress"] for running in seen]
        assert any(0 < percent < 100 for percent in percents), percents
        assert all(_done(running) == 0 for running in seen)  # no counts: none made up
        return
    partial = [running for running in seen if 0 < _done(running) < len(REQUESTS)]
    assert partial, [running["request_counts"] for running in seen]
    assert all(running["request_counts"]["total"] == len(REQUESTS) for running in partial)
    assert _done(info) == len(REQUESTS)  # counted again from the answers at the end


@pytest.mark.parametrize("vendor", sorted(MODELS.keys() - PERCENT_ONLY))
async def test_the_progress_display_moves_while_the_batch_runs(
    vendor: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)  # the plain display: a line per change
    settings = EmulatorSettings(mode="polls", progress_steps=3)
    async with Emulator(settings) as emulator, _ops(vendor, emulator, tmp_path / "s") as ops:
        results = await ops.invoke(REQUESTS, status_check_interval=0, progress=True)
    assert all(output.ok for output in results.values())
    lines = capsys.readouterr().err.splitlines()
    partial = [f"{n}/{len(REQUESTS)} done" for n in range(1, len(REQUESTS))]
    assert any(any(part in line for part in partial) for line in lines), lines
