"""A worker polling hourly finishes a job as soon as the vendor's webhooks say so."""

from __future__ import annotations

import asyncio

import pytest

import lmbatch.worker
from lmbatch import open_store
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.webhooks import app
from tests.core.test_webhooks import SECRETS, served
from tests.worker._support import detach_job


async def test_a_worker_polling_hourly_is_woken_by_the_webhooks(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    webhook_store = open_store(store_url)  # the endpoint's own, as on its own machine
    settings = EmulatorSettings(mode="time", seconds_per_step=0.5)
    try:
        with served(app(webhook_store, secrets=SECRETS)) as url, Emulator(settings) as emulator:
            job_id = await asyncio.to_thread(detach_job, emulator, store_url, 20, 10)
            sender = emulator.send_webhooks(url, SECRETS)
            async with asyncio.timeout(60):  # the next status check on schedule: in an hour
                report = await lmbatch.worker.serve(
                    trust_store_endpoints=True,
                    store=store_url,
                    once=True,
                    poll_interval=3600,
                    lease_seconds=30,
                    create_settle_seconds=0.5,
                    wake_check_interval=0.02,
                )
            # Both batches may end in one tick: the check the first webhook prompted can
            # find both done, and the job end, before the second webhook is sent.
            async with asyncio.timeout(30):
                while len(sender.deliveries) < 2:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            deliveries = list(sender.deliveries)
            batches = [job.id for job in emulator.state.vendors["openai"].jobs()]
    finally:
        webhook_store.close()
    assert report.finished == [job_id]
    assert report.outcomes == 20
    # Two batches, each ended with its own signed webhook, each taken by the endpoint.
    assert len(batches) == 2
    assert sorted((d.batch_id, d.event_type, d.status) for d in deliveries) == sorted(
        (batch_id, "batch.completed", 200) for batch_id in batches
    )
