"""Waiting cannot hang: unknown statuses, batches past their expiry, stalled HTTP calls.

A vendor that answers with a status word nobody knows is logged once and still bounded;
a batch still running well past its ``expires_at`` (or its creation plus the completion
window) stops the wait with :class:`BatchOverdueError`; and ``timeout`` holds even while
one status check or result download hangs, raising :class:`BatchTimeoutError` with the
batch id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import BatchOperations, BatchOverdueError, BatchTimeoutError, JobStore
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.testing.proxy import DROP, HostileProxy
from tests.faults._harness import OPENAI, REQUESTS, VENDORS, Vendor, make_operations

StartProxy = Callable[[str | None], HostileProxy]
BATCH_PATH = {"openai": "/v1/batches/*", "anthropic": "/v1/messages/batches/*"}
DOWNLOAD_PATH = {"openai": "/v1/files/*/content", "anthropic": "/v1/messages/batches/*/results"}
STATUS_FIELD = {"openai": "status", "anthropic": "processing_status"}


def _stamp(vendor: Vendor, moment: datetime) -> Any:
    """A time as the vendor writes it: unix seconds (OpenAI) or RFC 3339 (Anthropic)."""
    if vendor is OPENAI:
        return int(moment.timestamp())
    return moment.isoformat().replace("+00:00", "Z")


def _batch_id(store: Path) -> str:
    opened = JobStore(store)
    try:
        (job,) = opened.list_jobs()
        (batch_id,) = job.batch_ids
        return batch_id
    finally:
        opened.close()


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_an_unknown_vendor_status_is_logged_once_per_batch(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy, caplog: pytest.LogCaptureFixture
) -> None:
    async with Emulator(EmulatorSettings(mode="manual")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        proxy.on("GET", BATCH_PATH[vendor.name]).rewrite({STATUS_FIELD[vendor.name]: "pondering"})
        ops = make_operations(vendor, vendor.base_url(proxy), tmp_path / "jobs.sqlite3")
        with caplog.at_level(logging.WARNING, logger="lmbatch"), pytest.raises(BatchTimeoutError):
            async with ops:
                await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=6)
    logged = [record for record in caplog.records if "pondering" in record.getMessage()]
    assert len(logged) == 1
    assert _batch_id(tmp_path / "jobs.sqlite3") in logged[0].getMessage()


@pytest.mark.parametrize("status", ["pondering", None], ids=["unknown-status", "known-status"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_a_batch_running_long_past_its_expiry_stops_the_wait_with_a_typed_error(
    vendor: Vendor, status: str | None, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="manual")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        changes: dict[str, Any] = {
            "expires_at": _stamp(vendor, datetime.now(UTC) - timedelta(days=1))
        }
        if status is not None:
            changes[STATUS_FIELD[vendor.name]] = status
        proxy.on("GET", BATCH_PATH[vendor.name]).rewrite(changes)
        ops = make_operations(vendor, vendor.base_url(proxy), store)
        with pytest.raises(BatchOverdueError) as caught:
            async with ops:
                await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=50)
    batch_id = _batch_id(store)
    assert caught.value.batch_id == batch_id
    assert caught.value.overdue_batch_id == batch_id
    assert batch_id in str(caught.value)
    assert emulator.create_calls == 1  # nothing resubmitted


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_without_expires_at_a_batch_is_overdue_after_creation_plus_the_window(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="manual")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        created = _stamp(vendor, datetime.now(UTC) - timedelta(days=3))
        proxy.on("GET", BATCH_PATH[vendor.name]).rewrite(
            {"created_at": created, "expires_at": DROP}
        )
        ops = make_operations(vendor, vendor.base_url(proxy), store)
        with pytest.raises(BatchOverdueError):
            async with ops:
                await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=50)


def _through(body: Any, origin: str, proxy_url: str) -> Any:
    url = body.get("results_url") if isinstance(body, dict) else None
    if isinstance(url, str):
        body["results_url"] = url.replace(origin, proxy_url)
    return body


def _patient_operations(vendor: Vendor, base_url: str, store: Path) -> BatchOperations:
    """SDK defaults for timeouts and retries (600 s per call, 2 retries)."""
    return lmbatch.get_batch_operations(
        vendor.name, model=vendor.model, base_url=base_url, api_key="test-key", store=str(store)
    )


async def _wait_through(entry: str, ops: BatchOperations, timeout: float) -> None:
    if entry == "invoke":
        await ops.invoke(REQUESTS, status_check_interval=0, timeout=timeout)
    else:
        batch_id = await ops.create(REQUESTS)
        await lmbatch.wait(ops, batch_id, status_check_interval=0, timeout=timeout)


@pytest.mark.parametrize("entry", ["invoke", "wait"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_timeout_holds_while_a_status_check_is_stalled(
    vendor: Vendor, entry: str, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        proxy.on("GET", BATCH_PATH[vendor.name]).stall(3600)
        ops = _patient_operations(vendor, vendor.base_url(proxy), store)
        # The guard only turns the old hang into a failure; the deadline is 1 s.
        async with asyncio.timeout(60), ops:
            with pytest.raises(BatchTimeoutError) as caught:
                await _wait_through(entry, ops, timeout=1)
    assert caught.value.batch_id == _batch_id(store)
    assert _batch_id(store) in str(caught.value)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_invoke_timeout_holds_while_the_results_download_is_stalled(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        download = proxy.on("GET", DOWNLOAD_PATH[vendor.name]).stall(3600)
        # Anthropic's results_url is absolute: route it through the proxy as well.
        proxy.on("GET", BATCH_PATH[vendor.name]).rewrite(
            edit=lambda body: _through(body, emulator.base_url, proxy.url)
        )
        ops = _patient_operations(vendor, vendor.base_url(proxy), store)
        async with asyncio.timeout(60), ops:
            with pytest.raises(BatchTimeoutError) as caught:
                await ops.invoke(REQUESTS, status_check_interval=0, timeout=5)
    assert download.fired >= 1
    assert caught.value.batch_id == _batch_id(store)
