"""Gemini's batch webhooks: the events that wake a batch, and its name in them."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from lmbatch_gemini import GeminiBatchOperations
from standardwebhooks.webhooks import Webhook

from lmbatch.provider import WebhookEvent, WebhookSignatureError

SECRET = "whsec_" + base64.b64encode(b"a-gemini-webhook-secret").decode()


def test_gemini_declares_its_webhook_secret() -> None:
    assert GeminiBatchOperations.webhook_secret_env == "GEMINI_WEBHOOK_SECRET"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        ({"name": "batches/abc"}, "batches/abc"),
        ({"name": "abc"}, "batches/abc"),
        ({"id": "abc"}, "batches/abc"),
        ({"batch": {"name": "batches/abc"}}, "batches/abc"),
    ],
)
@pytest.mark.parametrize("kind", ["batch.succeeded", "batch.failed", "batch.expired"])
def test_each_batch_event_names_its_batch(kind: str, data: dict[str, object], name: str) -> None:
    event = {"type": kind, "data": data}
    assert GeminiBatchOperations.parse_webhook_event(event) == WebhookEvent(name, kind)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "interaction.completed", "data": {"name": "interactions/1"}},
        {"type": "video.generated", "data": {"name": "videos/1"}},
        {"type": "batch.succeeded", "data": {}},
        {"type": "batch.succeeded"},
    ],
)
def test_other_events_wake_nothing(event: dict[str, object]) -> None:
    assert GeminiBatchOperations.parse_webhook_event(event) is None


def test_signatures_are_standard_webhooks_signatures() -> None:
    body = b'{"type":"batch.succeeded","data":{"name":"batches/abc"}}'
    stamp = int(time.time())
    signature = Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
    GeminiBatchOperations.verify_webhook(body, headers, SECRET)
    with pytest.raises(WebhookSignatureError):
        GeminiBatchOperations.verify_webhook(body + b" ", headers, SECRET)
    with pytest.raises(WebhookSignatureError):
        GeminiBatchOperations.verify_webhook(body, {**headers, "webhook-signature": "v1"}, SECRET)
