"""Costs for the emulator's answers, for every vendor: per output, per job, and estimated."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import BudgetExceededError, Cost, MissingCredentialsError
from lmbatch.testing.emulator import Emulator, EmulatorSettings, EndpointFault

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


# ---------------------------------------------------------- the vendor's token counts


def _counting_ops(
    emulator: Emulator, provider: str, model: str, tmp_path: Path, **options: Any
) -> lmbatch.BatchOperations:
    base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url
    return lmbatch.get_batch_operations(
        provider,
        model=model,
        base_url=base_url,
        api_key="test",
        store=str(tmp_path / "jobs.sqlite3"),
        max_retries=0,
        **options,
    )


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_vendor_count_is_the_count_the_answers_report(
    emulator: Emulator, provider: str, model: str, tmp_path: Path
) -> None:
    emulator.reset()
    requests = dict(list(REQUESTS.items())[:12])
    params = {"max_tokens": 60, "temperature": 0.2}  # output settings the count refuses
    async with _counting_ops(emulator, provider, model, tmp_path) as ops:
        estimate = await ops.estimate(requests, params, count_tokens="vendor")
        counts = [call for call in emulator.calls if call.operation == "count_tokens"]
        assert len(counts) == len(emulator.calls) == 12
        assert all(call.status == 200 for call in counts)
        results = await ops.invoke(requests, params, status_check_interval=0)
    assert estimate.input_method == "vendor"
    assert estimate.input_note is None
    actual = sum(o.token_usage.input_tokens for o in results.values() if o.token_usage)
    assert estimate.input_tokens == actual
    assert estimate.input_tokens <= estimate.input_tokens_upper


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_estimate_without_permission_makes_no_call(
    emulator: Emulator, provider: str, model: str, tmp_path: Path
) -> None:
    emulator.reset()
    async with _counting_ops(emulator, provider, model, tmp_path) as ops:
        estimate = await ops.estimate(REQUESTS, {"max_tokens": 60})
    assert estimate.input_method in ("tiktoken", "approximation")
    assert emulator.calls == []


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_vendor_count_without_a_key_is_refused_before_any_call(
    emulator: Emulator, provider: str, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.reset()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url

    async def count() -> None:
        # Refused when the estimate starts, before any call.
        ops = lmbatch.get_batch_operations(provider, model=model, base_url=base_url)
        await ops.estimate(REQUESTS, {"max_tokens": 60}, count_tokens="vendor")

    with pytest.raises(MissingCredentialsError):
        await count()
    assert emulator.calls == []


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_failing_count_endpoint_falls_back_to_the_offline_count_with_a_warning(
    emulator: Emulator,
    provider: str,
    model: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.reset()
    emulator.faults.add(EndpointFault("count_tokens", 500))
    async with _counting_ops(emulator, provider, model, tmp_path) as ops:
        offline = await ops.estimate(REQUESTS, {"max_tokens": 60})
        with caplog.at_level(logging.WARNING, logger="lmbatch"):
            estimate = await ops.estimate(REQUESTS, {"max_tokens": 60}, count_tokens="vendor")
    assert estimate.input_method == offline.input_method
    assert estimate.input_tokens == offline.input_tokens > 0
    assert estimate.input_note is not None
    assert "token-count endpoint failed" in estimate.input_note
    assert "counted offline instead" in caplog.text
    # The first call failed: the other 59 were never made.
    assert [call.status for call in emulator.calls] == [500]


async def test_openai_chat_completions_has_no_count_endpoint_and_says_so(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.reset()
    async with _counting_ops(
        emulator, "openai", "gpt-4.1-mini", tmp_path, endpoint="/v1/chat/completions"
    ) as ops:
        with caplog.at_level(logging.WARNING, logger="lmbatch"):
            estimate = await ops.estimate(REQUESTS, {"max_tokens": 60}, count_tokens="vendor")
    assert estimate.input_method in ("tiktoken", "approximation")
    assert estimate.input_note is not None
    assert "no token-count endpoint" in estimate.input_note
    assert emulator.calls == []
