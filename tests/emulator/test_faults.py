"""Fault injection (directives, key faults, endpoint faults) and call accounting."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from lmbatch.testing.emulator import (
    Emulator,
    EmulatorSettings,
    EndpointFault,
    KeyFault,
    faults_in_text,
    parse_fault_spec,
)

from .conftest import (
    chat_line,
    claude_client,
    claude_request,
    jsonl,
    oai_client,
    poll_until_done,
    read_lines,
    responses_line,
    submit,
)


def test_directive_parsing() -> None:
    assert faults_in_text("plain") == KeyFault()
    assert faults_in_text("x [[lmbatch:error=429]] y [[lmbatch:duplicate]]") == KeyFault(
        error_status=429, duplicate=True
    )
    assert faults_in_text("[[lmbatch:expire,omit]]") == KeyFault(expire=True, omit=True)
    assert faults_in_text("[[lmbatch:nonsense]]") == KeyFault()  # a typo never breaks a batch
    assert parse_fault_spec("error") == KeyFault(error_status=500)
    with pytest.raises(ValueError, match="unknown"):
        parse_fault_spec("explode")
    with pytest.raises(ValueError, match="4xx"):
        parse_fault_spec("error=200")
    with pytest.raises(ValueError, match="unknown operation"):
        EndpointFault("explode")


async def test_openai_directives_shape_the_result_files(manual: Emulator) -> None:
    lines = [
        responses_line("ok", "fine"),
        responses_line("e429", "[[lmbatch:error=429]]"),
        responses_line("e500", "[[lmbatch:error=500]]"),
        responses_line("bad", "[[lmbatch:malformed]]"),
        responses_line("gone", "[[lmbatch:omit]]"),
        responses_line("twice", "[[lmbatch:duplicate]]"),
    ]
    async with oai_client(manual) as client:
        batch_id = await submit(client, lines)
        manual.finish(batch_id)
        batch = await client.batches.retrieve(batch_id)
        output = (await client.files.content(batch.output_file_id or "")).text.splitlines()
        errors = await read_lines(client, batch.error_file_id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    # The omitted request was lost by the vendor: it is not counted as completed.
    assert (batch.request_counts.completed, batch.request_counts.failed) == (3, 2)
    parsed, broken = [], []
    for raw in output:
        try:
            parsed.append(json.loads(raw)["custom_id"])
        except ValueError:
            broken.append(raw)
    assert sorted(parsed) == ["ok", "twice", "twice"]
    assert len(broken) == 1
    assert '"custom_id":"bad"' in broken[0]
    by_id = {line["custom_id"]: line for line in errors}
    assert by_id["e429"]["error"] is None
    assert by_id["e429"]["response"]["status_code"] == 429
    assert by_id["e429"]["response"]["body"]["error"]["code"] == "rate_limit_exceeded"
    assert by_id["e500"]["response"]["body"]["error"]["type"] == "server_error"


async def test_openai_expire_directive_expires_the_batch(oai: openai.AsyncOpenAI) -> None:
    batch_id = await submit(
        oai, [chat_line("a", "x"), chat_line("slow", "[[lmbatch:expire]]")], "/v1/chat/completions"
    )
    batch = await poll_until_done(oai, batch_id)
    assert batch.status == "expired"
    (done,) = await read_lines(oai, batch.output_file_id)
    (late,) = await read_lines(oai, batch.error_file_id)
    assert done["custom_id"] == "a"
    assert late["custom_id"] == "slow"
    assert late["error"]["code"] == "batch_expired"


async def test_key_faults_from_settings_and_at_runtime() -> None:
    with Emulator(EmulatorSettings(mode="manual", key_faults={"k1": "error=400"})) as emu:
        emu.faults.fail_key("k2", "expire")
        async with claude_client(emu) as client:
            batch = await client.messages.batches.create(
                requests=[claude_request(f"k{i}", "x") for i in range(3)]  # type: ignore[misc]
            )
            emu.advance(batch.id)
            ended = await client.messages.batches.retrieve(batch.id)
            results = {
                r.custom_id: r.result.type
                async for r in await client.messages.batches.results(batch.id)
            }
    assert results == {"k0": "succeeded", "k1": "errored", "k2": "expired"}
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.expired) == (1, 1, 1)


async def test_anthropic_line_faults(manual: Emulator) -> None:
    requests = [
        claude_request("gone", "[[lmbatch:omit]]"),
        claude_request("twice", "[[lmbatch:duplicate]]"),
        claude_request("bad", "[[lmbatch:malformed]]"),
        claude_request("busy", "[[lmbatch:error=529]]"),
    ]
    async with httpx.AsyncClient(
        base_url=manual.base_url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}
    ) as raw:
        created = (await raw.post("/v1/messages/batches", json={"requests": requests})).json()
        manual.advance()
        text = (await raw.get(f"/v1/messages/batches/{created['id']}/results")).text
    good = []
    broken = 0
    for line in text.splitlines():
        try:
            good.append(json.loads(line))
        except ValueError:
            broken += 1
    assert broken == 1
    assert [g["custom_id"] for g in good] == ["twice", "twice", "busy"]
    assert good[2]["result"]["error"]["error"]["type"] == "overloaded_error"


async def test_download_tampering_shortens_the_first_downloads_only(manual: Emulator) -> None:
    requests = [claude_request(f"k{i}", "x") for i in range(4)]
    manual.faults.tamper("results", "drop_tail", provider="anthropic", times=1)
    manual.faults.tamper("results", "empty", provider="anthropic", times=1)
    async with httpx.AsyncClient(
        base_url=manual.base_url, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}
    ) as raw:
        created = (await raw.post("/v1/messages/batches", json={"requests": requests})).json()
        manual.advance()
        url = f"/v1/messages/batches/{created['id']}/results"
        bodies = [(await raw.get(url)).text for _ in range(3)]
        manual.faults.tamper("results", "disconnect", provider="anthropic")
        with pytest.raises(httpx.RemoteProtocolError):
            await raw.get(url)
    assert [len(body.splitlines()) for body in bodies] == [2, 0, 4]
    assert bodies[0].splitlines() == bodies[2].splitlines()[:2]


async def test_endpoint_fault_every_and_nth(emu: Emulator, oai: openai.AsyncOpenAI) -> None:
    every = emu.faults.fail("list", 429, provider="openai")
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as caught:
            await oai.batches.list()
    assert caught.value.body == {
        "message": "Rate limit reached for requests.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert every.fired == 2
    emu.faults.clear()
    batch_id = await submit(oai, [responses_line("a", "x")])
    emu.faults.fail("retrieve", 500, nth=2)
    await oai.batches.retrieve(batch_id)
    with pytest.raises(openai.InternalServerError):
        await oai.batches.retrieve(batch_id)
    await oai.batches.retrieve(batch_id)
    statuses = [c.status for c in emu.calls if c.operation == "retrieve"]
    assert statuses == [200, 500, 200]


async def test_create_then_500_really_created_the_batch(emu: Emulator) -> None:
    emu.faults.add(EndpointFault("create", 500, nth=1, after_effect=True))
    async with oai_client(emu) as client:
        uploaded = await client.files.create(
            file=("in.jsonl", jsonl([responses_line("a", "x")])), purpose="batch"
        )
        with pytest.raises(openai.InternalServerError):
            await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
            )
        listed = await client.batches.list()
    assert len(listed.data) == 1  # the vendor has it even though the client saw a 500
    assert emu.create_calls == 1
    assert emu.submissions == {"a": 1}


async def test_fault_before_effect_creates_nothing(emu: Emulator) -> None:
    emu.faults.fail("create", 500, provider="anthropic")
    async with claude_client(emu) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.batches.create(requests=[claude_request("a", "x")])  # type: ignore[list-item]
        listed = await client.messages.batches.list()
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert listed.data == []
    assert emu.submissions == {}
    assert emu.create_calls == 1


async def test_upload_content_results_cancel_delete_faults(emu: Emulator) -> None:
    emu.faults.fail("upload", 500, nth=1)
    emu.faults.fail("content", 429)
    emu.faults.fail("results", 500)
    emu.faults.fail("cancel", 500, provider="anthropic")
    async with oai_client(emu) as client:
        with pytest.raises(openai.InternalServerError):
            await client.files.create(file=("in.jsonl", b"{}"), purpose="batch")
        uploaded = await client.files.create(file=("in.jsonl", b"{}"), purpose="batch")
        with pytest.raises(openai.RateLimitError):
            await client.files.content(uploaded.id)
    async with claude_client(emu) as claude:
        batch = await claude.messages.batches.create(requests=[claude_request("a", "x")])  # type: ignore[list-item]
        with pytest.raises(anthropic.InternalServerError):
            await claude.messages.batches.cancel(batch.id)
        await claude.messages.batches.retrieve(batch.id)
        with pytest.raises(anthropic.InternalServerError):
            await claude.messages.batches.results(batch.id)


async def test_call_log_and_submission_counts(manual: Emulator) -> None:
    async with oai_client(manual) as client:
        await submit(client, [responses_line("a", "x"), responses_line("b", "y")])
        await submit(client, [responses_line("a", "again")])
    calls = [(c.method, c.path, c.status, c.provider, c.operation) for c in manual.calls]
    assert calls[0] == ("POST", "/v1/files", 200, "openai", "upload")
    assert calls[1] == ("POST", "/v1/batches", 200, "openai", "create")
    assert manual.create_calls == 2
    assert manual.submissions == {"a": 2, "b": 1}
    manual.reset()
    assert manual.calls == []
    assert manual.submissions == {}
    assert manual.create_calls == 0
