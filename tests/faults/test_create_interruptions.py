"""Creates whose outcome is unknown stay uncertain: the re-run checks, and never pays twice.

A create call interrupted (``task.cancel()``, Ctrl-C) while it is open at the vendor, or
answered in a way nobody can read (a 200 with an HTML page, a JSON body without ``id``),
may have made a batch. The chunk stays *submitting* and the next run reconciles it with
the vendor instead of sending it again. An interruption before the create call (OpenAI's
upload) is definitely "not created" and is simply sent again, without a lookup.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lmbatch import JobStore, LMOutput, SubmissionUncertainError
from lmbatch._store import CHUNK_PLANNED, CHUNK_SUBMITTING, ChunkRecord
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.testing.proxy import HostileProxy
from tests.faults._harness import (
    OPENAI,
    REQUESTS,
    VENDORS,
    Vendor,
    check_outcomes,
    make_operations,
)

StartProxy = Callable[[str | None], HostileProxy]
CREATE_PATH = {"openai": "/v1/batches", "anthropic": "/v1/messages/batches"}
HTML = {"content-type": "text/html; charset=utf-8"}
GATEWAY_PAGE = "<html><body><h1>Service temporarily unavailable</h1></body></html>"


def _chunks(store: Path) -> list[ChunkRecord]:
    opened = JobStore(store)
    try:
        (job,) = opened.list_jobs()
        return job.chunks
    finally:
        opened.close()


async def _invoke(vendor: Vendor, proxy: HostileProxy, store: Path) -> dict[str, LMOutput]:
    ops = make_operations(vendor, vendor.base_url(proxy), store)
    async with ops:
        return await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200)


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_cancel_while_the_create_call_is_open_keeps_the_chunk_uncertain_and_pays_once(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        # The vendor makes the batch; its answer never comes back before the cancel.
        create = proxy.on("POST", CREATE_PATH[vendor.name], nth=1).stall(600)
        ops = make_operations(vendor, vendor.base_url(proxy), store)
        async with ops:
            task = asyncio.create_task(ops.invoke(REQUESTS, status_check_interval=0))
            await create.stalled()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert [chunk.state for chunk in _chunks(store)] == [CHUNK_SUBMITTING]
        results = await _invoke(vendor, proxy, store)
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


async def test_cancel_during_the_openai_upload_is_definitely_not_created(
    tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        upload = proxy.on("POST", "/v1/files", nth=1).stall(600)
        ops = make_operations(OPENAI, OPENAI.base_url(proxy), store)
        async with ops:
            task = asyncio.create_task(ops.invoke(REQUESTS, status_check_interval=0))
            await upload.stalled()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # No create call was made: the chunk is plainly unsent, nothing to look up.
        assert [chunk.state for chunk in _chunks(store)] == [CHUNK_PLANNED]
        results = await _invoke(OPENAI, proxy, store)
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1
        # No reconciliation needed: no listing beyond the vendor-clock reads (limit=1).
        listings = proxy.calls_to("GET", "/v1/batches")
        assert [call.query for call in listings if call.query != "limit=1"] == []


@pytest.mark.parametrize("reached_vendor", [True, False], ids=["vendor-acted", "gateway-answered"])
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_create_answered_200_with_an_html_page_is_uncertain_and_paid_once(
    vendor: Vendor, reached_vendor: bool, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        proxy.on("POST", CREATE_PATH[vendor.name], nth=1).respond(
            200, GATEWAY_PAGE, headers=HTML, forward=reached_vendor
        )
        with pytest.raises(SubmissionUncertainError) as caught:
            await _invoke(vendor, proxy, store)
        assert caught.value.details.get("job_id")
        assert [chunk.state for chunk in _chunks(store)] == [CHUNK_SUBMITTING]
        results = await _invoke(vendor, proxy, store)
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


@pytest.mark.timeout(60)  # the defect spun at 100 % CPU, never yielding to the event loop
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_create_answered_200_without_an_id_is_uncertain_not_a_spin(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        proxy.on("POST", CREATE_PATH[vendor.name], nth=1).rewrite(drop=["id"])
        with pytest.raises(SubmissionUncertainError):
            await _invoke(vendor, proxy, store)
        chunks = _chunks(store)
        assert [(chunk.state, chunk.batch_id) for chunk in chunks] == [(CHUNK_SUBMITTING, None)]
        results = await _invoke(vendor, proxy, store)
        check_outcomes(results, emulator, faults=1)
        assert emulator.create_calls == 1


def _cli_run(
    vendor: Vendor, proxy: HostileProxy, prompts: Path, out: Path, store: Path
) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "LMBATCH_STORE": str(store),
        "OPENAI_API_KEY": "test-key",
        "ANTHROPIC_API_KEY": "test-key",
    }
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_CONFIG"):
        env.pop(name, None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmbatch",
            "run",
            str(prompts),
            "-p",
            vendor.name,
            "-m",
            vendor.model,
            "-O",
            f"base_url={vendor.base_url(proxy)}",
            "-O",
            "max_retries=0",
            "--poll-interval",
            "0.05",
            "--on-interrupt",
            "leave",
            "--no-progress",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=prompts.parent,
    )


@pytest.mark.slow
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_real_sigint_of_lmbatch_run_during_the_create_call_then_rerun_pays_once(
    vendor: Vendor, tmp_path: Path, hostile_proxy: StartProxy
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"key": k, "input": v}) + "\n" for k, v in REQUESTS.items())
    )
    out, store = tmp_path / "out.jsonl", tmp_path / "jobs.sqlite3"
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        proxy = hostile_proxy(emulator.base_url)
        create = proxy.on("POST", CREATE_PATH[vendor.name], nth=1).stall(600)
        process = _cli_run(vendor, proxy, prompts, out, store)
        try:
            create.wait_stalled(timeout=60)
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == 130, err
        assert "Run the same command again" in err
        assert [chunk.state for chunk in _chunks(store)] == [CHUNK_SUBMITTING]
        rerun = _cli_run(vendor, proxy, prompts, out, store)
        _, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(line["key"] for line in lines) == sorted(REQUESTS)
        assert emulator.create_calls == 1
        assert sorted(emulator.submissions.values()) == [1] * len(REQUESTS)
