"""Shared pieces of the fault-injection suite: vendors, requests, the ledger of checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lmbatch
from lmbatch import BatchOperations, LMOutput
from lmbatch.testing.emulator import Emulator
from lmbatch.testing.proxy import HostileProxy


@dataclass(frozen=True)
class Vendor:
    """One provider as driven through the emulator."""

    name: str
    model: str
    #: Emulator operation names of this vendor's endpoints.
    operations: tuple[str, ...]

    def base_url(self, server: Emulator | HostileProxy) -> str:
        """This vendor's base URL on the emulator, or on a hostile proxy in front of it."""
        return server.openai_base_url if self.name == "openai" else server.anthropic_base_url


OPENAI = Vendor("openai", "gpt-4.1-mini", ("upload", "create", "retrieve", "list", "content"))
ANTHROPIC = Vendor("anthropic", "claude-sonnet-4-5", ("create", "retrieve", "list", "results"))
VENDORS = (OPENAI, ANTHROPIC)

#: Keys valid as custom ids for every vendor, so the emulator counts them as sent.
REQUESTS: dict[str, Any] = {f"req-{i}": f"Question number {i}?" for i in range(6)}


def make_operations(
    vendor: Vendor, base_url: str, store: Path | str, **options: Any
) -> BatchOperations:
    """A provider pointed at the emulator; SDK retries off so every fault reaches lmbatch.

    A results download that failed or came back short is read again without pausing.
    An interrupted create settles after half a second (the default is minutes): the
    emulator finishes a create at most ``create_delay`` after its client went away.
    """
    options.setdefault("create_settle_seconds", 0.5)
    ops = lmbatch.get_batch_operations(
        vendor.name,
        model=vendor.model,
        base_url=base_url,
        api_key="test-key",
        store=str(store),
        max_retries=0,
        **options,
    )
    ops.result_download_delays = (0.0, 0.0, 0.0)
    return ops


@dataclass
class Ledger:
    """What the suite checked, reported at the end of the run."""

    faults_injected: int = 0
    keys_checked: int = 0
    duplicates_found: int = 0
    #: Figures of the kill -9 loop, per vendor (tests/faults/test_kill_loop.py).
    kill_loop: dict[str, dict[str, int]] = field(default_factory=dict)


LEDGER = Ledger()


def check_outcomes(results: dict[str, LMOutput], emulator: Emulator, faults: int) -> None:
    """Every key has one outcome, and the emulator saw each custom id submitted once."""
    assert set(results) == set(REQUESTS), sorted(results)
    assert all(output.ok for output in results.values()), {
        key: output.error for key, output in results.items() if not output.ok
    }
    duplicates = {cid: n for cid, n in emulator.submissions.items() if n != 1}
    LEDGER.faults_injected += faults
    LEDGER.keys_checked += len(results)
    LEDGER.duplicates_found += len(duplicates)
    assert set(emulator.submissions) == set(REQUESTS)
    assert duplicates == {}, f"submitted more than once: {duplicates}"
