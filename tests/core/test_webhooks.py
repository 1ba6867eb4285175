"""Webhooks instead of polling: signed deliveries wake waiting batches (lmbatch.webhooks).

Deliveries are signed here the Standard Webhooks way, by hand (HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the base64 secret after ``whsec_``), and
the signer is checked against the vendors' own verifiers first, so the endpoint is
tested on the real scheme. Every store test runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

import lmbatch
from lmbatch import open_store
from lmbatch._store_contract import Store
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.webhooks import app

OPENAI_SECRET = "whsec_" + base64.b64encode(b"openai-test-signing-key-0123456").decode()
GEMINI_SECRET = "whsec_" + base64.b64encode(b"gemini-test-signing-key-6543210").decode()
SECRETS = {"openai": OPENAI_SECRET, "gemini": GEMINI_SECRET}
REQUESTS = {f"q{i}": f"prompt {i}" for i in range(3)}


def sign(
    secret: str, body: bytes, *, delivery_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """Standard Webhooks headers of ``body``, signed with ``secret``."""
    delivery_id = delivery_id or f"msg_{secrets.token_hex(8)}"
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery_id}.{stamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": stamp,
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


def openai_event(batch_id: str, kind: str = "batch.completed") -> bytes:
    """An OpenAI batch event, as its webhooks send it."""
    event = {
        "id": f"evt_{secrets.token_hex(6)}",
        "object": "event",
        "type": kind,
        "created_at": int(time.time()),
        "data": {"id": batch_id},
    }
    return json.dumps(event).encode()


def gemini_event(batch_name: str, kind: str = "batch.succeeded") -> bytes:
    """A Gemini batch event (Standard Webhooks envelope, the batch name in ``data``)."""
    event = {"type": kind, "timestamp": "2026-11-30T10:00:00Z", "data": {"name": batch_name}}
    return json.dumps(event).encode()


# ------------------------------------------------------------------ the signing scheme


def test_the_test_signer_is_the_scheme_the_vendor_sdks_verify() -> None:
    import openai
    from standardwebhooks.webhooks import Webhook

    body = openai_event("batch_abc")
    headers = sign(OPENAI_SECRET, body)
    with openai.OpenAI(api_key="unused", webhook_secret=OPENAI_SECRET) as client:
        event = client.webhooks.unwrap(body, headers)
    assert event.type == "batch.completed"
    assert event.data.id == "batch_abc"
    assert Webhook(OPENAI_SECRET).verify(body, headers)["data"] == {"id": "batch_abc"}
    with (
        openai.OpenAI(api_key="unused", webhook_secret=GEMINI_SECRET) as client,
        pytest.raises(openai.InvalidWebhookSignatureError),
    ):
        client.webhooks.verify_signature(body, headers)


# ------------------------------------------------------------------ the endpoint


@pytest.fixture
def store(store_url: str) -> Store:
    return open_store(store_url)


@pytest.fixture
async def deliver(store: Store) -> AsyncIterator[Callable[..., Any]]:
    """POST a delivery to the webhook app on ``store``: ``await deliver(path, body, headers)``."""
    asgi = app(store, secrets=SECRETS)
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:

        async def post(path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
            return await client.post(path, content=body, headers=headers)

        yield post


async def test_a_signed_openai_batch_event_wakes_the_batch(
    deliver: Callable[..., Any], store: Store
) -> None:
    body = openai_event("batch_1", "batch.failed")
    answer = await deliver("/openai", body, sign(OPENAI_SECRET, body))
    assert answer.status_code == 200, answer.text
    assert store.wake_counts("openai", "", ["batch_1", "batch_2"]) == {"batch_1": 1}
    # A second event of the same batch (another delivery) moves the count on.
    body = openai_event("batch_1", "batch.completed")
    assert (await deliver("/openai", body, sign(OPENAI_SECRET, body))).status_code == 200
    assert store.wake_counts("openai", "", ["batch_1"]) == {"batch_1": 2}


async def test_a_signed_gemini_batch_event_wakes_the_batch_by_its_name(
    deliver: Callable[..., Any], store: Store
) -> None:
    body = gemini_event("batches/abc123")
    answer = await deliver("/gemini", body, sign(GEMINI_SECRET, body))
    assert answer.status_code == 200, answer.text
    assert store.wake_counts("gemini", "", ["batches/abc123"]) == {"batches/abc123": 1}
    # Signed with OpenAI's secret, it is not Gemini's.
    body = gemini_event("batches/other")
    answer = await deliver("/gemini", body, sign(OPENAI_SECRET, body))
    assert answer.status_code == 401
    assert store.wake_counts("gemini", "", ["batches/other"]) == {}


def _forged(body: bytes) -> dict[str, str]:
    headers = sign(OPENAI_SECRET, body)
    wrong = sign(GEMINI_SECRET, body, delivery_id=headers["webhook-id"])
    return {**headers, "webhook-signature": wrong["webhook-signature"]}


def _tampered(body: bytes) -> dict[str, str]:
    return sign(OPENAI_SECRET, body.replace(b"batch_9", b"batch_8"))


def _old(body: bytes) -> dict[str, str]:
    return sign(OPENAI_SECRET, body, timestamp=int(time.time()) - 360)


def _future(body: bytes) -> dict[str, str]:
    return sign(OPENAI_SECRET, body, timestamp=int(time.time()) + 360)


def _unsigned(body: bytes) -> dict[str, str]:
    return {"content-type": "application/json"}


def _no_signature(body: bytes) -> dict[str, str]:
    headers = sign(OPENAI_SECRET, body)
    del headers["webhook-signature"]
    return headers


@pytest.mark.parametrize(
    ("make_headers", "status"),
    [
        (_forged, 401),
        (_tampered, 401),
        (_old, 401),
        (_future, 401),
        (_unsigned, 400),
        (_no_signature, 400),
    ],
)
async def test_a_bad_delivery_is_refused_and_records_nothing(
    deliver: Callable[..., Any],
    store: Store,
    make_headers: Callable[[bytes], dict[str, str]],
    status: int,
) -> None:
    body = openai_event("batch_9")
    headers = make_headers(body)
    answer = await deliver("/openai", body, headers)
    assert answer.status_code == status, answer.text
    assert store.wake_counts("openai", "", ["batch_9", "batch_8"]) == {}
    # Its id was not remembered either: the genuine delivery of that id is taken.
    genuine = sign(OPENAI_SECRET, body, delivery_id=headers.get("webhook-id"))
    assert (await deliver("/openai", body, genuine)).status_code == 200
    assert store.wake_counts("openai", "", ["batch_9"]) == {"batch_9": 1}


async def test_a_replayed_delivery_is_refused(deliver: Callable[..., Any], store: Store) -> None:
    body = openai_event("batch_r")
    headers = sign(OPENAI_SECRET, body)
    assert (await deliver("/openai", body, headers)).status_code == 200
    again = await deliver("/openai", body, headers)
    assert again.status_code == 400
    assert "replay" in again.json()["error"]
    # Re-signed with a fresh timestamp, the same id is still a replay.
    fresh = sign(OPENAI_SECRET, body, delivery_id=headers["webhook-id"])
    assert (await deliver("/openai", body, fresh)).status_code == 400
    assert store.wake_counts("openai", "", ["batch_r"]) == {"batch_r": 1}


async def test_other_events_are_acknowledged_and_ignored(
    deliver: Callable[..., Any], store: Store
) -> None:
    body = openai_event("resp_1", "response.completed")
    answer = await deliver("/openai", body, sign(OPENAI_SECRET, body))
    assert answer.status_code == 200
    assert store.wake_counts("openai", "", ["resp_1"]) == {}
    body = gemini_event("interactions/1", "interaction.completed")
    assert (await deliver("/gemini", body, sign(GEMINI_SECRET, body))).status_code == 200
    assert store.wake_counts("gemini", "", ["batches/interactions/1"]) == {}


async def test_a_signed_body_that_is_not_json_or_too_large_is_refused(
    deliver: Callable[..., Any], store: Store
) -> None:
    body = b"batch_j is done"
    answer = await deliver("/openai", body, sign(OPENAI_SECRET, body))
    assert answer.status_code == 400
    assert "not JSON" in answer.json()["error"]
    body = openai_event("batch_big")[:-1] + b', "pad": "' + b"x" * (1 << 20) + b'"}'
    assert (await deliver("/openai", body, sign(OPENAI_SECRET, body))).status_code == 413
    assert store.wake_counts("openai", "", ["batch_j", "batch_big"]) == {}


async def test_a_provider_not_served_is_not_found(deliver: Callable[..., Any]) -> None:
    body = openai_event("batch_x")
    answer = await deliver("/anthropic", body, sign(OPENAI_SECRET, body))
    assert answer.status_code == 404


def test_the_app_wants_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("GEMINI_WEBHOOK_SECRET", raising=False)
    with pytest.raises(lmbatch.ConfigError, match="OPENAI_WEBHOOK_SECRET"):
        app(str(tmp_path / "jobs.sqlite3"))
    with pytest.raises(lmbatch.ConfigError, match="GEMINI_WEBHOOK_SECRET"):
        app(str(tmp_path / "jobs.sqlite3"), providers=["gemini"])
    with pytest.raises(lmbatch.ConfigError, match="cannot take webhooks for anthropic"):
        app(str(tmp_path / "jobs.sqlite3"), providers=["anthropic"])
    with pytest.raises(lmbatch.ConfigError, match="cannot take webhooks for anthropic"):
        app(str(tmp_path / "jobs.sqlite3"), secret_envs={"anthropic": "HOOK_SECRET"})
    monkeypatch.setenv("HOOK_SECRET", OPENAI_SECRET)
    served = app(str(tmp_path / "jobs.sqlite3"), secret_envs={"openai": "HOOK_SECRET"})
    assert served.state.providers == ["openai"]


# ------------------------------------------------------------------ waking a wait


@pytest.fixture(scope="module")
def emulator_settings() -> EmulatorSettings:
    """Batches move only when the test says: they never end on their own."""
    return EmulatorSettings(mode="manual")


def _status_checks(emulator: Emulator, provider: str) -> int:
    return sum(
        1
        for call in emulator.state.calls
        if call.provider == provider and call.operation == "retrieve"
    )


async def _wake_when_submitted(
    emulator: Emulator, provider: str, store_url: str, make_body: Callable[[str], bytes]
) -> int:
    """Wait for the batch, end it at the vendor, then deliver its signed webhook.

    Returns:
        The status checks made before the delivery.
    """
    vendor = emulator.state.vendors[provider]
    while not vendor.jobs() or _status_checks(emulator, provider) == 0:  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # the emulator runs in a thread: nothing to await
    (job,) = vendor.jobs()
    await asyncio.sleep(0.1)  # would show a second check, were the wait not asleep
    checks = _status_checks(emulator, provider)
    emulator.finish(job.id)
    body = make_body(job.id)
    webhook_store = open_store(store_url)  # the endpoint's own connection, as in production
    try:
        transport = httpx.ASGITransport(app=app(webhook_store, secrets=SECRETS))
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as client:
            answer = await client.post(
                f"/{provider}", content=body, headers=sign(SECRETS[provider], body)
            )
        assert answer.status_code == 200, answer.text
    finally:
        webhook_store.close()
    return checks


@pytest.mark.parametrize(
    ("provider", "model", "make_body"),
    [
        ("openai", "gpt-4.1-mini", openai_event),
        ("gemini", "gemini-2.5-flash", gemini_event),  # the emulator's ids are batches/...
    ],
)
async def test_an_invoke_polling_hourly_ends_at_the_webhook(
    emulator: Emulator,
    store_url: str,
    provider: str,
    model: str,
    make_body: Callable[[str], bytes],
) -> None:
    ops = lmbatch.get_batch_operations(
        provider,
        model=model,
        api_key="test",
        base_url=emulator.base_url_for(provider),
        store=store_url,
        wake_check_interval=0.02,
    )
    async with ops, asyncio.timeout(30):  # without the wake: an hour's sleep, a failure
        waker = asyncio.create_task(_wake_when_submitted(emulator, provider, store_url, make_body))
        results = await ops.invoke(REQUESTS, status_check_interval=3600)
    assert sorted(results) == sorted(REQUESTS)
    assert all(output.ok for output in results.values())
    # One check found it running; the webhook's wake made the second, which found it
    # done; collecting its results reads the batch once more. No check on schedule.
    assert await waker == 1
    assert _status_checks(emulator, provider) == 3


async def test_a_batch_the_vendor_still_shows_running_after_its_webhook_is_checked_again(
    emulator: Emulator, store_url: str
) -> None:
    ops = lmbatch.get_batch_operations(
        "openai",
        model="gpt-4.1-mini",
        api_key="test",
        base_url=emulator.openai_base_url,
        store=store_url,
        wake_check_interval=0.02,
    )

    async def lagging_vendor() -> None:
        vendor = emulator.state.vendors["openai"]
        while _status_checks(emulator, "openai") == 0:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        (job,) = vendor.jobs()
        body = openai_event(job.id)
        hooks = app(store_url, secrets=SECRETS)
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=hooks), base_url="http://hooks"
            ) as client:
                headers = sign(OPENAI_SECRET, body)
                answer = await client.post("/openai", content=body, headers=headers)
        finally:
            hooks.state.store.close()
        assert answer.status_code == 200
        # The webhook came before the vendor's status says so: the woken check sees
        # the batch running; it ends only after that check.
        while _status_checks(emulator, "openai") < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        emulator.finish(job.id)

    async with ops, asyncio.timeout(30):  # without a re-check: the hourly poll
        lagging = asyncio.create_task(lagging_vendor())
        results = await ops.invoke(REQUESTS, status_check_interval=3600)
        await lagging
    assert all(output.ok for output in results.values())
    # Running; woken (still running); re-checked (done); collecting reads it once more.
    assert _status_checks(emulator, "openai") == 4


@contextmanager
def served(asgi: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) in a thread; yields its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(asgi, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the webhook server stopped"
            assert time.monotonic() < deadline, "the webhook server did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.mark.parametrize(
    ("provider", "model", "event_type"),
    [
        ("openai", "gpt-4.1-mini", "batch.completed"),
        ("gemini", "gemini-2.5-flash", "batch.succeeded"),
    ],
)
async def test_the_emulator_sends_signed_webhooks_that_wake_an_hourly_poll(
    store_url: str, provider: str, model: str, event_type: str
) -> None:
    webhook_store = open_store(store_url)  # the endpoint's own, as in production
    settings = EmulatorSettings(mode="time", seconds_per_step=0.5)
    try:
        with served(app(webhook_store, secrets=SECRETS)) as url, Emulator(settings) as emulator:
            sender = emulator.send_webhooks(url, SECRETS)
            ops = lmbatch.get_batch_operations(
                provider,
                model=model,
                api_key="test",
                base_url=emulator.base_url_for(provider),
                store=store_url,
                wake_check_interval=0.02,
            )
            async with ops, asyncio.timeout(30):  # the next poll on schedule: in an hour
                results = await ops.invoke(REQUESTS, status_check_interval=3600)
            checks = _status_checks(emulator, provider)
            # The sender logs a delivery once the endpoint has answered: by then the
            # wait may be over (or, on a slow machine, its first check found the end).
            async with asyncio.timeout(30):
                while not sender.deliveries:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
    finally:
        webhook_store.close()
    assert all(output.ok for output in results.values())
    assert sorted(results) == sorted(REQUESTS)
    ((batch_id, _),) = [(job.id, job) for job in emulator.state.vendors[provider].jobs()]
    assert [(d.vendor, d.batch_id, d.event_type, d.status) for d in sender.deliveries] == [
        (provider, batch_id, event_type, 200)
    ]
    # The check after creating, the one the webhook prompted, the read of the results.
    assert checks <= 3


def test_delivery_ids_are_forgotten_after_a_day_and_wakes_after_a_month(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert store.record_webhook("openai", "msg_1", [("", "batch_1", "batch.completed")])
    assert not store.record_webhook("openai", "msg_1", [("", "batch_1", "batch.completed")])
    # Ids are per provider: another vendor's msg_1 is another delivery.
    assert store.record_webhook("gemini", "msg_1", [("", "batches/1", "batch.failed")])
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 2 * 24 * 3600)
    assert store.record_webhook("openai", "msg_1", [("", "batch_2", "batch.completed")])
    assert store.wake_counts("openai", "", ["batch_1", "batch_2"]) == {"batch_1": 1, "batch_2": 1}
    monkeypatch.setattr(time, "time", lambda: now + 40 * 24 * 3600)
    assert store.record_webhook("openai", "msg_2", [])
    assert store.wake_counts("openai", "", ["batch_1", "batch_2"]) == {}
    assert store.wake_counts("openai", "", []) == {}
