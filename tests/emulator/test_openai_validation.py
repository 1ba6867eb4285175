"""OpenAI half: input-file validation fails the batch asynchronously with vendor codes."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings

from .conftest import (
    chat_line,
    jsonl,
    oai_client,
    poll_until_done,
    read_lines,
    responses_line,
    submit,
)


async def _errors(client: openai.AsyncOpenAI, data: bytes) -> list[dict[str, Any]]:
    batch_id = await submit(client, data)
    batch = await client.batches.retrieve(batch_id)  # one poll: validating → failed
    assert batch.status == "failed"
    assert batch.failed_at
    assert batch.errors is not None
    assert batch.errors.object == "list"
    assert batch.output_file_id is None
    assert batch.error_file_id is None
    return [e.model_dump() for e in batch.errors.data or []]


async def test_invalid_json_line_reports_its_line_number(oai: openai.AsyncOpenAI) -> None:
    data = jsonl([responses_line("a", "x")]) + b"{not json\n" + jsonl([responses_line("b", "y")])
    assert await _errors(oai, data) == [
        {
            "code": "invalid_json_line",
            "line": 2,
            "message": "This line is not parseable as valid JSON.",
            "param": None,
        }
    ]


@pytest.mark.parametrize(
    ("lines", "code", "line"),
    [
        ([responses_line("a", "x"), responses_line("a", "y")], "duplicate_custom_id", 2),
        ([responses_line("a", "x"), chat_line("b", "y")], "url_mismatch", 2),
        (
            [responses_line("a", "x"), responses_line("b", "y", model="gpt-4o")],
            "model_mismatch",
            2,
        ),
    ],
)
async def test_line_level_codes(
    oai: openai.AsyncOpenAI, lines: list[dict[str, Any]], code: str, line: int
) -> None:
    errors = await _errors(oai, jsonl(lines))
    assert [(e["code"], e["line"]) for e in errors] == [(code, line)]


async def test_empty_file(oai: openai.AsyncOpenAI) -> None:
    errors = await _errors(oai, b"")
    assert [e["code"] for e in errors] == ["empty_file"]


async def test_limits_are_configurable() -> None:
    settings = EmulatorSettings(openai_max_requests=3, openai_max_file_bytes=2_000)
    with Emulator(settings) as emu:
        async with oai_client(emu) as client:
            many = await _errors(client, jsonl([responses_line(f"k{i}", "x") for i in range(4)]))
            big = await _errors(client, jsonl([responses_line("a", "x" * 3_000)]))
            ok_id = await submit(client, [responses_line(f"k{i}", "x") for i in range(3)])
            ok = await poll_until_done(client, ok_id)
    assert [e["code"] for e in many] == ["too_many_tasks"]
    assert [e["code"] for e in big] == ["file_too_large"]
    assert ok.status == "completed"
    assert emu.submissions == {"k0": 1, "k1": 1, "k2": 1}  # failed batches submit nothing


@pytest.mark.slow
async def test_fifty_thousand_lines(manual: Emulator) -> None:
    lines = [chat_line(f"req-{i}", f"q{i}") for i in range(50_000)]
    async with oai_client(manual) as client:
        started = time.monotonic()
        batch_id = await submit(client, jsonl(lines), "/v1/chat/completions")
        manual.finish(batch_id)
        batch = await client.batches.retrieve(batch_id)
        out = await client.files.content(batch.output_file_id or "")
        elapsed = time.monotonic() - started
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert batch.request_counts.completed == 50_000
    body = out.text
    assert body.count("\n") == 50_000
    last = json.loads(body.splitlines()[-1])
    assert last["custom_id"] == "req-49999"
    assert last["response"]["body"]["choices"][0]["message"]["content"] == "echo: q49999"
    assert elapsed < 20


async def test_one_over_the_line_limit_fails() -> None:
    with Emulator(EmulatorSettings(mode="manual", openai_max_requests=1)) as emu:
        async with oai_client(emu) as client:
            batch_id = await submit(client, [responses_line("a", "x"), responses_line("b", "y")])
            emu.advance(batch_id)
            batch = await client.batches.retrieve(batch_id)
            assert await read_lines(client, batch.error_file_id) == []
    assert batch.status == "failed"
