"""The emulator's own clock (``clock_offset``) and slow creates (``create_delay``)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import anthropic
import httpx
import openai
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings

from .conftest import CLAUDE, jsonl, responses_line

SKEW = -600.0


async def test_clock_offset_shifts_batch_times_and_the_date_header() -> None:
    async with Emulator(EmulatorSettings(clock_offset=SKEW)) as emu:
        async with anthropic.AsyncAnthropic(
            base_url=emu.anthropic_base_url, api_key="k", max_retries=0
        ) as client:
            raw = await client.messages.batches.with_raw_response.create(
                requests=[
                    {
                        "custom_id": "a",
                        "params": {
                            "model": CLAUDE,
                            "max_tokens": 5,
                            "messages": [{"role": "user", "content": "hi"}],
                        },
                    }
                ]
            )
            batch = await raw.parse()
        dates = raw.headers.get_list("date")
        assert len(dates) == 1  # the server's own Date header is off
        vendor_now = parsedate_to_datetime(dates[0]).timestamp()
        assert abs(vendor_now - (time.time() + SKEW)) < 30
        assert abs(batch.created_at.timestamp() - (time.time() + SKEW)) < 30
        async with openai.AsyncOpenAI(
            base_url=emu.openai_base_url, api_key="k", max_retries=0
        ) as oai:
            uploaded = await oai.files.create(
                file=("in.jsonl", jsonl([responses_line("r1", "hi")])), purpose="batch"
            )
            created = await oai.batches.create(
                input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
            )
        assert abs(created.created_at - (time.time() + SKEW)) < 30
        assert abs(uploaded.created_at - (time.time() + SKEW)) < 30


async def test_slow_create_makes_the_batch_halfway_through_the_call() -> None:
    async with Emulator(EmulatorSettings(create_delay=1.0)) as emu:
        body = {
            "requests": [
                {
                    "custom_id": "a",
                    "params": {
                        "model": CLAUDE,
                        "max_tokens": 5,
                        "messages": [{"role": "user", "content": "hi"}],
                    },
                }
            ]
        }
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        async with httpx.AsyncClient(base_url=emu.base_url) as client:
            call = asyncio.create_task(
                client.post("/v1/messages/batches", json=body, headers=headers)
            )
            # Polled rather than timed: the batch appears while the call is still open.
            while not emu.state.anthropic_batches:  # noqa: ASYNC110 - state of another thread
                await asyncio.sleep(0.01)
            assert not call.done()
            response = await call
        assert response.status_code == 200
        assert response.json()["id"] in emu.state.anthropic_batches


def test_create_delay_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="create_delay"):
        EmulatorSettings(create_delay=-1)


def test_batch_times_are_rfc3339_on_the_shifted_clock() -> None:
    settings = EmulatorSettings(clock_offset=3600.0)
    with Emulator(settings) as emu:
        response = httpx.get(
            emu.base_url + "/v1/messages/batches",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
    date = parsedate_to_datetime(response.headers["date"])
    assert isinstance(date, datetime)
    assert abs(date.timestamp() - (time.time() + 3600.0)) < 30
