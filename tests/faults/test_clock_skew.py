"""This machine's clock 10 minutes off the vendor's: interrupted creates are still found.

The emulator's ``clock_offset`` shifts every time the vendor reports (batch ``created_at``,
the HTTP ``Date`` header). Reconciliation must judge batches by the vendor's clock, so a
create that made a batch is never sent again, and one that made nothing is sent once more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmbatch import LMBatchError, LMOutput
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import REQUESTS, VENDORS, Vendor, check_outcomes, make_operations

#: The vendor's clock minus ours: 10 minutes behind, and 10 minutes ahead.
SKEWS = [
    pytest.param(-600.0, id="vendor-10min-behind"),
    pytest.param(600.0, id="vendor-10min-ahead"),
]


async def _invoke_until_done(
    vendor: Vendor, emulator: Emulator, store: Path
) -> dict[str, LMOutput]:
    last: LMBatchError | None = None
    for _ in range(4):
        ops = make_operations(vendor, vendor.base_url(emulator), store)
        try:
            async with ops:
                return await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200)
        except LMBatchError as exc:
            last = exc
    raise AssertionError(f"invoke never completed: {last!r}")


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_create_that_made_a_batch_is_found_whatever_the_clocks_say(
    vendor: Vendor, skew: float, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls", clock_offset=skew)) as emulator:
        fault = emulator.faults.fail(
            "create",
            500,
            nth=1,
            provider=vendor.name,  # type: ignore[arg-type]
            after_effect=True,
        )
        results = await _invoke_until_done(vendor, emulator, tmp_path / "jobs.sqlite3")
        assert fault.fired == 1
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_create_that_made_nothing_is_sent_once_more_whatever_the_clocks_say(
    vendor: Vendor, skew: float, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls", clock_offset=skew)) as emulator:
        fault = emulator.faults.fail("create", 500, nth=1, provider=vendor.name)  # type: ignore[arg-type]
        results = await _invoke_until_done(vendor, emulator, tmp_path / "jobs.sqlite3")
        assert fault.fired == 1
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 2
