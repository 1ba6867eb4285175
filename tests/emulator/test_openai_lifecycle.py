"""OpenAI half: lifecycle in each mode, cancel and expiry, files, pagination, HTTP surface."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import openai
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import OPENAI, make_operations

from .conftest import (
    OPENAI_BATCH,
    assert_matches_spec,
    chat_line,
    oai_client,
    read_lines,
    responses_line,
    submit,
)


async def test_polls_mode_walks_every_status(emu: Emulator, oai: openai.AsyncOpenAI) -> None:
    batch_id = await submit(oai, [responses_line("a", "hi"), responses_line("b", "there")])
    assert re.fullmatch(r"batch_[0-9a-f]{32}", batch_id)
    seen = [(await oai.batches.retrieve(batch_id)).status for _ in range(3)]
    assert seen == ["in_progress", "finalizing", "completed"]
    batch = await oai.batches.retrieve(batch_id)
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (2, 2)
    assert batch.model == "gpt-4.1-mini"
    assert batch.expires_at == batch.created_at + 86400
    assert batch.usage is not None
    assert batch.usage.total_tokens > 0
    assert batch.in_progress_at
    assert batch.finalizing_at
    assert batch.completed_at
    assert batch.error_file_id is None
    lines = await read_lines(oai, batch.output_file_id)
    assert {line["custom_id"] for line in lines} == {"a", "b"}
    for line in lines:
        assert re.fullmatch(r"batch_req_[0-9a-f]{32}", line["id"])
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
    by_id = {line["custom_id"]: line["response"]["body"] for line in lines}
    assert by_id["a"]["output"][0]["content"][0]["text"] == "echo: hi"
    # The spec types optional Batch fields as non-nullable, yet the live API sends nulls
    # (PROVIDER_APIS.md §2.5): validate the non-null part.
    wire = {k: v for k, v in batch.model_dump(mode="json").items() if v is not None}
    assert_matches_spec(wire, OPENAI_BATCH, "Batch")


async def test_create_response_shows_validating_with_zero_counts(oai: openai.AsyncOpenAI) -> None:
    uploaded = await oai.files.create(file=("in.jsonl", b'{"x":1}\n'), purpose="batch")
    batch = await oai.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"run": "7"},
    )
    assert batch.status == "validating"
    assert batch.model is None
    assert batch.request_counts is not None
    assert batch.request_counts.total == 0
    assert batch.metadata == {"run": "7"}
    assert batch.expires_at == batch.created_at + 86400


async def test_polls_per_step_slows_the_lifecycle() -> None:
    with Emulator(EmulatorSettings(polls_per_step=3)) as emu:
        async with oai_client(emu) as client:
            batch_id = await submit(client, [chat_line("a", "x")], "/v1/chat/completions")
            statuses = [(await client.batches.retrieve(batch_id)).status for _ in range(4)]
    assert statuses == ["validating", "validating", "in_progress", "in_progress"]


async def test_manual_mode_moves_only_on_advance(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [chat_line("a", "x")], "/v1/chat/completions")
        for _ in range(3):
            assert (await client.batches.retrieve(batch_id)).status == "validating"
        manual.advance(batch_id)
        assert (await client.batches.retrieve(batch_id)).status == "in_progress"
        manual.advance()
        assert (await client.batches.retrieve(batch_id)).status == "finalizing"
        manual.finish()
        batch = await client.batches.retrieve(batch_id)
    assert batch.status == "completed"
    assert manual.submissions == {"a": 1}


async def test_time_mode_advances_with_the_clock() -> None:
    with Emulator(EmulatorSettings(mode="time", seconds_per_step=0.05)) as emu:
        async with oai_client(emu) as client:
            batch_id = await submit(client, [responses_line("a", "x")])
            assert (await client.batches.retrieve(batch_id)).status == "validating"
            await asyncio.sleep(0.2)
            batch = await client.batches.retrieve(batch_id)
    assert batch.status == "completed"


async def test_cancel_in_progress_keeps_partial_output(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [responses_line(f"k{i}", str(i)) for i in range(4)])
        manual.advance(batch_id)
        cancelling = await client.batches.cancel(batch_id)
        assert cancelling.status == "cancelling"
        assert cancelling.cancelling_at
        manual.advance(batch_id)
        batch = await client.batches.retrieve(batch_id)
        assert batch.status == "cancelled"
        assert batch.cancelled_at
        done = await read_lines(client, batch.output_file_id)
        unrun = await read_lines(client, batch.error_file_id)
    assert [line["custom_id"] for line in done] == ["k0", "k1"]  # default fraction 0.5
    assert [line["custom_id"] for line in unrun] == ["k2", "k3"]
    for line in unrun:
        assert line["response"] is None
        assert line["error"]["code"] == "batch_cancelled"
    assert batch.request_counts is not None
    assert batch.request_counts.completed == 2


async def test_cancel_while_validating_runs_nothing(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [responses_line("a", "x"), responses_line("b", "y")])
        batch = await client.batches.cancel(batch_id)
        assert batch.status == "cancelling"
        assert batch.in_progress_at is None
        manual.advance(batch_id)
        batch = await client.batches.retrieve(batch_id)
        assert batch.status == "cancelled"
        assert batch.output_file_id is None
        assert len(await read_lines(client, batch.error_file_id)) == 2


async def test_cancel_after_completion_is_refused(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [responses_line("a", "x")])
        manual.finish(batch_id)
        with pytest.raises(openai.APIStatusError) as caught:
            await client.batches.cancel(batch_id)
    assert caught.value.status_code == 409


async def test_expire_keeps_finished_requests(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [responses_line(f"k{i}", str(i)) for i in range(3)])
        manual.advance(batch_id)
        manual.expire(batch_id, finished=1)
        batch = await client.batches.retrieve(batch_id)
        done = await read_lines(client, batch.output_file_id)
        unrun = await read_lines(client, batch.error_file_id)
    assert batch.status == "expired"
    assert batch.expired_at
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 1)
    assert [line["custom_id"] for line in done] == ["k0"]
    assert [line["error"] for line in unrun] == [
        {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }
    ] * 2


async def test_list_batches_newest_first_with_cursor(oai: openai.AsyncOpenAI) -> None:
    ids = [await submit(oai, [responses_line("a", str(i))]) for i in range(5)]
    first = await oai.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2]
    assert first.has_more
    every = [b.id async for b in oai.batches.list(limit=2)]
    assert every == ids[::-1]
    last = await oai.batches.list(limit=2, after=ids[1])
    assert [b.id for b in last.data] == [ids[0]]
    assert not last.has_more


async def test_files_crud_and_content_headers(oai: openai.AsyncOpenAI, emu: Emulator) -> None:
    data = b'{"hello": "world"}\n'
    first = await oai.files.create(file=("one.jsonl", data), purpose="batch")
    second = await oai.files.create(file=("two.jsonl", data), purpose="user_data")
    assert re.fullmatch(r"file-[A-Za-z0-9]{22}", first.id)
    assert first.bytes == len(data)
    assert first.filename == "one.jsonl"
    assert first.expires_at == first.created_at + 2_592_000
    assert second.expires_at is None
    assert (await oai.files.retrieve(first.id)).id == first.id
    listed = await oai.files.list(purpose="batch")
    assert [f.id for f in listed.data] == [first.id]
    ordered = await oai.files.list(order="asc")
    assert [f.id for f in ordered.data] == [first.id, second.id]
    async with httpx.AsyncClient() as raw:
        response = await raw.get(
            f"{emu.openai_base_url}/files/{first.id}/content",
            headers={"Authorization": "Bearer test", "Accept": "application/binary"},
        )
    assert response.content == data
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="one.jsonl"'
    deleted = await oai.files.delete(first.id)
    assert deleted.deleted
    assert deleted.id == first.id
    with pytest.raises(openai.NotFoundError):
        await oai.files.retrieve(first.id)


async def test_upload_expires_after_bracket_form(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.openai_base_url) as raw:
        headers = {"Authorization": "Bearer test"}
        good = await raw.post(
            "/files",
            headers=headers,
            files={"file": ("in.jsonl", b"{}\n")},
            data={
                "purpose": "batch",
                "expires_after[anchor]": "created_at",
                "expires_after[seconds]": "3600",
            },
        )
        bad = await raw.post(
            "/files",
            headers=headers,
            files={"file": ("in.jsonl", b"{}\n")},
            data={
                "purpose": "batch",
                "expires_after[anchor]": "created_at",
                "expires_after[seconds]": "10",
            },
        )
        wrong_purpose = await raw.post(
            "/files",
            headers=headers,
            files={"file": ("in.jsonl", b"{}")},
            data={"purpose": "batches"},
        )
    assert good.status_code == 200
    assert good.json()["expires_at"] == good.json()["created_at"] + 3600
    assert bad.status_code == 400
    assert wrong_purpose.status_code == 400
    assert wrong_purpose.json()["error"]["param"] == "purpose"


async def test_batch_deleting_the_input_file_does_not_break_it(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        batch_id = await submit(client, [responses_line("a", "x")])
        batch = await client.batches.retrieve(batch_id)
        await client.files.delete(batch.input_file_id)
        manual.finish(batch_id)
        batch = await client.batches.retrieve(batch_id)
        assert len(await read_lines(client, batch.output_file_id)) == 1


async def test_http_surface_auth_404_400_and_request_id(emu: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emu.openai_base_url) as raw:
        no_key = await raw.get("/batches")
        empty_key = await raw.get("/batches", headers={"Authorization": "Basic dGVzdA=="})
        auth = {"Authorization": "Bearer test"}
        missing = await raw.get("/batches/batch_nope", headers=auth)
        bad_body = await raw.post("/batches", headers=auth, content=b"not json")
        no_file = await raw.post(
            "/batches",
            headers=auth,
            json={
                "input_file_id": "file-x",
                "endpoint": "/v1/responses",
                "completion_window": "24h",
            },
        )
        bad_window = await raw.post(
            "/batches",
            headers=auth,
            json={
                "input_file_id": "file-x",
                "endpoint": "/v1/responses",
                "completion_window": "48h",
            },
        )
        unknown_route = await raw.get("/nothing", headers=auth)
    assert no_key.status_code == 401
    assert empty_key.status_code == 401
    assert set(no_key.json()["error"]) == {"message", "type", "param", "code"}
    assert missing.status_code == 404
    assert missing.headers["x-request-id"].startswith("req_")
    assert bad_body.status_code == 400
    assert no_file.status_code == 404
    assert no_file.json()["error"]["param"] == "input_file_id"
    assert bad_window.status_code == 400
    assert bad_window.json()["error"]["param"] == "completion_window"
    assert unknown_route.status_code == 404
    assert "error" in unknown_route.json()


async def test_sdk_raises_typed_errors(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await oai.batches.retrieve("batch_0123")
    assert caught.value.request_id is not None
    assert caught.value.request_id.startswith("req_")
    with pytest.raises(openai.BadRequestError):
        await oai.batches.create(
            input_file_id="file-x",
            endpoint="/v1/completions",
            completion_window="24h",
        )


async def test_progress_steps_report_a_growing_share_while_running() -> None:
    lines = [chat_line(f"k{i}", "x") for i in range(4)] + [
        chat_line("bad", "x [[lmbatch:error=500]]")
    ]
    with Emulator(EmulatorSettings(mode="manual", progress_steps=3)) as emu:
        async with oai_client(emu) as client:
            batch_id = await submit(client, lines, "/v1/chat/completions")
            seen = []
            for _ in range(5):
                emu.advance(batch_id)
                batch = await client.batches.retrieve(batch_id)
                assert batch.request_counts is not None
                counts = batch.request_counts
                seen.append((batch.status, counts.completed, counts.failed, counts.total))
    assert seen == [
        ("in_progress", 0, 0, 5),
        ("in_progress", 1, 0, 5),  # a third of five, in input order
        ("in_progress", 3, 0, 5),
        ("finalizing", 3, 0, 5),
        ("completed", 4, 1, 5),  # counted again from the answers
    ]


async def test_a_status_check_mid_run_shows_partial_counts(tmp_path: Path) -> None:
    requests = {f"q{i}": f"question {i}" for i in range(6)}
    with Emulator(EmulatorSettings(mode="manual", progress_steps=2)) as emu:
        async with make_operations(OPENAI, emu.openai_base_url, tmp_path / "j.sqlite3") as ops:
            batch_id = await ops.create(requests)
            emu.advance(steps=2)  # validated, then half run
            info = await ops.info(batch_id)
            emu.finish()
            final = await ops.info(batch_id)
    counts = info["request_counts"]
    assert 0 < counts["succeeded"] < counts["total"] == 6
    assert counts["processing"] == 6 - counts["succeeded"]
    assert final["request_counts"]["succeeded"] == 6
