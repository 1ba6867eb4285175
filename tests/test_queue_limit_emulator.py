"""Vendor queue limits end to end: the OpenAI provider against an emulator whose batch
queue is capped (issue 18 part 4).

The emulator fails a batch that would take a model's enqueued tokens over its cap with
``token_limit_exceeded``, as OpenAI does. lmbatch, told the cap (``queue_limit_tokens``),
never sends such a batch, whatever the number of callers sharing the store; told nothing
(or too much), it puts the refused chunks back in the queue and learns the cap from the
vendor's message, without a resubmission round.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import lmbatch
from lmbatch._store_contract import open_store
from lmbatch.testing.emulator import Emulator, EmulatorSettings

pytestmark = pytest.mark.timeout(300)

MODEL = "gpt-4.1-mini"
#: The emulator's cap and lmbatch's limit, in tokens. Prompts are long, so that the
#: estimate (one token per 3 bytes of text) is close to the emulator's count (one per 4
#: characters): two callers ignoring each other would go over the cap.
CAP = 2_000
PROMPT = "Summarise the following notes in one sentence. " + "lorem ipsum dolor sit amet " * 36


def requests(prefix: str, count: int) -> dict[str, str]:
    return {f"{prefix}{i}": f"{prefix}{i}: {PROMPT}" for i in range(count)}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls", openai_enqueued_token_limit=CAP)) as running:
        yield running


def enqueued_at_create(emulator: Emulator) -> list[int]:
    """The model's enqueued tokens (emulator count) after every accepted create."""
    vendor = emulator.state.vendors["openai"]
    seen: list[int] = []
    original = vendor.queue_check

    def spy(batch: Any) -> None:
        original(batch)
        if not batch.check.errors:
            seen.append(
                vendor.enqueued_tokens_of(batch)
                + sum(
                    vendor.enqueued_tokens_of(other)
                    for other in vendor.batches.values()
                    if not other.terminal and not other.check.errors
                )
            )

    vendor.queue_check = spy
    return seen


def refused(emulator: Emulator) -> list[Any]:
    """The emulator's batches failed for the enqueued-token cap."""
    return [
        batch
        for batch in emulator.state.vendors["openai"].batches.values()
        if any(error["code"] == "token_limit_exceeded" for error in batch.check.errors)
    ]


def ops_on(emulator: Emulator, store: Any, **options: Any) -> lmbatch.BatchOperations:
    return lmbatch.get_batch_operations(
        "openai",
        model=MODEL,
        base_url=emulator.openai_base_url,
        api_key="test",
        store=store,
        in_flight_check_interval=0,
        **options,
    )


async def test_the_emulator_fails_a_batch_over_the_cap_as_openai_does(
    emulator: Emulator, tmp_path: Any
) -> None:
    async with openai.AsyncOpenAI(
        base_url=emulator.openai_base_url, api_key="test", max_retries=0
    ) as client:

        async def batch_of(count: int) -> openai.types.Batch:
            path = tmp_path / f"in{count}.jsonl"
            line = (
                '{"custom_id": "c%d", "method": "POST", "url": "/v1/chat/completions", '
                '"body": {"model": "gpt-4.1-mini", "messages": [{"role": "user", '
                '"content": "%s"}]}}\n'
            )
            path.write_text("".join(line % (i, "x" * 1_000) for i in range(count)))
            uploaded = await client.files.create(file=path.open("rb"), purpose="batch")
            return await client.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
            )

        first = await batch_of(6)  # 6 x 250 tokens: 1,500 of 2,000
        second = await batch_of(3)  # 750 more: over the cap
        failed = await client.batches.retrieve(second.id)
        assert failed.status == "failed"
        assert failed.errors is not None
        assert failed.errors.data is not None
        (error,) = failed.errors.data
        assert isinstance(error, openai.types.BatchError)  # the SDK's own type
        assert error.code == "token_limit_exceeded"
        assert error.message == (
            f"Enqueued token limit reached for {MODEL} in organization org-emulator. "
            "Limit: 2,000 enqueued tokens. Please try again once some in_progress batches "
            "have been completed."
        )
        assert error.line is None
        assert error.param is None
        emulator.finish(first.id)  # a finished batch holds no room
        third = await batch_of(3)
        assert (await client.batches.retrieve(third.id)).status == "in_progress"


