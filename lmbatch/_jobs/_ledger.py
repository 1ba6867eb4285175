"""The cost ledger: what each batch of a job cost, kept in the job store.

Core prices every outcome where results are collected (one price lookup per batch) and,
once every result of a batch was read, records the batch's total in the store's
``cost_ledger`` table, keyed by (job, chunk): reading results again replaces the entry
with the same figures, so nothing is counted twice. ``info()`` sums the ledger over a
job and all its resubmission rounds, without downloading anything again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lmbatch._cost import Cost, Pricer, pricer_for, usd
from lmbatch._estimate import (
    BYTES_PER_TOKEN_UPPER,
    REQUEST_OVERHEAD,
    family_ids,
    family_root,
    spent,
)
from lmbatch._store import LedgerEntry

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch._status import BatchInfo
    from lmbatch._store import JobRecord

__all__ = ["CostTally", "ResubmissionBudget", "batch_pricer", "cost_facts"]

_ZERO = Decimal(0)


def batch_pricer(ops: BatchOperations, job: JobRecord | None, info: BatchInfo) -> Pricer | None:
    """The pricer for one batch's results: its job's model, prices as of its creation."""
    model = job.model if job is not None else (info.get("model") or ops.settings.model)
    return pricer_for(
        ops.name,
        model,
        ops.settings.prices,
        discount=ops.batch_discount,
        cache_discount=ops.batch_cache_discount,
        price_provider=ops.price_provider,
        at=info.get("created_at"),
    )


class CostTally:
    """Sums the costs of one batch's outcomes as they are read."""

    def __init__(self) -> None:
        self.requests = 0
        self.unpriced = 0
        self.input = _ZERO
        self.cached_input = _ZERO
        self.output = _ZERO
        self.reasoning = _ZERO

    def add(self, cost: Cost | None) -> None:
        """Count one outcome's cost (None: its price is unknown)."""
        self.requests += 1
        if cost is None:
            self.unpriced += 1
            return
        self.input += cost.input
        self.cached_input += cost.cached_input
        self.output += cost.output
        self.reasoning += cost.reasoning

    def record(self, ops: BatchOperations, job: JobRecord, chunk_index: int, batch_id: str) -> None:
        """Write the batch's total to the ledger (replacing an earlier reading's)."""
        ops.store.record_cost(
            LedgerEntry(
                job_id=job.job_id,
                chunk_index=chunk_index,
                batch_id=batch_id,
                requests=self.requests,
                unpriced=self.unpriced,
                input=str(self.input),
                cached_input=str(self.cached_input),
                output=str(self.output),
                reasoning=str(self.reasoning),
            )
        )


def cost_facts(ops: BatchOperations, job: JobRecord, chunk_index: int | None) -> dict[str, Any]:
    """``cost``, ``cost_note`` and ``budget`` of ``info()``, from the ledger alone.

    With ``chunk_index`` None (a job, or a one-batch job named by its batch id) every
    round of the job is summed; otherwise only that batch.
    """
    store = ops.store
    if chunk_index is None or len(job.chunks) == 1:
        root = family_root(store, job)
        ids = family_ids(store, root)
        jobs = [found for found in (store.get_job(i) for i in ids) if found is not None]
        batches = sum(len(found.chunks) for found in jobs)
        entries = store.cost_entries(ids)
    else:
        root = None
        batches = 1
        entries = [e for e in store.cost_entries([job.job_id]) if e.chunk_index == chunk_index]
    facts: dict[str, Any] = {}
    if entries:
        total = Cost(
            input=sum((Decimal(e.input) for e in entries), _ZERO),
            cached_input=sum((Decimal(e.cached_input) for e in entries), _ZERO),
            output=sum((Decimal(e.output) for e in entries), _ZERO),
            reasoning=sum((Decimal(e.reasoning) for e in entries), _ZERO),
        )
        facts["cost"] = total
        notes = []
        if len(entries) < batches:
            notes.append(f"results of {len(entries)} of {batches} batches read so far")
        unpriced = sum(e.unpriced for e in entries)
        if unpriced:
            notes.append(f"{unpriced} request(s) without a known price are not included")
        if notes:
            facts["cost_note"] = "; ".join(notes)
    else:
        facts["cost"] = None
        facts["cost_note"] = "no results read yet: the ledger fills as results are read"
    if root is not None:
        budget = store.budget(root.job_id)
        if budget is not None:
            max_cost = Decimal(budget.max_cost)
            used = spent(store, family_ids(store, root))
            facts["budget"] = {
                "max_cost": max_cost,
                "spent": used,
                "left": max_cost - used,
                "note": budget.note,
            }
    return facts


class ResubmissionBudget:
    """Checks a resubmission round against what is left of the family's budget.

    The round's input is bounded from its encoded records (every text in the request
    body at one token per 3 bytes: an over-estimate, as a bound should be) and its
    output by the ``max_tokens`` the budget was first checked with.
    """

    def __init__(self, ops: BatchOperations, parent: JobRecord) -> None:
        self.ops = ops
        store = ops.store
        self.root = family_root(store, parent)
        self.record = store.budget(self.root.job_id)
        self.pricer: Pricer | None = None
        self.requests = 0
        self.upper = _ZERO
        if self.record is not None:
            self.pricer = pricer_for(
                ops.name,
                parent.model,
                ops.settings.prices,
                discount=ops.batch_discount,
                cache_discount=ops.batch_cache_discount,
                price_provider=ops.price_provider,
            )

    def add(self, record: dict[str, Any]) -> None:
        """Count one request of the round (an encoded record)."""
        if self.record is None:
            return
        self.requests += 1
        body = record.get("body", record.get("params", record))
        size = _text_bytes(body)
        input_upper = REQUEST_OVERHEAD + -(-size // BYTES_PER_TOKEN_UPPER)
        output_upper = self.record.max_output_tokens or 0
        if self.pricer is not None:
            from lmbatch._outputs import TokenUsage

            usage = TokenUsage(input_tokens=input_upper, output_tokens=output_upper)
            self.upper += self.pricer.cost(usage).total

    def refusal(self) -> str | None:
        """Why the round may not be submitted (recorded in the budget's note), or None."""
        if self.record is None or self.requests == 0:
            return None
        store = self.ops.store
        max_cost = Decimal(self.record.max_cost)
        used = spent(store, family_ids(store, self.root))
        if self.pricer is None or self.record.max_output_tokens is None:
            why = "its cost has no known upper bound"
        elif self.upper <= max_cost - used:
            return None
        else:
            why = (
                f"its upper-bound estimate {usd(self.upper)} exceeds the {usd(max_cost - used)} "
                f"left of max_cost {usd(max_cost)}"
            )
        note = f"resubmission of {self.requests} request(s) not sent: {why}"
        store.set_budget(
            self.root.job_id, self.record.max_cost, self.record.max_output_tokens, note
        )
        return note


def _text_bytes(value: Any) -> int:
    """UTF-8 bytes of every string in a JSON value, but the model name and ids."""
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, dict):
        return sum(
            _text_bytes(item)
            for name, item in value.items()
            if name not in ("model", "custom_id", "method", "url")
        )
    if isinstance(value, list):
        return sum(_text_bytes(item) for item in value)
    return 0  # numbers and flags (max_tokens, temperature...) are not prompt text
