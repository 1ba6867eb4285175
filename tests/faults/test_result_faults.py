"""Damaged result downloads, expiry with partial results: one outcome per key, always."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmbatch import BatchInfo, LMOutput, ResultsIncompleteError
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import LEDGER, REQUESTS, VENDORS, Vendor, check_outcomes, make_operations

DOWNLOAD = {"openai": "content", "anthropic": "results"}


async def _invoke(
    vendor: Vendor, emulator: Emulator, store: Path, **kwargs: object
) -> dict[str, LMOutput]:
    ops = make_operations(vendor, vendor.base_url(emulator), store)
    async with ops:
        return await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_truncated_download_loses_only_the_cut_line(vendor: Vendor, tmp_path: Path) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        tamper = emulator.faults.tamper(DOWNLOAD[vendor.name], "truncate", provider=vendor.name)  # type: ignore[arg-type]
        results = await _invoke(vendor, emulator, tmp_path / "s.sqlite3", resubmit=False)
        assert tamper.fired >= 1
        assert set(results) == set(REQUESTS)
        bad = {key: output.error for key, output in results.items() if not output.ok}
        assert len(bad) == 1, bad
        (error,) = bad.values()
        assert error is not None
        assert error.kind == "invalid_response"
        assert max(emulator.submissions.values()) == 1
        LEDGER.faults_injected += 1
        LEDGER.keys_checked += len(results)


@pytest.mark.parametrize("action", ["unknown_id", "duplicate_all"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_unknown_and_duplicate_result_lines_are_ignored(
    vendor: Vendor, action: str, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        tamper = emulator.faults.tamper(DOWNLOAD[vendor.name], action, provider=vendor.name)  # type: ignore[arg-type]
        results = await _invoke(vendor, emulator, tmp_path / "s.sqlite3")
        assert tamper.fired >= 1
        assert "never-submitted-id" not in results
        check_outcomes(results, emulator, faults=1)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_malformed_and_duplicated_lines_from_directives(
    vendor: Vendor, tmp_path: Path
) -> None:
    requests = {
        **REQUESTS,
        "req-0": "bad line [[lmbatch:malformed]]",
        "req-1": "twice [[lmbatch:duplicate]]",
    }
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        ops = make_operations(vendor, vendor.base_url(emulator), tmp_path / "s.sqlite3")
        async with ops:
            results = await ops.invoke(requests, status_check_interval=0, max_iterations=200)
        assert set(results) == set(requests)
        assert results["req-0"].error is not None
        assert results["req-0"].error.kind == "invalid_response"
        assert results["req-1"].ok
        assert all(results[key].ok for key in requests if key != "req-0")
        assert max(emulator.submissions.values()) == 1
        LEDGER.faults_injected += 2
        LEDGER.keys_checked += len(results)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_expired_batch_is_completed_by_resubmission(vendor: Vendor, tmp_path: Path) -> None:
    # Slow enough that the batch is still running when the first check reports it.
    async with Emulator(EmulatorSettings(mode="polls", polls_per_step=3)) as emulator:
        expired: list[str] = []

        def expire_first_batch(info: BatchInfo) -> None:
            # The first status check sees the first batch running: let its window close
            # with only two requests done.
            if not expired:
                expired.append(info["id"])
                emulator.expire(info["id"], finished=2)

        results = await _invoke(
            vendor, emulator, tmp_path / "s.sqlite3", on_progress=expire_first_batch
        )
        assert set(results) == set(REQUESTS)
        assert all(output.ok for output in results.values())
        rounds = sorted(
            output.finish_details.get("lmbatch_round", 1) for output in results.values()
        )
        assert rounds == [1, 1, 2, 2, 2, 2]
        # Two batches: the expired one and the resubmission of its four unfinished requests.
        assert emulator.create_calls == 2
        resubmitted = [cid for cid, count in emulator.submissions.items() if count == 2]
        assert len(resubmitted) == 4
        LEDGER.faults_injected += 1
        LEDGER.keys_checked += len(results)


@pytest.mark.parametrize("action", ["empty", "drop_tail", "disconnect"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_short_download_is_read_again_not_paid_again(
    vendor: Vendor, action: str, tmp_path: Path
) -> None:
    """A download that comes back short once is read again; nothing is resubmitted."""
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        tamper = emulator.faults.tamper(
            DOWNLOAD[vendor.name],
            action,  # type: ignore[arg-type]
            provider=vendor.name,  # type: ignore[arg-type]
            times=1,
        )
        results = await _invoke(vendor, emulator, tmp_path / "s.sqlite3")
        assert tamper.fired == 1
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1
        assert all(
            output.finish_details.get("lmbatch_round", 1) == 1 for output in results.values()
        )


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_download_failing_once_is_retried_within_the_call(
    vendor: Vendor, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        fault = emulator.faults.fail(DOWNLOAD[vendor.name], 500, nth=1, provider=vendor.name)  # type: ignore[arg-type]
        results = await _invoke(vendor, emulator, tmp_path / "s.sqlite3")
        assert fault.fired == 1
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


@pytest.mark.parametrize("action", ["empty", "drop_tail", "disconnect"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_download_that_stays_short_raises_and_nothing_is_paid_twice(
    vendor: Vendor, action: str, tmp_path: Path
) -> None:
    store = tmp_path / "s.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        tamper = emulator.faults.tamper(
            DOWNLOAD[vendor.name],
            action,  # type: ignore[arg-type]
            provider=vendor.name,  # type: ignore[arg-type]
        )
        with pytest.raises(ResultsIncompleteError) as caught:
            await _invoke(vendor, emulator, store)
        error = caught.value
        assert error.is_transient
        read = 0 if action == "empty" else len(REQUESTS) // 2
        assert (error.expected, error.read) == (len(REQUESTS), read)
        message = str(error)
        assert error.batch_id in message
        assert f"retrieve({error.batch_id!r})" in message
        assert f"lmbatch results {error.batch_id}" in message
        assert tamper.fired > 1  # read again before giving up
        assert emulator.create_calls == 1
        assert set(emulator.submissions.values()) == {1}
        # Once downloads are whole again, the same invoke re-attaches and reads them all.
        emulator.faults.clear()
        results = await _invoke(vendor, emulator, store)
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_expired_batch_read_short_resubmits_only_what_never_ran(
    vendor: Vendor, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls", polls_per_step=3)) as emulator:
        expired: list[str] = []

        def expire_first_batch(info: BatchInfo) -> None:
            if not expired:
                expired.append(info["id"])
                emulator.expire(info["id"], finished=3)

        tamper = emulator.faults.tamper(
            DOWNLOAD[vendor.name],
            "empty",
            provider=vendor.name,  # type: ignore[arg-type]
            times=1,
        )
        results = await _invoke(
            vendor, emulator, tmp_path / "s.sqlite3", on_progress=expire_first_batch
        )
        assert tamper.fired == 1
        assert set(results) == set(REQUESTS)
        assert all(output.ok for output in results.values())
        # The three that ran are paid once; only the three that expired are sent again.
        assert sorted(emulator.submissions.values()) == [1, 1, 1, 2, 2, 2]
        assert emulator.create_calls == 2
        LEDGER.faults_injected += 2
        LEDGER.keys_checked += len(results)
