"""A request an expired or cancelled batch wrote no line for is expired/cancelled, not missing.

On Gemini, Mistral, Together and OpenRouter, through the emulator: the batch's end says
why a request has no result line (core's ``unanswered``, by each provider's declared
``result_line_states``), so ``invoke`` resubmits an expired one and never a cancelled one.
A request scripted ``omit`` (the vendor writes nothing for it) forces the no-line path on
vendors whose emulator writes a line for what it never ran (Together, OpenRouter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch.provider import BatchOperations
from lmbatch.testing.emulator import Emulator

pytestmark = pytest.mark.timeout(120)

MODELS = {
    "gemini": "gemini-2.5-flash",
    "mistral": "mistral-small-latest",
    "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "openrouter": "openai/gpt-4.1-mini",
}
REQUESTS = {"ran": "fine", "unrun": "never reached", "lost": "gone [[lmbatch:omit]]"}


def _ops(vendor: str, emulator: Emulator, store: Path) -> BatchOperations:
    return lmbatch.get_batch_operations(
        vendor,
        model=MODELS[vendor],
        base_url=emulator.base_url_for(vendor),
        api_key="test",
        store=str(store),
    )


async def _until_terminal(ops: BatchOperations, batch_id: str) -> None:
    for _ in range(50):
        if (await ops.status(batch_id)).is_terminal:
            return
    raise AssertionError(f"batch {batch_id} never ended")


def _kinds(results: dict[str, lmbatch.LMOutput]) -> dict[str, str]:
    return {key: out.error.kind if out.error else "ok" for key, out in results.items()}


@pytest.mark.parametrize("vendor", sorted(MODELS))
async def test_an_expired_batch_s_unanswered_keys_are_expired(
    vendor: str, emulator: Emulator, tmp_path: Path
) -> None:
    async with _ops(vendor, emulator, tmp_path / "s.sqlite3") as ops:
        batch_id = await ops.create(REQUESTS)
        emulator.expire(batch_id, finished=1)
        await _until_terminal(ops, batch_id)
        kinds = _kinds(await ops.retrieve(batch_id))
    assert kinds == {"ran": "ok", "unrun": "expired", "lost": "expired"}


@pytest.mark.parametrize("vendor", sorted(MODELS))
async def test_a_cancelled_batch_s_unanswered_keys_are_cancelled_and_not_resubmitted(
    vendor: str, emulator: Emulator, tmp_path: Path
) -> None:
    store = tmp_path / "s.sqlite3"
    async with _ops(vendor, emulator, store) as ops:
        if "cancel" not in ops.supported_methods:
            pytest.skip(f"{vendor} has no cancel: its batches cannot end cancelled")
        batch_id = await ops.create(REQUESTS)
        await ops.cancel(batch_id)
        await _until_terminal(ops, batch_id)
        # invoke re-attaches to the cancelled job: what was cancelled stays so, unsent.
        results: dict[str, Any] = await ops.invoke(REQUESTS, status_check_interval=0, reuse=True)
    assert set(_kinds(results).values()) == {"cancelled"}
    assert emulator.create_calls == 1
    assert max(emulator.submissions.values()) == 1
