"""Cost before sending: estimates, and the ``max_cost`` budget of a job and its rounds.

The figures come from :mod:`lmbatch._estimate` (token counts, prices); this module is
where the user API meets them: ``estimate`` validates like ``create`` and sends nothing,
``create``/``invoke`` refuse a job over its budget before anything is recorded, and the
budget is recorded with the job so that resubmission rounds, in any process, count
against what is left (:class:`lmbatch._jobs._ledger.ResubmissionBudget`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lmbatch._errors import ValidationError
from lmbatch._estimate import (
    CountTokens,
    Estimate,
    estimate_requests,
    estimate_requests_counted,
)
from lmbatch._estimate import check_budget as _check_budget

if TYPE_CHECKING:
    from lmbatch._hyperparameters import Hyperparameters
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._messages import LMInput
    from lmbatch._store import JobRecord

__all__ = ["check_budget", "estimate", "keep_budget"]


async def estimate(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    hyperparameters: dict[str, Any] | None,
    *,
    typical_output_tokens: int | None,
    count_tokens: CountTokens,
    count_sample: int,
) -> Estimate:
    """What submitting ``requests`` would cost (see :meth:`BatchOperations.estimate`)."""
    provider = jobs.provider
    params = provider._checked_hyperparameters(hyperparameters)
    if not isinstance(requests, Mapping):
        raise ValidationError(
            f"requests must be a dict of key → input, not {type(requests).__name__}"
        )
    if count_tokens == "vendor":
        provider.check_ready()  # the model, and the API key, before any call
        return await estimate_requests_counted(
            provider,
            requests,
            params,
            typical_output_tokens=typical_output_tokens,
            sample=count_sample,
        )
    if count_tokens != "offline":
        raise ValidationError(f'count_tokens must be "offline" or "vendor", got {count_tokens!r}')
    return estimate_requests(
        provider, requests, params, typical_output_tokens=typical_output_tokens
    )


def check_budget(
    jobs: Orchestrator,
    requests: Mapping[str, LMInput],
    params: Hyperparameters,
    budget: Decimal | None,
) -> Estimate | None:
    """Refuse requests over ``budget`` (USD) before anything is recorded or sent."""
    if budget is None:
        return None
    return _check_budget(jobs.provider, requests, params, budget)


def keep_budget(
    jobs: Orchestrator,
    job: JobRecord,
    params: Hyperparameters,
    budget: Decimal | None,
    checked: Estimate | None,
) -> None:
    """Record the budget, so resubmission rounds (in any process) count against it."""
    if budget is not None and checked is not None:
        jobs.store.set_budget(job.job_id, str(budget), jobs.provider.max_output_tokens(params))
