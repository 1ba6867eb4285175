"""Who is submitting a chunk: claims, owners and their leases.

A chunk is claimed in the job store (atomically: two processes never both submit it)
under its owner's ``host:pid`` before its create call is sent. A chunk left
*submitting* is another live submitter's while its owner may still be at work
(:func:`owner_alive`), and an abandoned create, to be reconciled, otherwise.

A worker (:mod:`lmbatch.worker`) keeps a heartbeat in the store: a chunk claimed by a
worker is its own while that heartbeat is fresh, on any machine, and abandoned once it
lapses (a SIGKILLed worker's chunks are taken over after its lease, not after
:data:`OWNER_LEASE_SECONDS`). A worker shutting down closes the gate of its claims
(:class:`ClaimGate`): no chunk is claimed after that, while creates in progress finish.
"""

from __future__ import annotations

import os
import socket
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING

from lmbatch._errors import LMBatchError

if TYPE_CHECKING:
    from lmbatch._store import ChunkRecord
    from lmbatch._store_contract import Store

__all__ = [
    "OWNER_LEASE_SECONDS",
    "ClaimGate",
    "ClaimsClosedError",
    "check_claims_open",
    "claim_gate",
    "in_flight",
    "owner_alive",
    "owner_id",
]

#: A submitting chunk whose owner has been silent this long is treated as abandoned.
OWNER_LEASE_SECONDS = 30 * 60

_HOST = socket.gethostname()
#: (job id, chunk index) pairs this process is submitting right now.
in_flight: set[tuple[str, int]] = set()


def owner_id() -> str:
    """This process, as a chunk's owner."""
    return f"{_HOST}:{os.getpid()}"


class ClaimsClosedError(LMBatchError):
    """No chunk may be claimed any more in this context (a worker is shutting down)."""


class ClaimGate:
    """Open until :meth:`close`: a worker closes it to stop claiming chunks."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        """Claim nothing more (creates already claimed go on)."""
        self.closed = True


#: The gate of the claims made in this context (a worker sets its own; None: always open).
claim_gate: ContextVar[ClaimGate | None] = ContextVar("lmbatch_claim_gate", default=None)


def check_claims_open() -> None:
    """Raise :class:`ClaimsClosedError` if this context's claim gate is closed."""
    gate = claim_gate.get()
    if gate is not None and gate.closed:
        raise ClaimsClosedError("this worker is shutting down: no new chunk is claimed")


def owner_alive(job_id: str, chunk: ChunkRecord, store: Store | None = None) -> bool:
    """Whether the process that claimed ``chunk`` may still be submitting it.

    Args:
        store: The job store, where a worker owner's heartbeat is looked up.
    """
    if chunk.owner is None:
        return False
    worker = store.worker_alive(chunk.owner) if store is not None else None
    if worker is False:
        return False  # a worker whose lease lapsed: dead or cut off, on any machine
    if worker is None and time.time() - chunk.updated_at > OWNER_LEASE_SECONDS:
        return False
    host, _, pid_text = chunk.owner.rpartition(":")
    if host != _HOST:
        return True  # another machine: trust the lease
    pid = int(pid_text) if pid_text.isdigit() else -1
    if pid == os.getpid():
        return (job_id, chunk.index) in in_flight
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
