"""The emulator as a webhook sender: a signed POST when a batch ends, as the vendors do.

`Emulator.send_webhooks` starts a :class:`WebhookSender`: a thread that keeps time-mode
batches moving (as a vendor's own clock does, with nobody polling) and, when a batch of
a vendor that sends webhooks (`EmulatorVendor.webhook_event`) has ended, posts its event
to ``<url>/<vendor name>``, signed the Standard Webhooks way (HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the base64 secret after ``whsec_``).
Every attempt is logged in `WebhookSender.deliveries`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

if TYPE_CHECKING:
    from lmbatch.testing.emulator._state import EmulatorState

__all__ = ["Delivery", "WebhookSender", "signed_headers"]

#: Seconds between two looks at the batches.
SCAN_INTERVAL = 0.02


@dataclass(frozen=True)
class Delivery:
    """One webhook the emulator sent.

    Attributes:
        vendor: The vendor that sent it.
        batch_id: The batch it is about.
        event_type: The event's ``type``.
        status: The HTTP status the receiver answered (0: no answer).
    """

    vendor: str
    batch_id: str
    event_type: str
    status: int


def signed_headers(secret: str, body: bytes, delivery_id: str, timestamp: int) -> dict[str, str]:
    """Standard Webhooks headers of ``body`` signed with ``secret`` (``whsec_...``)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }


class WebhookSender:
    """Posts a signed event for every batch that ends (see the module docs).

    Args:
        state: The emulator's state.
        url: Where deliveries go: ``<url>/<vendor name>``.
        secrets: Signing secret per vendor name; vendors without one send nothing.
    """

    def __init__(self, state: EmulatorState, url: str, secrets: Mapping[str, str]) -> None:
        self.state = state
        self.url = url.rstrip("/")
        self.secrets = dict(secrets)
        self.deliveries: list[Delivery] = []
        # Batches already ended when sending started send nothing, as with a vendor.
        self._sent = {(name, job.id) for name, job in self._jobs() if job.terminal}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lmbatch-webhooks", daemon=True)
        self._thread.start()

    def _jobs(self) -> list[tuple[str, Any]]:
        with self.state.lock:
            return [
                (name, job)
                for name, vendor in self.state.vendors.items()
                if name in self.secrets
                for job in vendor.jobs()
            ]

    def stop(self) -> None:
        """Stop sending; waits for the thread."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(SCAN_INTERVAL):
            self.state.tick()
            for name, job in self._jobs():
                if not job.terminal or (name, job.id) in self._sent:
                    continue
                self._sent.add((name, job.id))
                with self.state.lock:
                    event = self.state.vendors[name].webhook_event(job)
                if event is not None:
                    self._send(name, job.id, event)

    def _send(self, vendor: str, batch_id: str, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        headers = signed_headers(
            self.secrets[vendor], body, f"msg_{secrets.token_hex(12)}", int(self.state.now())
        )
        request = Request(f"{self.url}/{vendor}", data=body, headers=headers, method="POST")
        try:
            with urlopen(request, timeout=10) as answer:  # the URL the test gave: loopback
                status = int(answer.status)
        except HTTPError as exc:
            status = exc.code
        except (URLError, OSError):
            status = 0
        with self.state.lock:
            self.deliveries.append(Delivery(vendor, batch_id, str(event.get("type")), status))
