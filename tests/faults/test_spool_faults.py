"""Damaged spool files (truncated, altered, deleted), for every vendor: never sent as is.

The spool holds each job's encoded requests until they are sent and, for resubmission,
until the job is complete. Each case damages one chunk file at a different moment and
checks that every key still gets its own answer, once, and that nothing damaged reached
the vendor (every answer echoes its own prompt, unaltered).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import BatchInfo, BatchOperations, LMOutput, SpoolDamagedError
from lmbatch._jobs import _recording
from lmbatch._planning import chunk_file_name
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import (
    LEDGER,
    REQUESTS,
    VENDORS,
    Vendor,
    check_outcomes,
    make_operations,
)

DAMAGES = ["truncate", "flip", "delete"]
#: The create call that definitely fails, leaving the chunk unsent.
REFUSED = {"openai": "upload", "anthropic": "create"}


def damage(path: Path, how: str) -> None:
    """Cut a spool file in half, swap the case of one letter in it, or delete it."""
    if how == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
        return
    # Swap the case of a letter in the last prompt: still valid JSON, silently another
    # request, which only the checksum can tell.
    data[data.rindex(b"number")] ^= 0x20
    path.write_bytes(bytes(data))


def chunked(vendor: Vendor, emulator: Emulator, store: Path, **options: Any) -> BatchOperations:
    """Operations that split REQUESTS into two chunks of three."""
    ops = make_operations(vendor, vendor.base_url(emulator), store, **options)
    ops.limits = dataclasses.replace(ops.limits, max_requests_per_batch=3)
    return ops


def check_answers(results: dict[str, LMOutput], emulator: Emulator, faults: int) -> None:
    """One outcome per key, sent once, answering the key's own, undamaged prompt."""
    check_outcomes(results, emulator, faults=faults)
    for key, output in results.items():
        assert output.text == f"echo: {REQUESTS[key]}", (key, output.text)
    uploads = [c for c in emulator.calls if c.operation == "upload" and c.status == 200]
    creates = [c for c in emulator.calls if c.operation == "create" and c.status == 200]
    assert len(uploads) in (0, len(creates))  # no stray (damaged) upload


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_chunk_damaged_between_intent_and_submission_is_rebuilt(
    vendor: Vendor, how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        ops = chunked(vendor, emulator, tmp_path / "s.sqlite3")
        record = _recording.record_job

        def record_then_damage(*args: Any, **kwargs: Any) -> Any:
            job, created = record(*args, **kwargs)
            damage(ops.store.spool_dir(job.job_id) / chunk_file_name(1), how)
            return job, created

        monkeypatch.setattr(_recording, "record_job", record_then_damage)
        async with ops:
            results = await ops.invoke(REQUESTS, status_check_interval=0, max_iterations=200)
        check_answers(results, emulator, faults=1)
        assert emulator.create_calls == 2


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_chunk_damaged_before_resume_is_refused_then_rebuilt_by_the_rerun(
    vendor: Vendor, how: str, tmp_path: Path
) -> None:
    store = tmp_path / "s.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls")) as emulator:
        emulator.faults.fail(REFUSED[vendor.name], 429, nth=1, provider=vendor.name)  # type: ignore[arg-type]
        ops = chunked(vendor, emulator, store, max_concurrent_submissions=1)
        async with ops:
            with pytest.raises(lmbatch.RateLimitError):
                await ops.create(REQUESTS)
            (job,) = ops.store.list_jobs()
            unsent = [chunk.index for chunk in job.chunks if chunk.batch_id is None]
            assert unsent == [0]
            path = ops.store.spool_dir(job.job_id) / chunk_file_name(0)
        damage(path, how)
        calls = len(emulator.calls)
        with pytest.raises(SpoolDamagedError) as caught:
            await lmbatch.resume(
                job.job_id,
                store=str(store),
                status_check_interval=0,
                max_iterations=200,
                base_url=vendor.base_url(emulator),
                api_key="test-key",
                max_retries=0,
            )
        assert (caught.value.job_id, caught.value.chunk_index, caught.value.path) == (
            job.job_id,
            0,
            str(path),
        )
        sent = [c for c in emulator.calls[calls:] if c.operation in ("upload", "create")]
        assert sent == []  # nothing at all was sent for the damaged chunk
        # The same invoke, holding the original requests, rebuilds the file and finishes.
        rerun = chunked(vendor, emulator, store)
        async with rerun:
            results = await rerun.invoke(REQUESTS, status_check_interval=0, max_iterations=200)
        check_answers(results, emulator, faults=2)
        # Two batches; on Anthropic the refused create call counts too.
        assert emulator.create_calls == (3 if vendor.name == "anthropic" else 2)


@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
async def test_spool_damaged_before_a_resubmission_round_is_rebuilt(
    vendor: Vendor, how: str, tmp_path: Path
) -> None:
    async with Emulator(EmulatorSettings(mode="polls", polls_per_step=3)) as emulator:
        ops = make_operations(vendor, vendor.base_url(emulator), tmp_path / "s.sqlite3")
        expired: list[str] = []

        def expire_and_damage(info: BatchInfo) -> None:
            # While the first batch runs: its window closes with two requests done, and
            # the spool its four others are resubmitted from is damaged.
            if not expired:
                expired.append(info["id"])
                emulator.expire(info["id"], finished=2)
                (job,) = ops.store.list_jobs()
                damage(ops.store.spool_dir(job.job_id) / chunk_file_name(0), how)

        async with ops:
            results = await ops.invoke(
                REQUESTS, status_check_interval=0, max_iterations=200, on_progress=expire_and_damage
            )
        assert set(results) == set(REQUESTS)
        for key, output in results.items():
            assert output.text == f"echo: {REQUESTS[key]}", (key, output.text)
        assert sorted(emulator.submissions.values()) == [1, 1, 2, 2, 2, 2]
        assert emulator.create_calls == 2
        LEDGER.faults_injected += 2
        LEDGER.keys_checked += len(results)
