"""Groq end to end through the emulator, and its options."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from lmbatch_groq import GroqBatchOperations

from lmbatch import BatchTimeoutError
from lmbatch.provider import (
    BatchStatus,
    ConfigError,
    MissingCredentialsError,
    ThinkingOutput,
    ValidationError,
)
from lmbatch.testing.emulator import Emulator, EmulatorSettings

MODEL = "llama-3.1-8b-instant"


@pytest.mark.parametrize("window", ["24h", "36h", "3d", "7d", "168h"])
def test_completion_windows_from_24h_to_7d_are_accepted(window: str) -> None:
    ops = GroqBatchOperations(model=MODEL, api_key="k", completion_window=window, store=":memory:")
    assert ops.settings.completion_window == window  # type: ignore[attr-defined]


@pytest.mark.parametrize("window", ["12h", "8d", "169h", "1w", "forever"])
def test_other_windows_are_refused(window: str) -> None:
    with pytest.raises(ConfigError, match="completion_window"):
        GroqBatchOperations(model=MODEL, api_key="k", completion_window=window)


def test_the_key_is_groq_s_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "an-openai-key")  # never sent to Groq
    ops = GroqBatchOperations(model=MODEL, store=":memory:")
    with pytest.raises(MissingCredentialsError, match="GROQ_API_KEY"):
        ops.check_ready()
    monkeypatch.setenv("GROQ_API_KEY", "a-groq-key")
    ops.check_ready()
    assert ops.api_key() == "a-groq-key"
    assert ops.connection["base_url"] == "https://api.groq.com/openai/v1"


async def test_groq_s_own_request_fields_pass_others_are_refused(
    ops: GroqBatchOperations,
) -> None:
    await ops.estimate({"q": "Hi"}, {"reasoning_format": "parsed", "include_reasoning": True})
    with pytest.raises(ValidationError, match="reasoning_formt"):
        await ops.estimate({"q": "Hi"}, {"reasoning_formt": "parsed"})


async def test_a_seven_day_batch_end_to_end(ops: GroqBatchOperations, emulator: Any) -> None:
    seven_days = GroqBatchOperations(
        model=MODEL,
        api_key="test",
        base_url=emulator.groq_base_url,
        completion_window="7d",
        max_retries=0,
        store=":memory:",
    )
    batch_id = await seven_days.create({"q": "Hi", "r": "[[lmbatch:error=400]] no"})
    batch = emulator.state.groq_batches[batch_id]
    assert batch.completion_window == "7d"
    info = await seven_days.fetch_batch(batch_id)
    assert info["provider"] == "groq"
    assert info["raw"]["project_id"]
    assert info["raw"].get("usage") is None  # Groq sends none
    assert info["created_at"] is not None
    assert info.get("expires_at") is not None
    assert (info["expires_at"] - info["created_at"]).total_seconds() == 7 * 86400
    emulator.finish(batch_id)
    results = await seven_days.retrieve(batch_id)
    assert results["q"].text == "echo: Hi"
    assert results["q"].finish_details["groq_request_id"].startswith("req_")
    assert set(results["q"].finish_details["timings"]) >= {"queue_time", "total_time"}
    assert results["r"].error is not None
    assert results["r"].error.provider == "groq"
    await seven_days.aclose()


async def test_reasoning_comes_back_as_thinking(ops: GroqBatchOperations) -> None:
    results = await ops.invoke(
        {"q": "Is 17 prime?"}, {"reasoning_format": "parsed"}, status_check_interval=0
    )
    assert isinstance(results["q"].outputs[0], ThinkingOutput)
    assert results["q"].text == "echo: Is 17 prime?"


async def test_lines_are_openai_chat_lines_with_the_model(
    ops: GroqBatchOperations, emulator: Any
) -> None:
    batch_id = await ops.create({"q": "Hi"}, {"max_tokens": 9})
    batch = emulator.state.groq_batches[batch_id]
    line = json.loads(batch.input_path.read_text().splitlines()[0])
    assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
    assert line["body"]["model"] == MODEL
    assert line["body"]["max_completion_tokens"] == 9


async def test_waiting_allows_the_whole_window_when_the_batch_does_not_say_it() -> None:
    """A 7-day batch 30 h old without ``expires_at`` is not overdue (24 h would be)."""
    from lmbatch.testing.proxy import DROP, HostileProxy

    settings = EmulatorSettings(mode="manual", clock_offset=-30 * 3600)
    with Emulator(settings) as emulator, HostileProxy(emulator.base_url) as proxy:
        proxy.on("GET", "/groq/openai/v1/batches/*").rewrite({"expires_at": DROP})
        ops = GroqBatchOperations(
            model=MODEL,
            api_key="test",
            base_url=proxy.url + "/groq/openai/v1",
            completion_window="7d",
            max_retries=0,
            store=":memory:",
        )
        batch_id = await ops.create({"q": "Hi"})
        assert await ops.status(batch_id) is BatchStatus.IN_PROGRESS
        with pytest.raises(BatchTimeoutError) as waited:
            await ops.invoke({"q": "Hi"}, reuse=True, status_check_interval=0, max_iterations=2)
        assert type(waited.value).__name__ == "BatchTimeoutError"  # not BatchOverdueError
        await ops.aclose()


async def test_the_list_is_one_unpaged_call_as_groq_s_sdk_makes_it(
    ops: GroqBatchOperations, emulator: Any, hostile_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The groq SDK's batches.list() takes no limit or after, and Groq answers {object, data}.
    created = [await ops.create({"a": f"list {i}"}) for i in range(3)]
    proxy = hostile_proxy(emulator.base_url)
    listing = GroqBatchOperations(
        model=MODEL,
        api_key="test",
        base_url=proxy.base_url + "/groq/openai/v1",
        max_retries=0,
        store=":memory:",
    )
    monkeypatch.setattr(GroqBatchOperations, "list_page_size", 1)
    async with listing:
        listed = [info["id"] for info in await listing.list()]
    assert listed == created[::-1]  # newest first
    calls = [call for call in proxy.calls if call.path.endswith("/batches")]
    assert [(call.method, call.query) for call in calls] == [("GET", "")]


def _line(custom_id: str) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}
    line = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return json.dumps(line).encode() + b"\n"


def test_the_emulated_list_answers_every_batch_without_paging(emulator: Any) -> None:
    import httpx

    root = emulator.groq_base_url
    auth = {"Authorization": "Bearer test"}
    for i in range(3):
        upload = httpx.post(
            root + "/files",
            headers=auth,
            data={"purpose": "batch"},
            files={"file": ("in.jsonl", _line(f"k{i}"))},
        ).json()
        body = {"input_file_id": upload["id"], "endpoint": "/v1/chat/completions"}
        httpx.post(root + "/batches", headers=auth, json={**body, "completion_window": "24h"})
    answer = httpx.get(root + "/batches", headers=auth, params={"limit": 1}).json()
    assert set(answer) == {"object", "data"}
    assert len(answer["data"]) == 3


async def test_the_vendor_clock_is_read_without_listing_every_batch(
    ops: GroqBatchOperations, emulator: Any
) -> None:
    for n in range(12):  # Groq's list has no limit: a probe listing batches reads them all
        await ops.create({"q": f"Hi {n}"})
    before = len(emulator.calls)
    header = await ops.vendor_date()
    probe = emulator.calls[before:]
    assert [(call.method, call.operation, call.status) for call in probe] == [
        ("GET", "retrieve_model", 200)
    ]
    assert probe[0].path.endswith(f"/models/{MODEL}")
    assert header is not None
    assert parsedate_to_datetime(header).year >= 2024  # the HTTP Date, read
