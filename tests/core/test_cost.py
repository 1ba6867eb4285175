"""Cost: prices, per-output costs, the ledger in the job store, estimates and budgets."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import (
    BudgetExceededError,
    ConfigError,
    Cost,
    JobStore,
    Message,
    PriceUnknownError,
    ProviderServerError,
    TokenUsage,
    ValidationError,
)
from lmbatch._config import LMBatchConfig
from lmbatch._cost import Pricer, find_prices, usd
from lmbatch._estimate import VENDOR_COUNT_CONCURRENCY, VENDOR_COUNT_SAMPLE
from lmbatch.testing import FakeBackend, FakeBatchOperations

#: List prices given in settings for the fake provider's model (USD per million tokens).
FAKE_PRICES = {"fake-model": {"input": 2, "output": 8, "cached_input": 1}}


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


def make_ops(
    backend: FakeBackend, store: JobStore | str = ":memory:", **options: Any
) -> FakeBatchOperations:
    options.setdefault("prices", FAKE_PRICES)
    return FakeBatchOperations(backend=backend, store=store, **options)


# ------------------------------------------------------------------------------ prices


def test_library_prices_resolve_aliases_and_dated_names() -> None:
    plain = find_prices("openai", "gpt-4.1-mini")
    dated = find_prices("openai", "gpt-4.1-mini-2025-04-14")
    assert plain is not None
    assert dated is not None
    assert (plain.input, plain.output) == (dated.input, dated.output)
    assert plain.source.startswith("genai-prices")
    anthropic = find_prices("anthropic", "claude-sonnet-4-5")
    assert anthropic is not None
    assert anthropic.cached_input < anthropic.input < anthropic.output


def test_config_price_override_wins_over_the_library() -> None:
    config = LMBatchConfig(
        providers={"fake": {"prices": {"fake-model": {"input": 3, "output": 4}}}}
    )
    ops = lmbatch.get_batch_operations("fake", config=config, store=":memory:")
    prices = find_prices(ops.name, ops.model, ops.settings.prices)
    assert prices is not None
    assert (prices.input, prices.output, prices.cached_input) == (3, 4, 3)
    assert prices.source == "config"


def test_price_override_refuses_an_unknown_currency_and_negative_prices() -> None:
    bad_currency = {"fake-model": {"input": 1, "output": 2, "currency": "EUR"}}
    with pytest.raises(ConfigError, match=r"prices.fake-model.currency.*unknown currency 'EUR'"):
        lmbatch.get_batch_operations(
            "fake",
            config=LMBatchConfig(providers={"fake": {"prices": bad_currency}}),
            store=":memory:",
        )
    with pytest.raises(ConfigError, match=r"prices.fake-model.input"):
        FakeBatchOperations(store=":memory:", prices={"fake-model": {"input": -1, "output": 2}})


def test_pricer_splits_cost_into_parts_with_the_batch_discount() -> None:
    prices = find_prices("fake", "fake-model", {"fake-model": _override(2, 8, cached=1)})
    assert prices is not None
    pricer = Pricer(prices, Decimal("0.5"))
    usage = TokenUsage(
        input_tokens=1_000_000, cached_input_tokens=200_000, output_tokens=100_000,
        reasoning_tokens=40_000,
    )  # fmt: skip
    cost = pricer.cost(usage)
    assert cost.input == Decimal("0.8")  # 800k uncached at $2/M, halved
    assert cost.cached_input == Decimal("0.1")
    assert cost.output == Decimal("0.24")
    assert cost.reasoning == Decimal("0.16")
    assert cost.total == Decimal("1.3")
    assert cost.currency == "USD"
    assert sum([cost, cost]) == cost + cost
    assert pricer.cost(None) == Cost()


def test_usd_formats_small_and_large_amounts() -> None:
    assert usd(Decimal("1234.5")) == "$1,234.50"
    assert usd(Decimal("0.01234")) == "$0.0123"
    assert usd(Decimal("0.0001234")) == "$0.000123"
    assert usd(Decimal(0)) == "$0.00"
    assert usd(None) == "unknown"


def _override(input: float, output: float, cached: float | None = None) -> Any:
    from lmbatch._cost import PriceOverride

    return PriceOverride.model_validate({"input": input, "output": output, "cached_input": cached})


# -------------------------------------------------------------------- costs and ledger


async def test_every_output_carries_its_cost_and_info_sums_them_to_the_cent(
    backend: FakeBackend,
) -> None:
    ops = make_ops(backend)
    requests = {f"q{i}": f"question number {i} " * (i + 1) for i in range(5)}
    requests["failed"] = "x [[lmbatch:error=400]]"
    results = await ops.invoke(requests, status_check_interval=0)
    assert all(output.cost is not None for output in results.values())
    assert results["failed"].cost == Cost()  # not billed: zero, not unknown
    usage = results["q0"].token_usage
    assert usage is not None
    expected = Decimal(usage.input_tokens) * 1 / 10**6 + Decimal(usage.output_tokens) * 4 / 10**6
    assert results["q0"].cost is not None
    assert results["q0"].cost.total == expected
    handle = next(iter(backend.batches))
    info = await ops.info(handle)
    total = sum(output.cost for output in results.values() if output.cost is not None)
    assert info["cost"] == total
    assert "cost_note" not in info


async def test_reading_results_twice_does_not_count_twice(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    batch_id = await ops.create({"a": "one two three", "b": "four five"})
    for _ in range(3):
        await ops.status(batch_id)
    first = await ops.retrieve(batch_id)
    again = await ops.retrieve(batch_id)
    info = await ops.info(batch_id)
    assert info["cost"] == sum(o.cost for o in first.values() if o.cost is not None)
    assert info["cost"] == sum(o.cost for o in again.values() if o.cost is not None)


async def test_the_ledger_sums_every_batch_and_round_of_a_job(
    backend: FakeBackend, tmp_path: Path
) -> None:
    ops = make_ops(backend, store=str(tmp_path / "jobs.sqlite3"), max_requests_per_batch=2)
    requests = {f"k{i}": f"prompt {i} with words" for i in range(5)}
    backend.script_request("k1", error_status=500)  # resubmitted in every round
    results = await ops.invoke(requests, status_check_interval=0)
    assert results["k1"].finish_details["lmbatch_round"] == 3
    total = sum(o.cost for o in results.values() if o.cost is not None)
    job_id = ops.store.list_jobs()[-1].job_id
    # A fresh process sees the same total, from the store alone.
    reopened = make_ops(backend, store=str(tmp_path / "jobs.sqlite3"))
    info = await reopened.info(job_id)
    assert info["cost"] == total
    assert len(info["rounds"]) == 3
    assert len(ops.store.cost_entries(r["job_id"] for r in info["rounds"])) == 5


async def test_info_before_results_are_read_says_the_ledger_is_empty(
    backend: FakeBackend,
) -> None:
    ops = make_ops(backend)
    batch_id = await ops.create({"a": "hello"})
    info = await ops.info(batch_id)
    assert info["cost"] is None
    assert "no results read yet" in info["cost_note"]


async def test_a_model_without_price_gives_none_and_one_warning(
    backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    ops = make_ops(backend, prices={}, model="fake-unpriced-model")
    with caplog.at_level(logging.WARNING, logger="lmbatch"):
        results = await ops.invoke({"a": "x", "b": "y"}, status_check_interval=0)
    assert all(output.cost is None for output in results.values())
    warnings = [r.getMessage() for r in caplog.records if "no price" in r.getMessage()]
    assert len(warnings) == 1
    assert 'prices."fake-unpriced-model"' in warnings[0]
    info = await ops.info(next(iter(backend.batches)))
    assert info["cost"] == Cost()
    assert "2 request(s) without a known price" in info["cost_note"]


# -------------------------------------------------------------------------- estimates


async def test_estimate_counts_tokens_and_gives_the_batch_saving(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    requests = {f"q{i}": "word " * 40 for i in range(10)}
    estimate = await ops.estimate(requests, {"max_tokens": 100})
    assert estimate.requests == 10
    assert estimate.input_method == "approximation"
    assert 0 < estimate.input_tokens <= estimate.input_tokens_upper
    assert estimate.output_tokens_upper == 1_000
    assert estimate.output_tokens == 1_000  # typical figure capped at max_tokens
    assert estimate.cost is not None
    assert estimate.list_cost == estimate.cost * 2  # the fake declares a 50 % discount
    assert estimate.saved == estimate.cost
    assert estimate.cost_upper is not None
    assert estimate.cost <= estimate.cost_upper
    text = estimate.describe()
    assert "batch saves" in text
    assert "approximation" in text
    assert backend.calls["submit"] == 0


async def test_estimate_without_max_tokens_has_no_upper_bound(backend: FakeBackend) -> None:
    estimate = await make_ops(backend).estimate({"a": "hello"})
    assert estimate.output_tokens == 250
    assert estimate.output_tokens_upper is None
    assert estimate.cost_upper is None
    assert "set max_tokens" in estimate.describe()


async def test_estimate_for_an_unknown_model_says_price_unknown(backend: FakeBackend) -> None:
    ops = make_ops(backend, prices={}, model="nobody-knows-me")
    estimate = await ops.estimate({"a": "hello"}, {"max_tokens": 5})
    assert estimate.cost is None
    assert estimate.price_note is not None
    assert "nobody-knows-me" in estimate.price_note
    assert "cost: unknown" in estimate.describe()


def test_estimate_is_as_large_as_the_emulators_count() -> None:
    """The approximation's upper count is never below the emulator's 4-chars count."""
    from lmbatch._estimate import _TokenCounter
    from lmbatch.testing.emulator import tokens

    counter = _TokenCounter("anthropic", "claude-sonnet-4-5")
    for text in ["Hi", "Question number 7?", "é" * 33, "a b c " * 100]:
        typical, upper = counter.count(text)
        assert typical <= upper
        assert upper >= tokens(text)


# ----------------------------------------------------------------------------- budget


@pytest.mark.parametrize(
    ("max_cost", "message"),
    [
        (-1, "finite number of US dollars >= 0"),
        ("ten", "must be a number of US dollars"),
        (float("nan"), "finite number"),
        (True, "must be a number of US dollars"),
        ([5], "must be a number of US dollars"),
    ],
)
async def test_bad_max_cost_is_refused_before_anything_is_sent(
    backend: FakeBackend, max_cost: Any, message: str
) -> None:
    ops = make_ops(backend)
    with pytest.raises(ValidationError, match=message):
        await ops.create({"a": "hi"}, {"max_tokens": 10}, max_cost=max_cost)
    assert backend.calls["submit"] == 0


async def test_budget_exceeded_is_refused_before_anything_is_sent(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    requests = {f"q{i}": "word " * 100 for i in range(100)}
    estimate = await ops.estimate(requests, {"max_tokens": 1000})
    assert estimate.cost_upper is not None
    with pytest.raises(BudgetExceededError) as caught:
        await ops.invoke(requests, {"max_tokens": 1000}, max_cost=estimate.cost_upper / 2)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.upper_bound == estimate.cost_upper
    assert "more than max_cost" in str(caught.value)
    assert backend.calls["submit"] == 0
    assert ops.store.list_jobs() == []  # nothing recorded either
    # The same budget with room: submitted.
    await ops.create(requests, {"max_tokens": 1000}, max_cost=estimate.cost_upper)
    assert backend.calls["submit"] == 1


async def test_budget_needs_a_price_and_an_output_bound(backend: FakeBackend) -> None:
    unpriced = make_ops(backend, prices={}, model="nobody-knows-me")
    with pytest.raises(PriceUnknownError, match="max_cost cannot be enforced"):
        await unpriced.create({"a": "hi"}, {"max_tokens": 10}, max_cost=1)
    with pytest.raises(ValidationError, match="set the max_tokens"):
        await make_ops(backend).create({"a": "hi"}, max_cost=1)
    assert backend.calls["submit"] == 0


async def test_resubmission_rounds_never_exceed_the_budget(backend: FakeBackend) -> None:
    """Round 1 spends most of the budget, so round 2's upper bound no longer fits.

    (The fake answers with more tokens than max_tokens allows per request, so round 1
    spends more than its share, but less than the whole bound.)
    """
    ops = make_ops(backend)
    requests = {f"k{i}": "w " * 30 for i in range(10)}
    for i in range(5):
        backend.script_request(f"k{i}", error_status=500)  # fails every round
    params = {"max_tokens": 20}
    estimate = await ops.estimate(requests, params)
    assert estimate.cost_upper is not None
    budget = estimate.cost_upper
    results = await ops.invoke(
        requests, params, status_check_interval=0, resubmit=3, max_cost=budget
    )
    assert set(results) == set(requests)
    info = await ops.info(ops.store.list_jobs()[-1].job_id)
    spent = info["budget"]["spent"]
    assert 0 < spent <= budget
    assert info["cost"].total == spent
    assert len(info["rounds"]) == 1  # the budget stopped the resubmission
    assert backend.submissions["k0"] == 1
    assert "resubmission of 5 request(s) not sent" in info["budget"]["note"]
    assert not results["k0"].ok  # the held failure is the key's final outcome


async def test_rounds_within_budget_all_fit_it(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    requests = {f"k{i}": f"prompt number {i} " * 20 for i in range(10)}
    for i in range(9):
        backend.script_request(f"k{i}", error_status=500)
    params = {"max_tokens": 200}
    estimate = await ops.estimate(requests, params)
    assert estimate.cost_upper is not None
    await ops.invoke(
        requests, params, status_check_interval=0, resubmit=3, max_cost=estimate.cost_upper
    )
    info = await ops.info(ops.store.list_jobs()[-1].job_id)
    assert len(info["rounds"]) == 4
    assert info["budget"]["spent"] <= estimate.cost_upper


async def test_resubmission_within_budget_goes_ahead(backend: FakeBackend) -> None:
    ops = make_ops(backend)
    requests = {f"k{i}": f"prompt {i}" for i in range(4)}
    backend.script_request("k0", error_status=500)
    results = await ops.invoke(
        requests, {"max_tokens": 50}, status_check_interval=0, resubmit=1, max_cost=10
    )
    assert backend.submissions["k0"] == 2
    assert not results["k0"].ok
    info = await ops.info(ops.store.list_jobs()[-1].job_id)
    assert info["budget"]["spent"] <= 10
    assert info["budget"]["note"] is None


# ------------------------------------------------------------------------ import cost


def test_import_lmbatch_does_not_load_the_price_library() -> None:
    code = (
        "import sys, lmbatch; lmbatch.LMOutput; lmbatch.get_batch_operations;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('genai_prices', 'tiktoken')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tiktoken_counts_openai_models_when_its_encoding_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    from lmbatch._estimate import _TokenCounter

    class Encoding:
        def encode_ordinary(self, text: str) -> list[int]:
            return list(range(len(text.split())))

    working = types.ModuleType("tiktoken")
    working.encoding_for_model = lambda model: Encoding()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", working)
    counter = _TokenCounter("openai", "gpt-4.1-mini")
    assert counter.method == "tiktoken"
    assert counter.count("three words here") == (3, 3)
    # Other vendors' models are never counted with an OpenAI tokenizer.
    assert _TokenCounter("anthropic", "claude-sonnet-4-5").method == "approximation"


def test_tiktoken_that_cannot_load_its_tables_falls_back_to_the_approximation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    from lmbatch._estimate import _TokenCounter

    def offline(model: str) -> Any:
        raise OSError("cannot download the BPE file: no network")

    broken = types.ModuleType("tiktoken")
    broken.encoding_for_model = offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tiktoken", broken)
    counter = _TokenCounter("openai", "gpt-4.1-mini")
    assert counter.method == "approximation"
    assert counter.count("abcd" * 10) == (10, 14)


# ------------------------------------------------------------ vendor token counts


class _CountingOps(FakeBatchOperations):
    """The fake provider with a token-count endpoint: words per request, calls recorded."""

    def __init__(self, *args: Any, fail: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail = fail
        self.counted: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def count_input_tokens(self, messages: list[Message], params: Any) -> int | None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let every other count start, as network calls would
            if self.fail:
                raise ProviderServerError("count endpoint down", provider=self.name)
            text = " ".join(m.text for m in messages)
            self.counted.append(text)
            return len(text.split())
        finally:
            self.in_flight -= 1


def _counting_ops(backend: FakeBackend, **options: Any) -> _CountingOps:
    return _CountingOps(backend=backend, store=":memory:", prices=FAKE_PRICES, **options)


async def test_vendor_count_gives_the_vendors_numbers_and_says_so(backend: FakeBackend) -> None:
    ops = _counting_ops(backend)
    requests = {f"q{i}": "word " * (i + 1) for i in range(10)}
    estimate = await ops.estimate(requests, {"max_tokens": 10}, count_tokens="vendor")
    assert estimate.input_method == "vendor"
    assert estimate.input_tokens == sum(range(1, 11))
    assert estimate.input_tokens <= estimate.input_tokens_upper
    assert len(ops.counted) == 10
    assert estimate.as_dict()["input_method"] == "vendor"


async def test_without_permission_the_vendor_is_never_asked(backend: FakeBackend) -> None:
    ops = _counting_ops(backend)
    estimate = await ops.estimate({"q": "hello there"}, {"max_tokens": 10})
    assert estimate.input_method == "approximation"
    assert ops.counted == []


async def test_vendor_count_of_many_requests_counts_a_sample_eight_at_a_time(
    backend: FakeBackend,
) -> None:
    ops = _counting_ops(backend)
    requests = {f"q{i}": "one two three four" for i in range(10_000)}
    estimate = await ops.estimate(requests, {"max_tokens": 10}, count_tokens="vendor")
    assert len(ops.counted) == VENDOR_COUNT_SAMPLE
    assert ops.most_in_flight == VENDOR_COUNT_CONCURRENCY
    assert estimate.input_method == "vendor-sample"
    assert estimate.input_note is not None
    assert f"{VENDOR_COUNT_SAMPLE} of 10,000" in estimate.input_note
    assert "extrapolated" in estimate.describe()
    # Every request has 4 words: the extrapolation lands on the exact total.
    assert estimate.input_tokens == 40_000
    assert estimate.requests == 10_000


async def test_vendor_count_sample_size_can_be_chosen(backend: FakeBackend) -> None:
    ops = _counting_ops(backend)
    requests = {f"q{i}": "a b" for i in range(50)}
    estimate = await ops.estimate(requests, {}, count_tokens="vendor", count_sample=5)
    assert len(ops.counted) == 5
    assert estimate.input_tokens == 100
    with pytest.raises(ValidationError, match="count_sample"):
        await ops.estimate(requests, {}, count_tokens="vendor", count_sample=0)
    with pytest.raises(ValidationError, match="count_tokens"):
        await ops.estimate(requests, {}, count_tokens="psychic")  # type: ignore[arg-type]


async def test_failing_count_endpoint_falls_back_with_a_warning(
    backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    ops = _counting_ops(backend, fail=True)
    offline = await ops.estimate({"q": "hello there"}, {"max_tokens": 10})
    with caplog.at_level(logging.WARNING, logger="lmbatch"):
        estimate = await ops.estimate(
            {"q": "hello there"}, {"max_tokens": 10}, count_tokens="vendor"
        )
    assert estimate.input_method == "approximation"
    assert estimate.input_tokens == offline.input_tokens > 0  # never a silent zero
    assert estimate.input_note is not None
    assert "count endpoint down" in estimate.input_note
    assert "counted offline" in caplog.text


async def test_provider_without_a_count_endpoint_falls_back_with_a_warning(
    backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    ops = make_ops(backend)
    with caplog.at_level(logging.WARNING, logger="lmbatch"):
        estimate = await ops.estimate({"q": "hello"}, {"max_tokens": 10}, count_tokens="vendor")
    assert estimate.input_method == "approximation"
    assert estimate.input_tokens > 0
    assert "no token-count endpoint" in caplog.text
    assert backend.calls["submit"] == 0


async def test_vendor_count_refuses_bad_input_before_any_call(backend: FakeBackend) -> None:
    ops = _counting_ops(backend)
    with pytest.raises(ValidationError):
        await ops.estimate({"q": 42}, {}, count_tokens="vendor")  # type: ignore[dict-item]
    assert ops.counted == []