async def test_a_job_several_times_the_cap_completes_without_refusal_or_round(
    emulator: Emulator, store_url: str
) -> None:
    seen = enqueued_at_create(emulator)
    rounds: list[Any] = []
    job = requests("q", 60)  # ~250 tokens each by the emulator's count: 7.5 times the cap
    async with ops_on(emulator, store_url, queue_limit_tokens=CAP) as ops:
        results = await ops.invoke(job, status_check_interval=0, on_resubmit=rounds.append)
        (record,) = ops.store.list_jobs()
    assert all(output.ok for output in results.values())
    assert refused(emulator) == []
    assert rounds == []
    assert set(emulator.submissions.values()) == {1}
    assert emulator.create_calls == len(record.chunks) > 7  # no create wasted
    assert max(seen) <= CAP
    assert len(seen) == len(record.chunks)


async def test_two_callers_on_one_store_never_exceed_the_cap_together(
    emulator: Emulator, store_url: str
) -> None:
    """Two operations objects with their own store connections, as two processes have."""
    seen = enqueued_at_create(emulator)
    stores = [open_store(store_url), open_store(store_url)]
    try:
        first, second = (ops_on(emulator, each, queue_limit_tokens=CAP) for each in stores)
        a, b = await asyncio.gather(
            first.invoke(requests("a", 30), status_check_interval=0),
            second.invoke(requests("b", 30), status_check_interval=0),
        )
        await first.aclose()
        await second.aclose()
    finally:
        for opened in stores:
            opened.close()
    assert all(output.ok for output in [*a.values(), *b.values()])
    assert refused(emulator) == []
    assert set(emulator.submissions.values()) == {1}
    assert max(seen) <= CAP


async def foreign_batch(emulator: Emulator, tmp_path: Path, tokens: int) -> str:
    """A batch made outside lmbatch (another tool of the organisation) holding ``tokens``."""
    async with openai.AsyncOpenAI(
        base_url=emulator.openai_base_url, api_key="test", max_retries=0
    ) as client:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "x" * (tokens * 4)}]}
        line = {"custom_id": "other", "method": "POST", "url": "/v1/responses", "body": body}
        path = tmp_path / "foreign.jsonl"
        path.write_text(json.dumps(line) + "\n")
        uploaded = await client.files.create(file=path.open("rb"), purpose="batch")
        made = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
        )
        return made.id


async def test_the_vendor_refusing_anyway_puts_chunks_back_in_the_queue(
    emulator: Emulator, store_url: str, tmp_path: Path
) -> None:
    """lmbatch's count is short of the vendor's (a batch made by another tool holds most
    of the queue): the vendor refuses a batch; its chunk goes back in the queue and is
    sent again once the other batch ended, without a resubmission round.

    Before: every key of the refused batch came back failed, or went into a round.
    """
    other = await foreign_batch(emulator, tmp_path, CAP - 500)

    vendor = emulator.state.vendors["openai"]
    check = vendor.queue_check

    def end_the_other_batch_once_refused(batch: Any) -> None:
        check(batch)
        if batch.check.errors:
            emulator.finish(other)  # the other tool's batch ends after the refusal

    vendor.queue_check = end_the_other_batch_once_refused
    rounds: list[Any] = []
    async with ops_on(emulator, store_url, queue_limit_tokens=CAP) as ops:
        results = await ops.invoke(
            requests("q", 12), status_check_interval=0, on_resubmit=rounds.append
        )
    assert all(output.ok for output in results.values())
    assert all("lmbatch_round" not in output.finish_details for output in results.values())
    assert rounds == []
    assert refused(emulator)  # the vendor did refuse
    assert set(emulator.submissions.values()) == {1}  # a refused batch ran nothing


async def test_without_a_configured_limit_the_vendors_is_learned_from_its_refusal(
    emulator: Emulator, store_url: str
) -> None:
    """OpenAI's limit depends on the usage tier, so none is declared: the first batch, one
    chunk larger than the queue, is refused; its requests go into one round, planned in
    chunks within the limit the vendor's message named, none of them refused."""
    rounds: list[Any] = []
    async with ops_on(emulator, store_url) as ops:
        results = await ops.invoke(
            requests("q", 24), status_check_interval=0, on_resubmit=rounds.append
        )
        jobs = ops.store.list_jobs()
    assert all(output.ok for output in results.values())
    assert len(rounds) == 1
    assert len(refused(emulator)) == 1
    (second,) = (job for job in jobs if job.round == 2)
    assert len(second.chunks) > 3
    assert set(emulator.submissions.values()) == {1}
