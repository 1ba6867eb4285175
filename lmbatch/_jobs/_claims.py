"""Who is submitting a chunk: claims, owners and their leases.

A chunk is claimed in the job store (atomically: two processes never both submit it)
under its owner's ``host:pid`` before its create call is sent. A chunk left
*submitting* is another live submitter's while its owner may still be at work
(:func:`owner_alive`), and an abandoned create, to be reconciled, otherwise.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmbatch._store import ChunkRecord

__all__ = ["OWNER_LEASE_SECONDS", "in_flight", "owner_alive", "owner_id"]

#: A submitting chunk whose owner has been silent this long is treated as abandoned.
OWNER_LEASE_SECONDS = 30 * 60

_HOST = socket.gethostname()
#: (job id, chunk index) pairs this process is submitting right now.
in_flight: set[tuple[str, int]] = set()


def owner_id() -> str:
    """This process, as a chunk's owner."""
    return f"{_HOST}:{os.getpid()}"


def owner_alive(job_id: str, chunk: ChunkRecord) -> bool:
    """Whether the process that claimed ``chunk`` may still be submitting it."""
    if chunk.owner is None or time.time() - chunk.updated_at > OWNER_LEASE_SECONDS:
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
