"""What a provider declares to be woken by its vendor's webhooks (see :mod:`lmbatch.webhooks`).

A vendor that calls a URL when a batch ends (OpenAI's ``batch.completed``, Gemini's
``batch.succeeded``...) lets lmbatch poll slowly: the webhook endpoint records a *wake*
for the batch in the job store, and whoever waits on the batch polls it at once. A
provider opts in by declaring :attr:`~lmbatch.BatchOperations.webhook_secret_env` and
reading its vendor's event in
:meth:`~lmbatch.BatchOperations.parse_webhook_event`; signatures are checked by
:meth:`~lmbatch.BatchOperations.verify_webhook` (`Standard Webhooks
<https://www.standardwebhooks.com/>`_ unless the provider overrides it, for example with
its vendor SDK's own check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lmbatch._errors import ConfigError, LMBatchError

__all__ = [
    "SIGNATURE_HEADERS",
    "WEBHOOK_TOLERANCE",
    "WebhookEvent",
    "WebhookSignatureError",
    "verify_standard_webhook",
]

#: Seconds a delivery's ``webhook-timestamp`` may be from this machine's clock, either
#: way (the tolerance of the vendors' SDKs and of Standard Webhooks).
WEBHOOK_TOLERANCE = 300
#: The headers of a Standard Webhooks delivery: its id, timestamp and signatures.
SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


@dataclass(frozen=True)
class WebhookEvent:
    """A vendor's notice that one batch changed state (it ended, mostly).

    Attributes:
        batch_id: The vendor's batch id, as the provider's ``fetch_batch`` takes it.
        event_type: The vendor's event name (``"batch.completed"``...).
    """

    batch_id: str
    event_type: str


class WebhookSignatureError(LMBatchError):
    """A webhook delivery whose signature or timestamp does not check out.

    Raised by :meth:`~lmbatch.BatchOperations.verify_webhook`; the webhook endpoint
    answers it with HTTP 401 and records nothing.
    """


def verify_standard_webhook(
    body: bytes, headers: Mapping[str, str], secret: str, *, tolerance: int = WEBHOOK_TOLERANCE
) -> None:
    """Check a Standard Webhooks signature, with the ``standardwebhooks`` package.

    The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``, HMAC-SHA256 with
    the secret (base64 after ``whsec_``); the timestamp must be within ``tolerance``
    seconds of this machine's clock.

    Args:
        body: The delivery's body, as received.
        headers: Its headers (names in lower case).
        secret: The signing secret (``whsec_...``).
        tolerance: Seconds the timestamp may be off, either way.

    Raises:
        WebhookSignatureError: No signature matches, or the timestamp is out of range.
        ConfigError: ``standardwebhooks`` is not installed, or the secret is not one.
    """
    try:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
    except ImportError as exc:  # pragma: no cover - the extra is part of the dev install
        raise ConfigError(
            "checking webhook signatures needs the standardwebhooks package: "
            "pip install 'lmbatch[webhooks]'"
        ) from exc
    try:
        hook = Webhook(secret)
    except Exception as exc:
        raise ConfigError(
            "the webhook signing secret is not a Standard Webhooks secret (whsec_ and base64)"
        ) from exc
    # The package's own window is fixed at 5 minutes: ours is checked first, so a smaller
    # tolerance is honoured (a larger one cannot be, and is not offered).
    _check_timestamp(headers, tolerance)
    try:
        hook.verify(body, dict(headers), json_parse=False)
    except (WebhookVerificationError, ValueError) as exc:
        # ValueError: a signature entry without its "v1," or not base64, a body that is
        # not UTF-8: not signed by the vendor either.
        raise WebhookSignatureError(f"webhook delivery refused: {exc}") from None


def _check_timestamp(headers: Mapping[str, str], tolerance: int) -> None:
    import time

    try:
        stamp = int(headers["webhook-timestamp"])
    except (KeyError, ValueError):
        raise WebhookSignatureError(
            "webhook delivery refused: its webhook-timestamp is not a number of seconds"
        ) from None
    now = time.time()
    if stamp < now - tolerance:
        raise WebhookSignatureError("webhook delivery refused: its timestamp is too old")
    if stamp > now + tolerance:
        raise WebhookSignatureError("webhook delivery refused: its timestamp is in the future")
