"""Estimates before submitting, and the budget (``max_cost``) that holds.

Input tokens are counted with ``tiktoken`` for OpenAI-family models when it is installed
and its encoding loads (it downloads its tables on first use: offline, that fails and
the approximation is used); otherwise approximated: a *typical* count of one token per
4 characters and an *upper* count of one token per 3 UTF-8 bytes (code and non-Latin
scripts run denser than English), plus a few tokens per message. Output tokens: the
upper bound is ``max_tokens`` per request (the provider's default where it has one);
the typical figure is ``typical_output_tokens`` (default 250, at most ``max_tokens``).

With the user's permission (``count_tokens="vendor"``), input tokens are counted by the
vendor's token-count endpoint instead: one network call per request, at most
:data:`VENDOR_COUNT_CONCURRENCY` at once, on at most :data:`VENDOR_COUNT_SAMPLE` requests;
a larger set is counted on an evenly spread sample and the rest extrapolated from it.
When the endpoint fails (or the provider has none), the offline count is used and the
estimate says so.

A budget is checked against the upper bound: ``max_cost`` minus what the job already
spent must cover it, or :class:`BudgetExceededError` is raised before anything is sent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from lmbatch._cost import ModelPrices, Pricer, find_prices, price_unknown_message, usd
from lmbatch._errors import (
    BudgetExceededError,
    PriceUnknownError,
    ProviderError,
    ValidationError,
)
from lmbatch._hyperparameters import Hyperparameters
from lmbatch._inputs import normalize_input
from lmbatch._messages import Attachment, Message, ToolCall, ToolResult

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch._outputs import TokenUsage
    from lmbatch._store import JobRecord
    from lmbatch._store_contract import Store

__all__ = [
    "TYPICAL_OUTPUT_TOKENS",
    "VENDOR_COUNT_CONCURRENCY",
    "VENDOR_COUNT_SAMPLE",
    "Estimate",
    "check_budget",
    "estimate_requests",
    "estimate_requests_counted",
    "parse_max_cost",
]

logger = logging.getLogger("lmbatch")

#: Output tokens a request is assumed to produce, for the typical estimate.
TYPICAL_OUTPUT_TOKENS = 250
#: The approximation: characters per token (typical) and UTF-8 bytes per token (upper).
CHARS_PER_TOKEN = 4
BYTES_PER_TOKEN_UPPER = 3
#: Tokens of framing per message (role, separators) and per request.
MESSAGE_OVERHEAD = 3
REQUEST_OVERHEAD = 3
#: An image, typical and upper (vendors resize large images to ~1,600 tokens at most).
IMAGE_TOKENS = (1_000, 1_600)
#: A PDF: tokens per KB of file, typical and upper (text and page images vary widely).
PDF_TOKENS_PER_KB = (20, 60)

#: Token-count calls to the vendor in flight at once.
VENDOR_COUNT_CONCURRENCY = 8
#: Requests counted by the vendor at most; beyond that, a sample is counted.
VENDOR_COUNT_SAMPLE = 200

InputMethod = Literal["vendor", "vendor-sample", "tiktoken", "approximation"]
CountTokens = Literal["offline", "vendor"]


@dataclass(frozen=True)
class Estimate:
    """What submitting some requests would cost, worked out before sending anything.

    Amounts are USD. ``cost`` figures include the provider's batch discount;
    ``list_cost`` figures are the same tokens at the vendor's normal (non-batch) price,
    so ``list_cost - cost`` is what the batch API saves.

    Attributes:
        provider: The provider name.
        model: The model priced.
        requests: How many requests.
        input_tokens: Input tokens, typical count (exact with tiktoken).
        input_tokens_upper: Input tokens, upper bound.
        input_method: How input tokens were counted: ``"vendor"`` (the vendor's
            token-count endpoint, every request), ``"vendor-sample"`` (the endpoint on
            a sample, the rest extrapolated), ``"tiktoken"`` or ``"approximation"``
            (see the module docs).
        output_tokens: Output tokens assumed (typical figure times requests).
        output_tokens_upper: ``max_tokens`` times requests; None when there is no
            ``max_tokens`` (then there is no upper bound).
        batch_discount: The provider's batch discount (0.5 = half price).
        cost: Typical cost with the batch discount; None when the price is unknown.
        cost_upper: Upper-bound cost with the batch discount (what a budget is checked
            against); None without a price or without ``max_tokens``.
        list_cost: Typical cost at list price (no batch discount).
        list_cost_upper: Upper-bound cost at list price.
        prices: The model's list prices used, or None when unknown.
        price_note: Why there is no cost (the price is unknown), else None.
        input_note: How a vendor count went (the sample size, or why it fell back to
            the offline count), else None.
    """

    provider: str
    model: str | None
    requests: int
    input_tokens: int
    input_tokens_upper: int
    input_method: InputMethod
    output_tokens: int
    output_tokens_upper: int | None
    batch_discount: float
    cost: Decimal | None
    cost_upper: Decimal | None
    list_cost: Decimal | None
    list_cost_upper: Decimal | None
    prices: ModelPrices | None
    price_note: str | None = None
    input_note: str | None = None

    @property
    def saved(self) -> Decimal | None:
        """What the batch discount saves on the typical estimate."""
        if self.cost is None or self.list_cost is None:
            return None
        return self.list_cost - self.cost

    def as_dict(self) -> dict[str, Any]:
        """The estimate as JSON-able data (amounts as numbers)."""

        def number(value: Decimal | None) -> float | None:
            return float(value) if value is not None else None

        return {
            "provider": self.provider,
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "input_tokens_upper": self.input_tokens_upper,
            "input_method": self.input_method,
            "output_tokens": self.output_tokens,
            "output_tokens_upper": self.output_tokens_upper,
            "batch_discount": self.batch_discount,
            "cost": number(self.cost),
            "cost_upper": number(self.cost_upper),
            "list_cost": number(self.list_cost),
            "list_cost_upper": number(self.list_cost_upper),
            "saved": number(self.saved),
            "currency": "USD",
            "price_source": self.prices.source if self.prices is not None else None,
            "price_note": self.price_note,
            "input_note": self.input_note,
        }

    def describe(self) -> str:
        """A few lines for people: requests, tokens, cost range and the saving."""
        model = f" ({self.model})" if self.model else ""
        upper_out = f"{self.output_tokens_upper:,}" if self.output_tokens_upper is not None else "?"
        lines = [
            f"{self.requests:,} request{'s' if self.requests != 1 else ''} to "
            f"{self.provider}{model}",
            f"input tokens:  {self.input_tokens:,} (up to {self.input_tokens_upper:,}; "
            f"counted with {self.input_method})",
            *([f"  ({self.input_note})"] if self.input_note else []),
            f"output tokens: {self.output_tokens:,} assumed (up to {upper_out}"
            + ("" if self.output_tokens_upper is not None else ": set max_tokens for a bound")
            + ")",
        ]
        if self.cost is None:
            lines.append(f"cost: unknown ({self.price_note})")
            return "\n".join(lines)
        upper = f" (at most {usd(self.cost_upper)})" if self.cost_upper is not None else ""
        lines.append(
            f"cost: {usd(self.cost)}{upper} with the {self.batch_discount:.0%} batch discount"
        )
        list_upper = (
            f" (at most {usd(self.list_cost_upper)})" if self.list_cost_upper is not None else ""
        )
        lines.append(
            f"without batch: {usd(self.list_cost)}{list_upper}; the batch saves {usd(self.saved)}"
        )
        if self.prices is not None:
            lines.append(f"prices: {self.prices.source}")
        return "\n".join(lines)


class _TokenCounter:
    """Counts text tokens: tiktoken when usable for the model, else the approximation."""

    def __init__(self, provider: str, model: str | None) -> None:
        self.encode: Any = None
        self.method: InputMethod = "approximation"
        if model is not None and _openai_family(provider, model):
            encoding = _tiktoken_encoding(model)
            if encoding is not None:
                self.encode = encoding.encode_ordinary
                self.method = "tiktoken"

    def count(self, text: str) -> tuple[int, int]:
        """``(typical, upper)`` tokens of ``text``."""
        if not text:
            return 0, 0
        if self.encode is not None:
            exact = len(self.encode(text))
            return exact, exact
        typical = math.ceil(len(text) / CHARS_PER_TOKEN)
        upper = (
            math.ceil(len(text) / BYTES_PER_TOKEN_UPPER)
            if text.isascii()
            else math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN_UPPER)
        )
        return typical, max(typical, upper)


def _openai_family(provider: str, model: str) -> bool:
    lowered = model.lower()
    return provider == "openai" or lowered.startswith(("gpt-", "o1", "o3", "o4", "chatgpt"))


def _tiktoken_encoding(model: str) -> Any:
    """tiktoken's encoding for ``model``, or None (not installed, unknown, not downloadable)."""
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        return tiktoken.encoding_for_model(model)
    except Exception:
        # Unknown model, or its tables cannot be downloaded (offline): approximate.
        return None


