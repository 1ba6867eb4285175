"""What ``invoke`` does with outcomes: which are resubmitted, which count as errors.

One home for the resubmission policy: :func:`should_resubmit` decides whether an outcome
is worth a new batch (expired, missing, or a transient failure; never a cancelled or
permanently invalid request), ``retry_on`` and ``treat_as_error`` (an
:class:`OutcomePolicy`) adjust it by finish reason, and ``on_resubmit`` hears of every
round (:class:`ResubmissionRound`). Making a round is :mod:`lmbatch._jobs._resubmission`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from lmbatch._errors import ValidationError
from lmbatch._outputs import FINISH_REASONS, LMError, LMOutput

if TYPE_CHECKING:
    from lmbatch._store import JobRecord

__all__ = [
    "DEFAULT_RESUBMIT_ROUNDS",
    "OutcomePolicy",
    "ResubmissionRound",
    "resubmit_reason",
    "resubmit_rounds",
    "should_resubmit",
]

#: Resubmission rounds ``invoke`` runs by default.
DEFAULT_RESUBMIT_ROUNDS = 2


def should_resubmit(output: LMOutput, retry_on: Collection[str] = ()) -> bool:
    """Whether a request's outcome is worth submitting again in a new batch.

    Args:
        output: The outcome.
        retry_on: Finish reasons (``length``, ``content_filter``...) for which an ok
            answer is resubmitted too (see ``retry_on`` of :meth:`BatchOperations.invoke`).
    """
    error = output.error
    if error is None:
        return output.finish_reason is not None and output.finish_reason in retry_on
    if error.kind in ("expired", "missing"):
        return True
    if error.kind != "errored":
        return False  # cancelled on purpose, or answered (and billed) but unreadable
    # Set by the provider's decoder, for its vendor's codes and the HTTP status.
    return error.transient


def resubmit_reason(output: LMOutput) -> str:
    """Why an outcome is resubmitted, in a word or two (for progress and ``--json``)."""
    error = output.error
    if error is None:
        return f"finish_reason {output.finish_reason}"
    if error.kind == "errored":
        return f"errored ({error.code or error.status_code or 'transient'})"
    return error.kind


class ResubmissionRound(TypedDict):
    """A resubmission round about to be sent (``on_resubmit`` of ``invoke``).

    Attributes:
        round: The round's number (2 for the first resubmission).
        job_id: The round's job id.
        parent_job_id: The job (round) whose outcomes it resubmits.
        requests: How many requests it resubmits.
        reasons: How many for each reason (``expired``, ``errored (rate_limit_exceeded)``,
            ``finish_reason length``...).
    """

    round: int
    job_id: str
    parent_job_id: str
    requests: int
    reasons: dict[str, int]


@dataclass(frozen=True)
class OutcomePolicy:
    """What ``invoke`` does with outcomes beyond the defaults: ``retry_on``,
    ``treat_as_error``, and who is told of each resubmission round."""

    retry_on: frozenset[str] = frozenset()
    treat_as_error: frozenset[str] = frozenset()
    on_resubmit: Callable[[ResubmissionRound], None] | None = None

    @classmethod
    def of(
        cls,
        retry_on: Collection[str] | str,
        treat_as_error: Collection[str] | str,
        on_resubmit: Callable[[ResubmissionRound], None] | None,
    ) -> OutcomePolicy:
        """The policy of ``invoke``'s arguments, checked."""
        return cls(
            finish_reasons("retry_on", retry_on),
            finish_reasons("treat_as_error", treat_as_error),
            on_resubmit,
        )

    def final(self, output: LMOutput, provider: str) -> LMOutput:
        """``output`` as handed to the caller: an error if its finish reason says so."""
        reason = output.finish_reason
        if output.error is not None or reason is None or reason not in self.treat_as_error:
            return output
        error = LMError(
            kind="errored",
            code=f"finish_reason_{reason}",
            message=f"generation stopped with finish_reason {reason!r}, counted as an "
            "error (treat_as_error)",
            provider=provider,
        )
        return output.model_copy(update={"error": error})

    def announce(self, parent: JobRecord, child: JobRecord, reasons: Counter[str]) -> None:
        """Tell ``on_resubmit`` that ``child`` resubmits outcomes of ``parent``."""
        if self.on_resubmit is None:
            return
        self.on_resubmit(
            ResubmissionRound(
                round=child.round,
                job_id=child.job_id,
                parent_job_id=parent.job_id,
                requests=child.request_count,
                reasons=dict(reasons.most_common()),
            )
        )


def finish_reasons(name: str, value: Collection[str] | str) -> frozenset[str]:
    """``retry_on``/``treat_as_error`` checked: finish reasons (a word or several)."""
    words = frozenset([value] if isinstance(value, str) else value)
    unknown = sorted(words - FINISH_REASONS)
    if unknown:
        raise ValidationError(
            f"{name}: unknown finish reason(s) {unknown}; choose among "
            f"{', '.join(sorted(FINISH_REASONS))}"
        )
    return words


def resubmit_rounds(resubmit: int | bool) -> int:
    """Rounds of resubmission of a ``resubmit`` argument (``True`` = the default 2)."""
    if isinstance(resubmit, bool):
        return DEFAULT_RESUBMIT_ROUNDS if resubmit else 0
    return resubmit
