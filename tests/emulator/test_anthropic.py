"""Anthropic half: lifecycle, validation, pagination, cancel/expire/delete, HTTP surface."""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic
import httpx
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings

from .conftest import ANTHROPIC, assert_matches_spec, claude_client, claude_request

HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01"}
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)")


async def _results(client: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, Any]:
    return {
        r.custom_id: r.result.model_dump(mode="json")
        async for r in await client.messages.batches.results(batch_id)
    }


async def test_full_lifecycle_with_sdk(emu: Emulator, claude: anthropic.AsyncAnthropic) -> None:
    created = await claude.messages.batches.create(
        requests=[claude_request("a", "hello"), claude_request("b", "world")]  # type: ignore[list-item]
    )
    assert re.fullmatch(r"msgbatch_01[A-Za-z0-9]{22}", created.id)
    assert created.processing_status == "in_progress"
    assert created.results_url is None
    assert created.ended_at is None
    assert created.request_counts.processing == 2
    ended = await claude.messages.batches.retrieve(created.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at is not None
    assert ended.request_counts.succeeded == 2
    assert ended.request_counts.processing == 0
    assert ended.results_url == f"{emu.base_url}/v1/messages/batches/{created.id}/results"
    results = await _results(claude, created.id)
    assert results["a"]["type"] == "succeeded"
    assert results["a"]["message"]["content"][0]["text"] == "echo: hello"
    assert results["b"]["message"]["usage"]["service_tier"] == "batch"


async def test_wire_shapes_match_the_spec(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url, headers=HEADERS) as raw:
        created = await raw.post(
            "/v1/messages/batches", json={"requests": [claude_request("a", "hi")]}
        )
        batch = created.json()
        assert created.headers["request-id"].startswith("req_")
        ended = (await raw.get(f"/v1/messages/batches/{batch['id']}")).json()
        results = await raw.get(f"/v1/messages/batches/{batch['id']}/results")
    for body in (batch, ended):
        assert_matches_spec(body, ANTHROPIC, "MessageBatch")
        assert len(body) == 10
        assert RFC3339.fullmatch(body["created_at"])
        assert RFC3339.fullmatch(body["expires_at"])
    assert results.headers["content-type"].startswith("application/x-jsonl")
    assert f'filename="{batch["id"]}_results.jsonl"' in results.headers["content-disposition"]
    line = json.loads(results.text.splitlines()[0])
    assert_matches_spec(line, ANTHROPIC, "MessageBatchIndividualResponse")


@pytest.mark.parametrize(
    ("requests", "fragment"),
    [
        ([], "at least 1 item"),
        ([claude_request("bad id!", "x")], "custom_id"),
        ([claude_request("x" * 65, "x")], "custom_id"),
        ([claude_request("a", "x"), claude_request("a", "y")], "Duplicate custom_id"),
        ([{"custom_id": "a", "params": {"model": "m", "messages": []}}], "max_tokens"),
        ([{"custom_id": "a", "params": {"max_tokens": 5, "messages": []}}], "model"),
        ([{"custom_id": "a", "params": {"model": "m", "max_tokens": 5}}], "messages"),
    ],
)
async def test_create_validation(
    emu: Emulator, requests: list[dict[str, Any]], fragment: str
) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url, headers=HEADERS) as raw:
        response = await raw.post("/v1/messages/batches", json={"requests": requests})
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert fragment in body["error"]["message"]
    assert body["request_id"] == response.headers["request-id"]
    assert emu.submissions == {}


async def test_size_and_count_limits_are_configurable() -> None:
    settings = EmulatorSettings(anthropic_max_requests=2, anthropic_max_body_bytes=5_000)
    with Emulator(settings) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, headers=HEADERS) as raw:
            many = await raw.post(
                "/v1/messages/batches",
                json={"requests": [claude_request(f"k{i}", "x") for i in range(3)]},
            )
            big = await raw.post(
                "/v1/messages/batches", json={"requests": [claude_request("a", "x" * 6_000)]}
            )
    assert many.status_code == 400
    assert "at most 2" in many.json()["error"]["message"]
    assert big.status_code == 413
    assert big.json()["error"]["type"] == "request_too_large"


async def test_auth_and_version_headers(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.base_url) as raw:
        no_key = await raw.get("/v1/messages/batches", headers={"anthropic-version": "2023-06-01"})
        no_version = await raw.get("/v1/messages/batches", headers={"x-api-key": "k"})
        missing = await raw.get("/v1/messages/batches/msgbatch_nope", headers=HEADERS)
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert no_version.status_code == 400
    assert no_version.json()["error"]["type"] == "invalid_request_error"
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"


