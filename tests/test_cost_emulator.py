"""Costs for the emulator's answers, for every vendor: per output, per job, and estimated."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import lmbatch
from lmbatch import BudgetExceededError, Cost
from lmbatch.testing.emulator import Emulator, EmulatorSettings

pytestmark = pytest.mark.timeout(120)

PROVIDERS = [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
REQUESTS = {
    f"q{i}": f"Question {i}: what is {i} plus {i * 3}? Explain in a sentence or two."
    for i in range(60)
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls")) as running:
        yield running


def _ops(emulator: Emulator, provider: str, model: str, store: Path) -> lmbatch.BatchOperations:
    base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url
    return lmbatch.get_batch_operations(
        provider, model=model, base_url=base_url, api_key="test", store=str(store)
    )


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_output_costs_sum_to_the_job_cost_to_the_cent(
    emulator: Emulator, provider: str, model: str, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite3"
    params = {"max_tokens": 120}
    async with _ops(emulator, provider, model, store) as ops:
        estimate = await ops.estimate(REQUESTS, params)
        results = await ops.invoke(
            REQUESTS, params, status_check_interval=0, max_cost=estimate.cost_upper
        )
        handle = ops.store.list_jobs()[0].chunks[0].batch_id
        assert handle is not None
        info = await ops.info(handle)
    costs = [output.cost for output in results.values()]
    assert all(isinstance(cost, Cost) and cost.total > 0 for cost in costs)
    total = sum(cost for cost in costs if cost is not None)
    assert info["cost"] == total
    # The ledger, read by a new process, agrees: what `lmbatch info ID` shows.
    async with _ops(emulator, provider, model, store) as again:
        assert (await again.info(handle))["cost"] == total
    # The estimate brackets what the answers cost.
    assert estimate.cost is not None
    assert estimate.cost_upper is not None
    assert total.total <= estimate.cost_upper
    actual_input = sum(o.token_usage.input_tokens for o in results.values() if o.token_usage)
    assert actual_input <= estimate.input_tokens_upper


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_over_budget_job_is_refused_before_any_call(
    emulator: Emulator, provider: str, model: str, tmp_path: Path
) -> None:
    emulator.reset()
    async with _ops(emulator, provider, model, tmp_path / "jobs.sqlite3") as ops:
        with pytest.raises(BudgetExceededError, match="nothing was sent"):
            await ops.invoke(REQUESTS, {"max_tokens": 4000}, max_cost=Decimal("0.01"))
    assert emulator.calls == []
