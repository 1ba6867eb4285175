"""The Groq emulator answers with the fields of the official ``groq`` SDK's types.

Groq's own extras are named here (``project_id``, which genuine batch objects carry and
the SDK does not declare); any other field the SDK does not know is an invention.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lmbatch_groq import GroqBatchOperations

groq_types = pytest.importorskip("groq.types")

#: Fields of genuine Groq batch objects the SDK does not declare.
GROQ_EXTRAS = {"project_id"}


def _fields(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


async def test_batch_objects_and_the_list_fit_the_sdk_types(
    ops: GroqBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"a": "Say hello", "b": "x [[lmbatch:error=429]]"})
    while not (await ops.status(batch_id)).is_terminal:
        pass
    async with httpx.AsyncClient(
        base_url=emulator.groq_base_url, headers={"Authorization": "Bearer test"}
    ) as client:
        batch = (await client.get(f"/batches/{batch_id}")).json()
        listing = (await client.get("/batches")).json()
    groq_types.BatchRetrieveResponse.model_validate(batch)
    assert set(batch) <= _fields(groq_types.BatchRetrieveResponse) | GROQ_EXTRAS
    groq_types.BatchListResponse.model_validate(listing)
    assert set(listing) == _fields(groq_types.BatchListResponse)
    assert set(listing["data"][0]) <= _fields(groq_types.batch_list_response.Data) | GROQ_EXTRAS
