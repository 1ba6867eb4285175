"""Prices and costs: what a request cost, from its token usage and its model's price.

List prices come from the ``genai-prices`` library (the ``lmbatch[cost]`` extra), looked
up by provider and model, with the library's model aliases and dated price changes.
Each provider declares the discount its batch API gives (``batch_discount`` on its
:class:`~lmbatch.BatchOperations` class), and users may give their own price for any
model in config (``[providers.openai.prices."my-finetune"]``), which wins over the
library. A model with no price gives ``cost=None`` and a warning, never a silent zero.

``genai-prices`` is imported on first use only: it costs ~120 ms to import and more to
load its data, which ``import lmbatch`` must not pay.
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    computed_field,
    field_validator,
)

if TYPE_CHECKING:
    from lmbatch._outputs import LMOutput, TokenUsage

__all__ = [
    "Cost",
    "ModelPrices",
    "PriceOverride",
    "Pricer",
    "find_prices",
    "pricer_for",
    "usd",
]

logger = logging.getLogger("lmbatch")

#: The one currency lmbatch prices in (the price library's, and the vendors' list prices).
CURRENCY: Literal["USD"] = "USD"
_ZERO = Decimal(0)
_MILLION = Decimal(1_000_000)
#: Price lookups per process (provider, model, day), held by ``find_prices``.
_CACHE_SIZE = 512


#: An amount in USD: exact in Python, a plain number in JSON (results files, --json).
USD = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class Cost(BaseModel):
    """What a request (or a job) cost, in USD, batch discount applied.

    Add costs with ``+`` (``sum(costs)`` works). Parts:

    Attributes:
        input: Uncached input tokens (and cache writes, at their own rate).
        cached_input: Input tokens read from the vendor's prompt cache.
        output: Output tokens other than reasoning.
        reasoning: Reasoning (thinking) tokens, billed as output.
        currency: Always ``"USD"``.
    """

    model_config = ConfigDict(frozen=True)

    input: USD = _ZERO
    cached_input: USD = _ZERO
    output: USD = _ZERO
    reasoning: USD = _ZERO
    currency: Literal["USD"] = CURRENCY

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> USD:
        """The sum of every part."""
        return self.input + self.cached_input + self.output + self.reasoning

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        return _cost(
            self.input + other.input,
            self.cached_input + other.cached_input,
            self.output + other.output,
            self.reasoning + other.reasoning,
        )

    def __radd__(self, other: object) -> Cost:
        # Lets sum(costs) start from 0.
        if other == 0:
            return self
        if isinstance(other, Cost):
            return other + self
        return NotImplemented

    def __str__(self) -> str:
        return usd(self.total)


def _cost(input: Decimal, cached: Decimal, output: Decimal, reasoning: Decimal) -> Cost:
    # Hot path (one per result): the values are Decimals already, skip validation.
    return Cost.model_construct(
        input=input, cached_input=cached, output=output, reasoning=reasoning, currency=CURRENCY
    )


def usd(amount: Decimal | float | None) -> str:
    """``$12.30``, ``$0.0123``, ``$0.000123`` (enough decimals to show the amount)."""
    if amount is None:
        return "unknown"
    value = Decimal(str(amount)) if not isinstance(amount, Decimal) else amount
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if value == 0:
        return "$0.00"
    if abs(value) >= Decimal("0.01"):
        return f"${value:.4f}"
    return f"${value:.6f}" if abs(value) >= Decimal("0.000001") else f"${value:.2e}"


class PriceOverride(BaseModel):
    """A price given in config for one model, in USD per million tokens.

    Example ``lmbatch.toml``::

        [providers.openai.prices."ft:gpt-4.1-mini:acme::abc123"]
        input = 0.80
        output = 3.20
        cached_input = 0.20   # optional (default: input)

    These are list (non-batch) prices: the provider's batch discount is applied to
    them, as to the library's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0)
    reasoning: Decimal | None = Field(default=None, ge=0)
    currency: str = CURRENCY

    @field_validator("currency")
    @classmethod
    def _only_usd(cls, value: str) -> str:
        if value.upper() != CURRENCY:
            raise ValueError(
                f"unknown currency {value!r}: prices are given in USD (the currency of the "
                "vendors' price lists); convert the price, or leave currency out"
            )
        return CURRENCY


@dataclass(frozen=True)
class PriceTier:
    """Prices that apply, to every token of a request, once its input exceeds ``start``."""

    start: int
    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    reasoning: Decimal


