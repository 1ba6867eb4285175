"""The Mistral emulator answers with the fields of the official ``mistralai`` SDK's types
(``BatchJob``, ``ListBatchJobsResponse``)."""

from __future__ import annotations

from typing import Any

import httpx
from lmbatch_mistral import MistralBatchOperations
from mistralai.client.models import BatchJob, ListBatchJobsResponse


def _fields(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


async def test_jobs_and_the_list_fit_the_sdk_types(
    ops: MistralBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"a": "Say hello", "b": "x [[lmbatch:error=429]]"})
    while not (await ops.status(batch_id)).is_terminal:
        pass
    async with httpx.AsyncClient(
        base_url=emulator.mistral_base_url, headers={"Authorization": "Bearer test"}
    ) as client:
        job = (await client.get(f"/v1/batch/jobs/{batch_id}")).json()
        listing = (await client.get("/v1/batch/jobs", params={"page": 0, "page_size": 1})).json()
    assert set(job) <= _fields(BatchJob)
    BatchJob.model_validate(job)
    assert set(listing) <= _fields(ListBatchJobsResponse)
    ListBatchJobsResponse.model_validate(listing)
    assert (job["status"], job["succeeded_requests"], job["failed_requests"]) == ("SUCCESS", 1, 1)
