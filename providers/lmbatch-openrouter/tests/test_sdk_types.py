"""The OpenRouter emulator answers with the fields of the official ``openrouter`` SDK's
types (``BatchObject`` with its result items, ``BatchListResponse``), and what it
answers validates against them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from lmbatch_openrouter import OpenRouterBatchOperations

components = pytest.importorskip("openrouter.components")


def _fields(model: Any) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


async def test_batches_results_and_lists_fit_the_sdk_types(
    ops: OpenRouterBatchOperations, emulator: Any
) -> None:
    requests = {
        "good": "Say hello",
        "limited": "x [[lmbatch:error=429]]",
        "late": "x [[lmbatch:expire]]",
    }
    batch_id = await ops.create(requests)
    while not (await ops.status(batch_id)).is_terminal:
        pass
    async with httpx.AsyncClient(
        base_url=emulator.openrouter_base_url, headers={"Authorization": "Bearer test"}
    ) as client:
        batch = (await client.get(f"/batches/{batch_id}")).json()
        listing = (await client.get("/batches", params={"limit": 1})).json()
    assert batch["status"] == "expired"
    components.BatchObject.model_validate(batch)
    assert set(batch) <= _fields(components.BatchObject)
    for item in batch.get("results") or []:
        components.batchobject.Result.model_validate(item)
        assert set(item) <= _fields(components.batchobject.Result)
        if item["error"] is not None:
            assert set(item["error"]) <= _fields(components.batchobject.ResultError)
    components.BatchListResponse.model_validate(listing)
    assert set(listing) <= _fields(components.BatchListResponse)