@dataclass(frozen=True)
class ModelPrices:
    """List prices of one model, in USD per million tokens.

    Attributes:
        model: The model name asked for.
        source: Where the prices come from (``config`` or ``genai-prices X.Y.Z: <id>``).
        input, output, cached_input, cache_write, reasoning: Prices per million tokens.
        tiers: Higher prices for long prompts (threshold on input tokens), if any.
    """

    model: str
    source: str
    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write: Decimal
    reasoning: Decimal
    tiers: tuple[PriceTier, ...] = ()

    def at(self, input_tokens: int) -> ModelPrices | PriceTier:
        """The prices that apply to a request with ``input_tokens`` input tokens."""
        for tier in reversed(self.tiers):
            if input_tokens > tier.start:
                return tier
        return self


def _override_prices(model: str, override: PriceOverride) -> ModelPrices:
    cached = override.cached_input if override.cached_input is not None else override.input
    reasoning = override.reasoning if override.reasoning is not None else override.output
    return ModelPrices(
        model=model,
        source="config",
        input=override.input,
        output=override.output,
        cached_input=cached,
        cache_write=override.input,
        reasoning=reasoning,
    )


def library_version() -> str | None:
    """The installed ``genai-prices`` version, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version("genai-prices")
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _library_prices(provider_id: str, model: str, day: date) -> ModelPrices | None:
    """List prices from ``genai-prices`` for ``model`` as of ``day``; None if unknown."""
    try:
        from genai_prices import data_snapshot
        from genai_prices.types import ModelPrice, TieredPrices
    except ImportError:
        return None
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return None
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    price: ModelPrice = info.get_prices(when)

    def get(name: str) -> Any:
        return getattr(price, name, None)

    if get("input_mtok") is None or get("output_mtok") is None:
        return None  # priced some other way (per request, per image...): not ours to guess

    def base(value: Any, fallback: Decimal) -> Decimal:
        if value is None:
            return fallback
        return Decimal(value.base) if isinstance(value, TieredPrices) else Decimal(value)

    def at(value: Any, start: int, fallback: Decimal) -> Decimal:
        if isinstance(value, TieredPrices):
            chosen = value.base
            for tier in value.tiers:
                if tier.start <= start:
                    chosen = tier.price
            return Decimal(chosen)
        return base(value, fallback)

    names = {
        "input": "input_mtok",
        "output": "output_mtok",
        "cached_input": "cache_read_mtok",
        "cache_write": "cache_write_mtok",
        "reasoning": "output_reasoning_mtok",
    }
    input_price = base(get("input_mtok"), _ZERO)
    output_price = base(get("output_mtok"), _ZERO)
    fallbacks = {
        "input": input_price,
        "output": output_price,
        "cached_input": input_price,
        "cache_write": input_price,
        "reasoning": output_price,
    }
    starts = sorted(
        {tier.start for name in names.values() for tier in _tiers_of(get(name), TieredPrices)}
    )
    tiers = tuple(
        PriceTier(
            start=start,
            **{
                part: at(get(name), start, at(get(names[_FALLBACK[part]]), start, _ZERO))
                for part, name in names.items()
            },
        )
        for start in starts
    )
    return ModelPrices(
        model=model,
        source=f"genai-prices {library_version()}: {provider_id}/{info.id}",
        **{part: base(get(name), fallbacks[part]) for part, name in names.items()},
        tiers=tiers,
    )


#: Which price a part falls back to when the model has no price of its own for it.
_FALLBACK = {
    "input": "input",
    "output": "output",
    "cached_input": "input",
    "cache_write": "input",
    "reasoning": "output",
}


def _tiers_of(value: Any, tiered: type) -> list[Any]:
    return list(getattr(value, "tiers", ())) if isinstance(value, tiered) else []


def find_prices(
    provider: str,
    model: str | None,
    overrides: Mapping[str, PriceOverride] | None = None,
    *,
    price_provider: str | None = None,
    at: datetime | None = None,
) -> ModelPrices | None:
    """The list prices of ``model`` on ``provider``: config override first, then the library.

    Args:
        provider: The lmbatch provider name.
        model: The model name (aliases and dated names are resolved by the library).
        overrides: Prices from config, by model name.
        price_provider: The provider id in the price library (default: ``provider``).
        at: When the requests were made (prices change over time); default now.

    Returns:
        The prices, or None when neither config nor the library knows the model.
    """
    if model is None:
        return None
    if overrides and model in overrides:
        return _override_prices(model, overrides[model])
    day = (at or datetime.now(UTC)).astimezone(UTC).date()
    return _library_prices(price_provider or provider, model, day)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def unknown_model_problem(provider_id: str, model: str) -> str | None:
    """Why ``model`` is not a model of ``provider_id`` in the maintained model list.

    The list is the price library's (``genai-prices``), which follows each vendor's
    models and their dated aliases. None when the model is known, or when there is no
    list to check against (the library is not installed, or does not know the provider).
    """
    try:
        from genai_prices import data_snapshot
    except ImportError:
        return None
    snapshot = data_snapshot.get_snapshot()
    try:
        snapshot.find_provider_model(model, None, provider_id, None)
    except LookupError:
        pass
    else:
        return None
    try:
        provider = snapshot.find_provider(None, provider_id, None)
    except LookupError:
        return None  # a provider the list does not cover: nothing to say
    names = [known.id for known in provider.models]
    close = difflib.get_close_matches(model, names, n=3, cutoff=0.75)
    hint = f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    return (
        f"model {model!r} is not a {provider_id} model known to genai-prices "
        f"{library_version()}{hint} (a fine-tune or a newer model: pass "
        "allow_unknown_model=True)"
    )


def price_unknown_message(provider: str, model: str | None) -> str:
    """What to say when a model has no price: why, and what to do."""
    if model is None:
        return f"no model is set for provider {provider!r}, so no price can be looked up"
    hint = (
        f'add its price (USD per million tokens) to lmbatch.toml: [providers.{provider}.prices."'
        f'{model}"] input = ..., output = ...'
    )
    if library_version() is None:
        return (
            f"no price for model {model!r} of provider {provider!r}: the price library is "
            f"not installed (pip install 'lmbatch[cost]'), or {hint}"
        )
    return (
        f"no price for model {model!r} of provider {provider!r} in genai-prices "
        f"{library_version()}; check the model name, or {hint}"
    )


@dataclass
class Pricer:
    """Prices outputs of one model with one batch discount (made once per batch).

    Args:
        prices: The model's list prices.
        discount: The batch discount (0.5 = half price) on every part.
        cache_discount: The batch discount on cached input (default: ``discount``);
            some vendors do not stack the two.
    """

    prices: ModelPrices
    discount: Decimal
    cache_discount: Decimal | None = None
    # Per-token rates with the discount applied, by price set (base and each tier).
    _rates: dict[int, tuple[Decimal, Decimal, Decimal, Decimal, Decimal]] = field(
        default_factory=dict, init=False, repr=False
    )

    def _rates_for(self, input_tokens: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        chosen = self.prices.at(input_tokens)
        key = id(chosen)
        rates = self._rates.get(key)
        if rates is None:
            keep = 1 - self.discount
            keep_cache = keep if self.cache_discount is None else 1 - self.cache_discount
            rates = self._rates[key] = (
                chosen.input * keep / _MILLION,
                chosen.cached_input * keep_cache / _MILLION,
                chosen.cache_write * keep / _MILLION,
                chosen.output * keep / _MILLION,
                chosen.reasoning * keep / _MILLION,
            )
        return rates

    def cost(
        self, usage: TokenUsage | None, cache_writes: int = 0, *, tier_input: int | None = None
    ) -> Cost:
        """The cost of one request's ``usage`` (zero when nothing was billed).

        ``tier_input`` picks the price tier (default: the usage's input tokens; a sum
        of several requests' usage passes one request's size).
        """
        if usage is None:
            return _cost(_ZERO, _ZERO, _ZERO, _ZERO)
        in_rate, cached_rate, write_rate, out_rate, reasoning_rate = self._rates_for(
            usage.input_tokens if tier_input is None else tier_input
        )
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        writes = min(max(cache_writes, 0), usage.input_tokens - cached)
        uncached = usage.input_tokens - cached - writes
        reasoning = min(usage.reasoning_tokens, usage.output_tokens)
        return _cost(
            uncached * in_rate + writes * write_rate,
            cached * cached_rate,
            (usage.output_tokens - reasoning) * out_rate,
            reasoning * reasoning_rate,
        )

    def cost_of(self, output: LMOutput) -> Cost:
        """The cost of one outcome (failures the vendor reported no usage for: zero)."""
        writes = output.finish_details.get("cache_creation_input_tokens")
        return self.cost(output.token_usage, writes if type(writes) is int else 0)


def pricer_for(
    provider: str,
    model: str | None,
    overrides: Mapping[str, PriceOverride] | None,
    *,
    discount: float,
    cache_discount: float | None = None,
    price_provider: str | None = None,
    at: datetime | None = None,
) -> Pricer | None:
    """A :class:`Pricer` for ``model``, or None (with one warning) when it has no price."""
    prices = find_prices(provider, model, overrides, price_provider=price_provider, at=at)
    if prices is None:
        _warn_unpriced(provider, model)
        return None
    return Pricer(
        prices,
        Decimal(str(discount)),
        Decimal(str(cache_discount)) if cache_discount is not None else None,
    )


@functools.cache
def _warn_unpriced(provider: str, model: str | None) -> None:
    # Once per model and process: a job of a million results warns once.
    logger.warning("%s; results carry cost=None", price_unknown_message(provider, model))
