"""500 and 429 on every endpoint in turn, for every vendor: nothing lost, nothing paid twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmbatch import LMBatchError, LMOutput
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import REQUESTS, VENDORS, Vendor, check_outcomes, make_operations

CASES = [
    pytest.param(
        vendor,
        operation,
        status,
        after,
        id=f"{vendor.name}-{operation}-{status}{'-after-effect' if after else ''}",
    )
    for vendor in VENDORS
    for operation in vendor.operations
    for status in (500, 429)
    # The vendor acting and then answering with an error is a 5xx story; a 429 is a
    # definite refusal.
    for after in ((False, True) if operation == "create" and status == 500 else (False,))
    if operation != "list"  # lmbatch lists only to reconcile; see the test below
]


async def _invoke_until_done(
    vendor: Vendor, emulator: Emulator, store: Path
) -> dict[str, LMOutput]:
    """Run the same invoke again after any error, as a user (or a supervisor) would."""
    last: LMBatchError | None = None
    for _ in range(4):
        ops = make_operations(vendor, vendor.base_url(emulator), store)
        try:
            async with ops:
                return await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200)
        except LMBatchError as exc:
            last = exc
    raise AssertionError(f"invoke never completed: {last!r}")


@pytest.mark.parametrize(("vendor", "operation", "status", "after_effect"), CASES)
async def test_fault_on_one_endpoint(
    vendor: Vendor, operation: str, status: int, after_effect: bool, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        fault = emulator.faults.fail(
            operation,
            status,
            nth=1,
            provider=vendor.name,
            after_effect=after_effect,  # type: ignore[arg-type]
        )
        results = await _invoke_until_done(vendor, emulator, tmp_path / "jobs.sqlite3")
        assert fault.fired == 1
        check_outcomes(results, emulator, faults=fault.fired)
        assert emulator.create_calls == (2 if operation == "create" and not after_effect else 1)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_every_status_check_failing_for_a_while(vendor: Vendor, tmp_path: Path) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        faults = [
            emulator.faults.fail("retrieve", status, nth=n, provider=vendor.name)  # type: ignore[arg-type]
            for n, status in ((1, 500), (2, 429), (3, 503))
        ]
        ops = make_operations(vendor, vendor.base_url(emulator), tmp_path / "jobs.sqlite3")
        async with ops:
            results = await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200)
        check_outcomes(results, emulator, faults=sum(f.fired for f in faults))
        assert emulator.create_calls == 1


@pytest.mark.parametrize("status", [500, 429])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_list_failing_while_reconciling_an_uncertain_create(
    vendor: Vendor, status: int, tmp_path: Path
) -> None:
    """The batch was made but the client saw a 500; then the lookup fails too."""
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        create = emulator.faults.fail("create", 500, nth=1, provider=vendor.name, after_effect=True)  # type: ignore[arg-type]
        # List calls: 1 reads the vendor's clock before the create, 2 when reconciling,
        # 3 is the reconciliation's own listing: that one fails.
        listing = emulator.faults.fail("list", status, nth=3, provider=vendor.name)  # type: ignore[arg-type]
        results = await _invoke_until_done(vendor, emulator, tmp_path / "jobs.sqlite3")
        assert (create.fired, listing.fired) == (1, 1)
        check_outcomes(results, emulator, faults=2)
        assert emulator.create_calls == 1