def _message_tokens(counter: _TokenCounter, messages: list[Message]) -> tuple[int, int]:
    typical = upper = REQUEST_OVERHEAD
    for message in messages:
        typical += MESSAGE_OVERHEAD
        upper += MESSAGE_OVERHEAD
        for part in message.contents:
            if isinstance(part, str):
                low, high = counter.count(part)
            elif isinstance(part, Attachment):
                low, high = _attachment_tokens(part)
            elif isinstance(part, ToolCall):
                low, high = counter.count(part.name + json.dumps(part.args))
            elif isinstance(part, ToolResult):
                low, high = counter.count(part.output)
            else:  # pragma: no cover - every content kind is listed above
                low = high = 0
            typical += low
            upper += high
    return typical, upper


def _attachment_tokens(attachment: Attachment) -> tuple[int, int]:
    if attachment.is_pdf:
        kilobytes = max(1, len(attachment.data or b"") // 1024) if attachment.data else 100
        return PDF_TOKENS_PER_KB[0] * kilobytes, PDF_TOKENS_PER_KB[1] * kilobytes
    return IMAGE_TOKENS


def _fixed_tokens(counter: _TokenCounter, params: Hyperparameters) -> tuple[int, int]:
    """Tokens every request carries besides its messages: tool definitions, the schema."""
    parts: list[Any] = []
    if params.tools:
        parts.append([tool.model_dump(mode="json") for tool in params.tools])
    if params.response_schema is not None:
        parts.append(params.response_schema.json_schema)
    if not parts:
        return 0, 0
    return counter.count(json.dumps(parts, separators=(",", ":"), default=str))


def parse_max_cost(max_cost: Any) -> Decimal | None:
    """``max_cost`` as a Decimal, or :class:`ValidationError` saying what is wrong."""
    if max_cost is None:
        return None
    if isinstance(max_cost, bool) or not isinstance(max_cost, int | float | Decimal | str):
        raise ValidationError(
            f"max_cost must be a number of US dollars, got {type(max_cost).__name__} {max_cost!r}"
        )
    try:
        value = Decimal(str(max_cost).strip().removeprefix("$"))
    except InvalidOperation:
        raise ValidationError(
            f"max_cost must be a number of US dollars, got {max_cost!r}"
        ) from None
    if not value.is_finite() or value < 0:
        raise ValidationError(
            f"max_cost must be a finite number of US dollars >= 0, got {max_cost!r}"
        )
    return value


def estimate_requests(
    ops: BatchOperations,
    requests: Mapping[str, Any],
    params: Hyperparameters,
    *,
    typical_output_tokens: int | None = None,
) -> Estimate:
    """The :class:`Estimate` of ``requests`` on ``ops`` (validated, never sent)."""
    counter = _TokenCounter(ops.name, ops.settings.model)
    fixed = _fixed_tokens(counter, params)
    counts: list[tuple[int, int]] = []
    for key, value in requests.items():
        low, high = _message_tokens(counter, normalize_input(_checked_key(key), value))
        counts.append((low + fixed[0], high + fixed[1]))
    return _priced(ops, params, counts, counter.method, typical_output_tokens)


async def estimate_requests_counted(
    ops: BatchOperations,
    requests: Mapping[str, Any],
    params: Hyperparameters,
    *,
    typical_output_tokens: int | None = None,
    sample: int = VENDOR_COUNT_SAMPLE,
    concurrency: int = VENDOR_COUNT_CONCURRENCY,
) -> Estimate:
    """The :class:`Estimate` of ``requests``, input tokens counted by the vendor.

    Makes network calls (``ops.count_input_tokens``): at most ``sample`` requests are
    counted, ``concurrency`` at a time; with more requests, an evenly spread sample is
    counted and the others' offline counts scaled by the ratio the sample showed. A
    provider without a token-count endpoint, or an endpoint that fails, leaves the
    offline count in place with a warning (and ``input_note`` says why).

    Raises:
        ValidationError: Some input is invalid (checked before any call).
        MissingCredentialsError: There is no API key (raised before any call).
    """
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise ValidationError(f"count_sample must be a whole number >= 1, got {sample!r}")
    counter = _TokenCounter(ops.name, ops.settings.model)
    fixed = _fixed_tokens(counter, params)
    total = len(requests)
    chosen = _sample_indices(total, sample)
    counts: list[tuple[int, int]] = []
    picked: dict[int, list[Message]] = {}
    for index, (key, value) in enumerate(requests.items()):
        key = _checked_key(key)
        messages = normalize_input(key, value)
        low, high = _message_tokens(counter, messages)
        counts.append((low + fixed[0], high + fixed[1]))
        if index in chosen:
            # Checked like a submission would check it, so no call is made for a
            # request that could not be sent anyway.
            ops.validate_request(key, messages, params)
            picked[index] = messages
    vendor, note = await _vendor_counts(ops, picked, params, concurrency)
    if vendor is None:
        return _priced(ops, params, counts, counter.method, typical_output_tokens, note)
    method: InputMethod = "vendor"
    if len(vendor) < total:
        method = "vendor-sample"
        note = (
            f"the vendor counted {len(vendor):,} of {total:,} requests, an evenly spread "
            "sample; the others are extrapolated from it"
        )
    return _priced(ops, params, _merge_counts(counts, vendor), method, typical_output_tokens, note)


def _checked_key(key: Any) -> str:
    if not isinstance(key, str):
        raise ValidationError(f"keys must be strings, got {type(key).__name__} {key!r}")
    return key


def _sample_indices(total: int, sample: int) -> set[int]:
    """``sample`` indices spread evenly over ``range(total)`` (all of them when fewer)."""
    if total <= sample:
        return set(range(total))
    return {index * total // sample for index in range(sample)}


async def _vendor_counts(
    ops: BatchOperations,
    picked: dict[int, list[Message]],
    params: Hyperparameters,
    concurrency: int,
) -> tuple[dict[int, int] | None, str | None]:
    """The vendor's input-token counts by request index, or None and why not."""
    if not picked:
        return {}, None
    indices = sorted(picked)
    try:
        # The first call alone: a provider without the endpoint says so at no cost,
        # and a dead endpoint fails once, not eight times.
        first = await ops.count_input_tokens(picked[indices[0]], params)
        if first is None:
            return None, _fell_back(
                ops, f"the {ops.name} provider has no token-count endpoint for these settings"
            )
        counted = {indices[0]: first}
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                value = await ops.count_input_tokens(picked[index], params)
            if value is None:  # pragma: no cover - a provider either counts or does not
                raise ProviderError("the token-count endpoint gave no count", provider=ops.name)
            counted[index] = value

        await _all_or_first_error([one(index) for index in indices[1:]])
    except ProviderError as exc:
        return None, _fell_back(ops, f"the token-count endpoint failed: {exc}")
    return counted, None


async def _all_or_first_error(calls: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``calls`` together; on the first error, cancel the others and raise it."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    if not tasks:
        return
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if task in done and not task.cancelled():
            error = task.exception()
            if error is not None:
                raise error


def _fell_back(ops: BatchOperations, reason: str) -> str:
    note = f"{reason}; counted offline instead"
    logger.warning("estimate for %s: %s", ops.name, note)
    return note


def _merge_counts(offline: list[tuple[int, int]], vendor: dict[int, int]) -> list[tuple[int, int]]:
    """Per-request ``(typical, upper)`` input tokens, the vendor's counts merged in.

    A counted request's typical figure is the vendor's count; its upper bound stays at
    least the offline upper bound (vendors call their counts estimates). Requests not
    counted are scaled by the ratio of the vendor's counts to the offline typical ones
    on the sample, and their upper bound is at least that.
    """
    offline_sum = sum(offline[index][0] for index in vendor)
    ratio = sum(vendor.values()) / offline_sum if offline_sum else 1.0
    merged: list[tuple[int, int]] = []
    for index, (typical, upper) in enumerate(offline):
        exact = vendor.get(index)
        if exact is not None:
            merged.append((exact, max(exact, upper)))
        else:
            scaled = math.ceil(typical * ratio)
            merged.append((scaled, max(scaled, upper)))
    return merged


def _priced(
    ops: BatchOperations,
    params: Hyperparameters,
    counts: list[tuple[int, int]],
    method: InputMethod,
    typical_output_tokens: int | None,
    note: str | None = None,
) -> Estimate:
    """Price per-request ``(typical, upper)`` input token counts into an :class:`Estimate`."""
    model = ops.settings.model
    max_out = ops.max_output_tokens(params)
    typical_out = (
        typical_output_tokens if typical_output_tokens is not None else TYPICAL_OUTPUT_TOKENS
    )
    if typical_out < 0:
        raise ValidationError(f"typical_output_tokens must be >= 0, got {typical_out}")
    if max_out is not None:
        typical_out = min(typical_out, max_out)
    prices = find_prices(ops.name, model, ops.settings.prices, price_provider=ops.price_provider)
    tally = _Tally(prices, ops.batch_discount, ops.batch_cache_discount)
    for low, high in counts:
        tally.add(low, high, typical_out, max_out)
    count = len(counts)
    return Estimate(
        provider=ops.name,
        model=model,
        requests=count,
        input_tokens=tally.input_typical,
        input_tokens_upper=tally.input_upper,
        input_method=method,
        output_tokens=typical_out * count,
        output_tokens_upper=max_out * count if max_out is not None else None,
        batch_discount=ops.batch_discount,
        cost=tally.cost(typical=True, discounted=True),
        cost_upper=tally.cost(typical=False, discounted=True) if max_out is not None else None,
        list_cost=tally.cost(typical=True, discounted=False),
        list_cost_upper=(
            tally.cost(typical=False, discounted=False) if max_out is not None else None
        ),
        prices=prices,
        price_note=None if prices is not None else price_unknown_message(ops.name, model),
        input_note=note,
    )


class _Tally:
    """Token sums per price tier (tiers depend on each request's input size)."""

    def __init__(
        self, prices: ModelPrices | None, discount: float, cache_discount: float | None
    ) -> None:
        self.prices = prices
        self.discount = discount
        self.cache_discount = cache_discount
        self.input_typical = 0
        self.input_upper = 0
        # tier start (-1: base prices) → [input, output] tokens
        self.typical: dict[int, list[int]] = {}
        self.upper: dict[int, list[int]] = {}

    def add(
        self, input_typical: int, input_upper: int, out_typical: int, out_upper: int | None
    ) -> None:
        self.input_typical += input_typical
        self.input_upper += input_upper
        if self.prices is None:
            return
        _bucket(self.typical, self.prices, input_typical, out_typical)
        _bucket(self.upper, self.prices, input_upper, out_upper or 0)

    def cost(self, *, typical: bool, discounted: bool) -> Decimal | None:
        if self.prices is None:
            return None
        pricer = Pricer(
            self.prices,
            Decimal(str(self.discount)) if discounted else Decimal(0),
            (
                Decimal(str(self.cache_discount))
                if discounted and self.cache_discount is not None
                else None
            ),
        )
        total = Decimal(0)
        for start, (input_tokens, output_tokens) in (
            self.typical if typical else self.upper
        ).items():
            total += pricer.cost(_usage(input_tokens, output_tokens), tier_input=start + 1).total
        return total


def _bucket(
    buckets: dict[int, list[int]], prices: ModelPrices, input_tokens: int, output: int
) -> None:
    chosen = prices.at(input_tokens)
    start = chosen.start if not isinstance(chosen, ModelPrices) else -1
    sums = buckets.get(start)
    if sums is None:
        buckets[start] = [input_tokens, output]
    else:
        sums[0] += input_tokens
        sums[1] += output


def _usage(input_tokens: int, output_tokens: int) -> TokenUsage:
    from lmbatch._outputs import TokenUsage

    return TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens)


# ----------------------------------------------------------------------------- budget


def family_root(store: Store, job: JobRecord) -> JobRecord:
    """The first job of a family (resubmission rounds point back at it)."""
    seen = {job.job_id}
    while job.parent_job_id is not None:
        parent = store.get_job(job.parent_job_id)
        if parent is None or parent.job_id in seen:
            break
        seen.add(parent.job_id)
        job = parent
    return job


def family_ids(store: Store, root: JobRecord) -> list[str]:
    """Ids of a job and every resubmission round made from it."""
    ids = [root.job_id]
    while children := store.child_jobs(ids[-1]):
        ids.append(children[0].job_id)
    return ids


def spent(store: Store, job_ids: Iterable[str]) -> Decimal:
    """What the ledger holds for these jobs (results read so far), in USD."""
    total = Decimal(0)
    for entry in store.cost_entries(job_ids):
        total += (
            Decimal(entry.input)
            + Decimal(entry.cached_input)
            + Decimal(entry.output)
            + Decimal(entry.reasoning)
        )
    return total


def check_budget(
    ops: BatchOperations,
    requests: Mapping[str, Any],
    params: Hyperparameters,
    max_cost: Decimal,
    *,
    already_spent: Decimal = Decimal(0),
) -> Estimate:
    """Refuse (before anything is sent) requests whose upper-bound cost exceeds the budget.

    Raises:
        PriceUnknownError: The model has no price (so no budget can be enforced).
        ValidationError: There is no upper bound on output tokens (no ``max_tokens``).
        BudgetExceededError: The upper bound exceeds ``max_cost - already_spent``.
    """
    estimate = estimate_requests(ops, requests, params)
    if estimate.prices is None:
        raise PriceUnknownError(
            f"max_cost cannot be enforced: {estimate.price_note}",
            provider=ops.name,
            model=estimate.model,
        )
    if estimate.cost_upper is None:
        raise ValidationError(
            "max_cost needs an upper bound on output tokens: set the max_tokens "
            "hyperparameter (e.g. {'max_tokens': 500}, or -P max_tokens=500 on the CLI)"
        )
    refuse_over_budget(estimate.cost_upper, max_cost, already_spent, estimate.requests, estimate)
    return estimate


def refuse_over_budget(
    upper: Decimal,
    max_cost: Decimal,
    already_spent: Decimal,
    requests: int,
    estimate: Estimate | None = None,
) -> None:
    """Raise :class:`BudgetExceededError` when ``upper`` does not fit what is left."""
    left = max_cost - already_spent
    if upper <= left:
        return
    spent_note = f" minus {usd(already_spent)} already spent" if already_spent else ""
    tokens = ""
    if estimate is not None and estimate.output_tokens_upper is not None:
        tokens = (
            f", up to {estimate.input_tokens_upper:,} input and "
            f"{estimate.output_tokens_upper:,} output tokens"
        )
    raise BudgetExceededError(
        f"the upper-bound estimate of {requests:,} request{'s' if requests != 1 else ''} "
        f"is {usd(upper)}{tokens}, more than max_cost {usd(max_cost)}{spent_note}; nothing "
        "was sent. Raise max_cost, lower max_tokens, or send fewer requests "
        "(`lmbatch estimate` shows the figures)",
        max_cost=max_cost,
        spent=already_spent,
        upper_bound=upper,
    )
