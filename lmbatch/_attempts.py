"""What a provider tells core while it creates a batch (part of the provider interface).

Core stamps every batch it creates with the job and chunk it belongs to (where the vendor
keeps metadata), and providers that upload before their create call say when the create
call starts (:meth:`BatchOperations.create_started`): an interruption before that point
proves nothing was made. Kept apart from the submission machinery
(:mod:`lmbatch._jobs._submission`) so that the provider interface does not depend on it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = [
    "CHUNK_METADATA_KEY",
    "JOB_ID_METADATA_KEY",
    "CreateAttempt",
    "create_attempt",
    "create_started",
]

#: Metadata keys lmbatch stamps on every batch it creates (where the vendor keeps metadata).
JOB_ID_METADATA_KEY = "lmbatch_job_id"
CHUNK_METADATA_KEY = "lmbatch_chunk"


class CreateAttempt:
    """One ``submit_batch`` call: has the call that may create the batch begun?"""

    create_started = False


_attempt: contextvars.ContextVar[CreateAttempt | None] = contextvars.ContextVar(
    "lmbatch_create_attempt", default=None
)


@contextlib.contextmanager
def create_attempt() -> Iterator[CreateAttempt]:
    """Run one ``submit_batch`` call as a create attempt of this task."""
    attempt = CreateAttempt()
    token = _attempt.set(attempt)
    try:
        yield attempt
    finally:
        _attempt.reset(token)


def create_started() -> None:
    """Note that the ``submit_batch`` running in this task is sending its create call.

    Called by providers through :meth:`BatchOperations.create_started`; outside a
    submission it does nothing.
    """
    attempt = _attempt.get()
    if attempt is not None:
        attempt.create_started = True
