"""A completed Groq batch, served in Groq's genuine shapes, decodes to the right outcomes.

The batch object has ``project_id`` and no ``usage``/``model``; the chat bodies carry
``x_groq``, ``service_tier``, ``usage_breakdown`` and timing fields in ``usage``; a
reasoning model's thoughts are in ``message.reasoning`` (see ``data/README.md``). A tiny
local server (:class:`HostileProxy` without upstream) answers as Groq did.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lmbatch_groq import GroqBatchOperations

from lmbatch.provider import BatchStatus, TextOutput, ThinkingOutput

DATA = Path(__file__).parent / "data"
BATCH = json.loads((DATA / "batch_completed.json").read_text())


@pytest.fixture
def groq_server() -> Iterator[Any]:
    from lmbatch.testing.proxy import HostileProxy

    with HostileProxy(None) as server:
        base = "/openai/v1"
        server.on("GET", f"{base}/batches/{BATCH['id']}").respond(200, BATCH, forward=False)
        for file_id, name in (
            (BATCH["output_file_id"], "output.jsonl"),
            (BATCH["error_file_id"], "errors.jsonl"),
        ):
            content = (DATA / name).read_bytes()
            server.on("GET", f"{base}/files/{file_id}/content").respond(200, content, forward=False)
        server.on("DELETE", f"{base}/files/*").respond(
            200, {"id": BATCH["input_file_id"], "object": "file", "deleted": True}, forward=False
        )
        yield server


@pytest.fixture
async def ops(groq_server: Any) -> AsyncIterator[GroqBatchOperations]:
    operations = GroqBatchOperations(
        model="llama-3.1-8b-instant",
        api_key="test",
        base_url=groq_server.url + "/openai/v1",
        max_retries=0,
        store=":memory:",
    )
    yield operations
    await operations.aclose()


async def test_the_batch_object_reads_with_its_groq_fields(ops: GroqBatchOperations) -> None:
    info = await ops.fetch_batch(BATCH["id"])
    assert info["provider"] == "groq"
    assert info["status"] is BatchStatus.FINISHED
    counts = info["request_counts"]
    assert (counts["total"], counts["succeeded"], counts["errored"]) == (4, 3, 1)
    assert info["raw"]["project_id"] == "project_01hxxbmw2bfkn8a7bq2c3mpd6t"
    assert info["model"] is None  # Groq's batch objects name no model


async def test_every_answer_decodes_with_its_text_and_token_counts(
    ops: GroqBatchOperations,
) -> None:
    results = await ops.retrieve(BATCH["id"])
    assert set(results) == {"capital", "think", "compound", "too-long"}

    capital = results["capital"]
    assert capital.text == "The capital of France is Paris."
    assert capital.token_usage is not None
    assert (capital.token_usage.input_tokens, capital.token_usage.output_tokens) == (18, 8)
    assert capital.finish_reason == "stop"
    assert capital.finish_details["groq_request_id"] == "req_01jh6xa8v9e52b7pg5ewbbwsa2"
    assert capital.finish_details["timings"]["queue_time"] == pytest.approx(0.037493756)

    think = results["think"]
    assert think.text == "17 is prime."
    assert isinstance(think.outputs[0], ThinkingOutput)
    assert think.outputs[0].text == "17 has no divisors other than 1 and itself."
    assert isinstance(think.outputs[1], TextOutput)
    assert think.token_usage is not None
    assert (think.token_usage.input_tokens, think.token_usage.output_tokens) == (25, 41)

    # A compound model: usage is the total over its models (usage_breakdown adds up to it).
    compound = results["compound"]
    assert compound.text == "It is 21 degrees in Paris right now."
    assert compound.token_usage is not None
    assert (compound.token_usage.input_tokens, compound.token_usage.output_tokens) == (1210, 32)

    failed = results["too-long"].error
    assert failed is not None
    assert (failed.kind, failed.code, failed.status_code) == (
        "errored",
        "context_length_exceeded",
        400,
    )
    assert failed.provider == "groq"
