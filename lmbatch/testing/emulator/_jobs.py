"""What both halves' batch records share: the lifecycle contract and result-line writing."""

from __future__ import annotations

import json
from typing import IO, Any, Protocol

from lmbatch.testing.emulator._faults import KeyFault


class Job(Protocol):
    """A batch record the state can drive through its lifecycle."""

    id: str
    polls: int
    last_step_at: float

    @property
    def terminal(self) -> bool:
        """Whether the batch has reached a final state."""
        ...

    def step(self) -> None:
        """Advance one lifecycle step (no-op when terminal)."""
        ...

    def expire(self, finished: int) -> None:
        """End the batch as expired with the first ``finished`` runnable requests done."""
        ...


def write_line(out: IO[str], record: dict[str, Any], fault: KeyFault) -> None:
    """Write one JSONL result line, applying the omit / malformed / duplicate faults."""
    if fault.omit:
        return
    line = json.dumps(record, separators=(",", ":"))
    if fault.malformed:
        # Cut mid-object so the line is no longer JSON but still names the custom_id.
        line = line[: max(1, len(line) // 2)]
    out.write(line + "\n")
    if fault.duplicate:
        out.write(line + "\n")


def runnable_prefix(ids: list[str], expiring: set[str], finished: int) -> set[str]:
    """The first ``finished`` ids in input order, skipping those scripted to expire."""
    chosen: set[str] = set()
    for custom_id in ids:
        if len(chosen) >= finished:
            break
        if custom_id not in expiring:
            chosen.add(custom_id)
    return chosen
