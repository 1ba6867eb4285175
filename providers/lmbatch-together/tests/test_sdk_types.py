"""The Together emulator answers with the fields of the official ``together`` SDK's types
(``BatchJob``; the list is a bare array of jobs)."""

from __future__ import annotations

from typing import Any

import httpx
from lmbatch_together import TogetherBatchOperations
from together.types import BatchJob


def _fields(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


async def test_jobs_and_the_list_fit_the_sdk_types(
    ops: TogetherBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"a": "Say hello", "b": "x [[lmbatch:error=429]]"})
    async with httpx.AsyncClient(
        base_url=emulator.together_base_url, headers={"Authorization": "Bearer test"}
    ) as client:
        running = (await client.get(f"/v1/batches/{batch_id}")).json()
        while not (await ops.status(batch_id)).is_terminal:
            pass
        ended = (await client.get(f"/v1/batches/{batch_id}")).json()
        listing = (await client.get("/v1/batches")).json()
    for job in (running, ended, *listing):
        assert set(job) <= _fields(BatchJob)
        BatchJob.model_validate(job)
    assert running["status"] in ("VALIDATING", "IN_PROGRESS")
    assert (ended["status"], ended["progress"]) == ("COMPLETED", 100)
