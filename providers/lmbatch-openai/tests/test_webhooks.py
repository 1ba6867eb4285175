"""OpenAI's batch webhooks: the events that wake a batch, checked with the SDK's verifier."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from lmbatch_openai import OpenAIBatchOperations
from standardwebhooks.webhooks import Webhook

from lmbatch.provider import WebhookEvent, WebhookSignatureError

SECRET = "whsec_" + base64.b64encode(b"an-openai-webhook-secret").decode()
BODY = b'{"id":"evt_1","object":"event","type":"batch.expired","data":{"id":"batch_7"}}'


def _headers(body: bytes, secret: str = SECRET, *, age: int = 0) -> dict[str, str]:
    stamp = int(time.time()) - age
    signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return {"webhook-id": "msg_1", "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_openai_declares_its_webhook_secret() -> None:
    assert OpenAIBatchOperations.webhook_secret_env == "OPENAI_WEBHOOK_SECRET"


@pytest.mark.parametrize(
    "kind", ["batch.completed", "batch.failed", "batch.expired", "batch.cancelled"]
)
def test_each_batch_event_names_its_batch(kind: str) -> None:
    event = {"id": "evt_1", "object": "event", "type": kind, "data": {"id": "batch_7"}}
    assert OpenAIBatchOperations.parse_webhook_event(event) == WebhookEvent("batch_7", kind)


@pytest.mark.parametrize(
    "event",
    [
        {"type": "response.completed", "data": {"id": "resp_1"}},
        {"type": "fine_tuning.job.succeeded", "data": {"id": "ftjob_1"}},
        {"type": "batch.completed"},
        {"type": "batch.completed", "data": {"id": ""}},
    ],
)
def test_other_events_wake_nothing(event: dict[str, object]) -> None:
    assert OpenAIBatchOperations.parse_webhook_event(event) is None


def test_signatures_are_checked_by_the_sdk() -> None:
    OpenAIBatchOperations.verify_webhook(BODY, _headers(BODY), SECRET)
    with pytest.raises(WebhookSignatureError):
        OpenAIBatchOperations.verify_webhook(BODY.replace(b"7", b"8"), _headers(BODY), SECRET)
    with pytest.raises(WebhookSignatureError, match="too old"):
        OpenAIBatchOperations.verify_webhook(BODY, _headers(BODY, age=400), SECRET)
    other = "whsec_" + base64.b64encode(b"someone-else").decode()
    with pytest.raises(WebhookSignatureError):
        OpenAIBatchOperations.verify_webhook(BODY, _headers(BODY, other), SECRET)
