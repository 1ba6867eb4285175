"""Fixtures for the emulator tests: running servers, SDK clients and spec validators."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from functools import cache
from typing import Any

import anthropic
import jsonschema
import openai
import pytest
import yaml

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.specs import SPECS

MODEL = "gpt-4.1-mini"
CLAUDE = "claude-sonnet-4-5"


@pytest.fixture(scope="session")
def _polls_server() -> Iterator[Emulator]:
    # One server per session, reset between tests: start/stop costs ~0.2 s each.
    with Emulator() as running:
        yield running


@pytest.fixture(scope="session")
def _manual_server() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="manual")) as running:
        yield running


@pytest.fixture
def emu(_polls_server: Emulator) -> Iterator[Emulator]:
    """An emulator in the default ``polls`` mode, empty at the start of each test."""
    _polls_server.reset()
    yield _polls_server
    _polls_server.reset()


@pytest.fixture
def manual(_manual_server: Emulator) -> Iterator[Emulator]:
    """An emulator whose batches move only on ``advance`` / ``finish``, empty per test."""
    _manual_server.reset()
    yield _manual_server
    _manual_server.reset()


@pytest.fixture
async def oai(emu: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    """OpenAI SDK client bound to ``emu``."""
    async with openai.AsyncOpenAI(
        base_url=emu.openai_base_url, api_key="test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def claude(emu: Emulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """Anthropic SDK client bound to ``emu``."""
    async with anthropic.AsyncAnthropic(
        base_url=emu.anthropic_base_url, api_key="test", max_retries=0
    ) as client:
        yield client


def oai_client(emu: Emulator) -> openai.AsyncOpenAI:
    """A fresh OpenAI client for an emulator that is not the ``emu`` fixture."""
    return openai.AsyncOpenAI(base_url=emu.openai_base_url, api_key="test", max_retries=0)


def claude_client(emu: Emulator) -> anthropic.AsyncAnthropic:
    """A fresh Anthropic client for an emulator that is not the ``emu`` fixture."""
    return anthropic.AsyncAnthropic(base_url=emu.anthropic_base_url, api_key="test", max_retries=0)


def responses_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    """One ``/v1/responses`` input line."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": MODEL, "input": text, **body},
    }


def chat_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    """One ``/v1/chat/completions`` input line."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": [{"role": "user", "content": text}], **body},
    }


def claude_request(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    """One Anthropic batch request."""
    return {
        "custom_id": custom_id,
        "params": {
            "model": CLAUDE,
            "max_tokens": 256,
            "messages": [{"role": "user", "content": text}],
            **params,
        },
    }


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    """Serialize lines as JSONL."""
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


async def submit(
    client: openai.AsyncOpenAI, lines: list[dict[str, Any]] | bytes, endpoint: str = "/v1/responses"
) -> str:
    """Upload an input file and create a batch; returns the batch id."""
    data = lines if isinstance(lines, bytes) else jsonl(lines)
    uploaded = await client.files.create(file=("input.jsonl", data), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
    )
    assert batch.status == "validating"
    return batch.id


async def poll_until_done(client: openai.AsyncOpenAI, batch_id: str, limit: int = 20) -> Any:
    """Retrieve until the batch is terminal (each retrieve is a poll)."""
    for _ in range(limit):
        batch = await client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
    raise AssertionError("batch never finished")


async def read_lines(client: openai.AsyncOpenAI, file_id: str | None) -> list[dict[str, Any]]:
    """Download a result file and parse its lines ([] for no file)."""
    if file_id is None:
        return []
    content = await client.files.content(file_id)
    return [json.loads(line) for line in content.text.splitlines() if line.strip()]


@cache
def _spec(name: str) -> dict[str, Any]:
    with (SPECS / name).open(encoding="utf-8") as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


def spec_validator(spec_file: str, schema_name: str) -> jsonschema.Draft202012Validator:
    """A validator for ``#/components/schemas/<schema_name>`` of a vendor spec."""
    spec = _spec(spec_file)
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]}
    return jsonschema.Draft202012Validator(schema)


def assert_matches_spec(instance: Any, spec_file: str, schema_name: str) -> None:
    """Fail with every violation when ``instance`` does not match the named spec schema."""
    errors = sorted(
        spec_validator(spec_file, schema_name).iter_errors(instance), key=lambda e: e.json_path
    )
    assert not errors, [f"{e.json_path}: {e.message[:300]}" for e in errors[:5]]


OPENAI_BODIES = "openai-request-bodies.subset.yaml"
OPENAI_BATCH = "openai-batch-files.subset.yaml"
ANTHROPIC = "anthropic-message-batches.subset.yaml"
