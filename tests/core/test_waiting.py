"""The wait policy with the fake provider: a default overall timeout, deadlines per call."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest

import lmbatch
from lmbatch import BatchInfo, BatchOperations, BatchTimeoutError, JobStore
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {f"key {i}": f"prompt {i}" for i in range(3)}


@pytest.mark.parametrize(
    "waiting", [BatchOperations.invoke, BatchOperations.invoke_iter, lmbatch.wait, lmbatch.resume]
)
def test_waiting_has_a_default_overall_timeout(waiting: object) -> None:
    assert inspect.signature(waiting).parameters["timeout"].default == DEFAULT_TIMEOUT  # type: ignore[arg-type]
    # Longer than one 24 h completion window, short of "forever".
    assert 24 * 3600 < DEFAULT_TIMEOUT <= 3 * 24 * 3600


class HangingStatus(FakeBatchOperations):
    """The first status check answers; every later one hangs."""

    checks = 0

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        self.checks += 1
        if self.checks > 1:
            await asyncio.sleep(3600)
        return await super().fetch_batch(batch_id)


async def test_a_hanging_status_check_still_times_out_and_cancel_on_timeout_cancels(
    tmp_path: Path,
) -> None:
    backend = FakeBackend()
    backend.script_next_batch(polls_until_done=100)
    ops = HangingStatus(backend=backend, store=JobStore(tmp_path / "jobs.sqlite3"))
    async with asyncio.timeout(30):  # turns the old hang into a failure
        with pytest.raises(BatchTimeoutError) as caught:
            await ops.invoke(
                REQUESTS, status_check_interval=0.01, timeout=0.5, cancel_on_timeout=True
            )
    (batch_id,) = backend.batches
    assert caught.value.batch_id == batch_id
    # The deadline had passed, yet the cancel went out.
    assert backend.batches[batch_id].cancel_requested
