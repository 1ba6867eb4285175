"""Gemini's batch webhooks: which events wake a batch, and where its name is.

Gemini calls a registered endpoint (``POST /v1beta/webhooks``, ``subscribed_events``)
when a batch ends, with ``batch.succeeded``, ``batch.failed`` or ``batch.expired``,
signed the Standard Webhooks way with the ``whsec_`` secret returned when the endpoint
was registered (core's default check). The event carries the batch's operation name in
``data``; the field is taken as ``name``, else ``id`` or ``batch`` (a name, or an object
with one), as the exact payload of these new events is not pinned down in the SDK yet.
A bare id is read as ``batches/<id>``, the form lmbatch records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lmbatch.provider import WebhookEvent

__all__ = ["BATCH_EVENTS", "WEBHOOK_SECRET_ENV", "parse_event"]

#: Gemini's batch events (per-interaction and video events are not lmbatch's).
BATCH_EVENTS = frozenset({"batch.succeeded", "batch.failed", "batch.expired"})
#: Where lmbatch reads the signing secret of the registered webhook.
WEBHOOK_SECRET_ENV = "GEMINI_WEBHOOK_SECRET"


def parse_event(event: Mapping[str, Any]) -> WebhookEvent | None:
    """The batch event of a delivery, or None for any other event."""
    kind = event.get("type")
    data = event.get("data")
    if kind not in BATCH_EVENTS or not isinstance(data, dict):
        return None
    name = _batch_name(data)
    if name is None:
        return None
    return WebhookEvent(batch_id=name, event_type=str(kind))


def _batch_name(data: Mapping[str, Any]) -> str | None:
    for key in ("name", "id", "batch"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("name")
        if isinstance(value, str) and value:
            return value if value.startswith("batches/") else f"batches/{value}"
    return None