async def test_list_pagination_both_directions(claude: anthropic.AsyncAnthropic) -> None:
    ids = [
        (await claude.messages.batches.create(requests=[claude_request("a", str(i))])).id  # type: ignore[list-item]
        for i in range(5)
    ]
    newest_first = ids[::-1]
    page = await claude.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == newest_first[:2]
    assert page.has_more
    assert page.first_id == newest_first[0]
    assert page.last_id == newest_first[1]
    assert [b.id async for b in claude.messages.batches.list(limit=2)] == newest_first
    after = await claude.messages.batches.list(limit=2, after_id=newest_first[1])
    assert [b.id for b in after.data] == newest_first[2:4]
    before = await claude.messages.batches.list(limit=2, before_id=newest_first[3])
    assert [b.id for b in before.data] == newest_first[1:3]
    assert before.has_more
    with pytest.raises(anthropic.BadRequestError):
        await claude.messages.batches.list(limit=1001)


async def test_cancel_gives_canceled_results_and_then_delete(manual: Emulator) -> None:
    async with claude_client(manual) as client:
        batch = await client.messages.batches.create(
            requests=[claude_request(f"k{i}", str(i)) for i in range(4)]  # type: ignore[misc]
        )
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.batches.delete(batch.id)
        canceling = await client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        assert canceling.request_counts.processing == 4
        assert canceling.request_counts.canceled == 0
        async with httpx.AsyncClient(base_url=manual.base_url, headers=HEADERS) as raw:
            early = await raw.get(f"/v1/messages/batches/{batch.id}/results")
        assert early.status_code == 400
        manual.advance(batch.id)
        ended = await client.messages.batches.retrieve(batch.id)
        assert ended.request_counts.succeeded == 2
        assert ended.request_counts.canceled == 2
        results = await _results(client, batch.id)
        assert [results[f"k{i}"]["type"] for i in range(4)] == ["succeeded"] * 2 + ["canceled"] * 2
        with pytest.raises(anthropic.BadRequestError):
            await client.messages.batches.cancel(batch.id)
        deleted = await client.messages.batches.delete(batch.id)
        assert deleted.type == "message_batch_deleted"
        assert deleted.id == batch.id
        with pytest.raises(anthropic.NotFoundError):
            await client.messages.batches.retrieve(batch.id)


async def test_expire_with_some_finished(manual: Emulator) -> None:
    async with claude_client(manual) as client:
        batch = await client.messages.batches.create(
            requests=[claude_request(f"k{i}", str(i)) for i in range(3)]  # type: ignore[misc]
        )
        manual.expire(batch.id, finished=1)
        ended = await client.messages.batches.retrieve(batch.id)
        results = await _results(client, batch.id)
    assert ended.processing_status == "ended"
    assert ended.cancel_initiated_at is None
    assert ended.request_counts.expired == 2
    assert ended.request_counts.succeeded == 1
    assert results == {
        "k0": results["k0"],
        "k1": {"type": "expired"},
        "k2": {"type": "expired"},
    }


async def test_invalid_params_error_per_request(claude: anthropic.AsyncAnthropic) -> None:
    batch = await claude.messages.batches.create(
        requests=[claude_request("a", "x", max_tokens=0), claude_request("b", "y")]  # type: ignore[list-item]
    )
    ended = await claude.messages.batches.retrieve(batch.id)
    results = await _results(claude, batch.id)
    assert ended.request_counts.errored == 1
    assert ended.request_counts.succeeded == 1
    error = results["a"]["error"]
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["request_id"].startswith("req_")


async def test_progress_steps_report_a_growing_share_while_running() -> None:
    requests = [claude_request(f"k{i}", "x") for i in range(3)]
    requests.append(claude_request("bad", "x [[lmbatch:error=500]]"))
    with Emulator(EmulatorSettings(mode="manual", progress_steps=2)) as emu:
        async with claude_client(emu) as client:
            created = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
            seen = []
            for _ in range(2):
                emu.advance(created.id)
                batch = await client.messages.batches.retrieve(created.id)
                counts = batch.request_counts
                seen.append((batch.processing_status, counts.succeeded, counts.errored))
                seen.append(counts.processing)
    assert seen == [("in_progress", 2, 0), 2, ("ended", 3, 1), 0]
