"""Fault injection: per-request directives and per-operation HTTP failures.

Requests script their own fate with ``[[lmbatch:...]]`` directives (``error=429``,
``expire``, ``malformed``, ``omit``, ``duplicate``; the grammar the ``fake`` provider reads
too), or by custom_id in `EmulatorSettings.key_faults`. Operations fail with HTTP errors
through `EndpointFault`, and result downloads are damaged through `ResultsTamper`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Literal

from lmbatch._keys import strip_job_tag
from lmbatch.testing._directives import NO_FAULT, KeyFault, parse_fault_spec
from lmbatch.testing.emulator._settings import EndpointFault

#: Ways a results download can be damaged in transit:
#: ``truncate`` cuts the body off in the middle of its last line; ``drop_tail`` ends the body
#: after the first half of its lines (a download cut at a line boundary); ``empty`` sends no
#: body at all; ``disconnect`` sends the first half of the lines, then drops the connection;
#: ``unknown_id`` adds a line for a custom_id that was never submitted; ``duplicate_all``
#: sends every line twice.
TamperAction = Literal[
    "truncate", "drop_tail", "empty", "disconnect", "unknown_id", "duplicate_all"
]


@dataclass
class ResultsTamper:
    """Damage the body of one download operation (``content`` or ``results``).

    Attributes:
        operation: A download operation of a vendor (for example ``"content"`` or
            ``"results"``); only file bodies can be damaged.
        action: What to do to the body (see `TamperAction`).
        provider: Restrict to one vendor of the emulator; ``None`` matches every one.
        times: Damage only the first ``times`` matching downloads (``None``: every one),
            so a client that reads again gets the whole body.
        fired: Bodies damaged so far.
    """

    operation: str
    action: TamperAction
    provider: str | None = None
    times: int | None = None
    fired: int = 0


def tamper_body(body: bytes, tamper: ResultsTamper) -> bytes:
    """Apply ``tamper`` to a JSONL body (``disconnect`` gives the part sent before the drop)."""
    lines = [line for line in body.splitlines(keepends=True) if line.strip()]
    if tamper.action == "empty":
        return b""
    if not lines:
        return body
    if tamper.action == "truncate":
        last = lines[-1]
        return b"".join(lines[:-1]) + last[: max(1, len(last) // 2)]
    if tamper.action in ("drop_tail", "disconnect"):
        return b"".join(lines[: len(lines) // 2])
    if tamper.action == "duplicate_all":
        return b"".join(line for line in lines for _ in range(2))
    first = json.loads(lines[0])
    first["custom_id"] = "never-submitted-id"
    return b"".join(lines) + (json.dumps(first) + "\n").encode()


class FaultPlan:
    """The live fault configuration, shared by the server thread and the test thread.

    Args:
        lock: The emulator state's lock.
        key_faults: Initial per-custom_id faults (directive words without brackets).
        endpoint_faults: Initial operation faults.
    """

    def __init__(
        self,
        lock: threading.RLock,
        key_faults: dict[str, str] | None = None,
        endpoint_faults: list[EndpointFault] | None = None,
    ) -> None:
        self._lock = lock
        self._keys: dict[str, KeyFault] = {}
        self._endpoints: list[EndpointFault] = []
        self._tampers: list[ResultsTamper] = []
        for custom_id, spec in (key_faults or {}).items():
            self.fail_key(custom_id, spec)
        for fault in endpoint_faults or []:
            self.add(fault)

    def fail(
        self,
        operation: str,
        status: int = 500,
        *,
        nth: int | None = None,
        provider: str | None = None,
        after_effect: bool = False,
    ) -> EndpointFault:
        """Make an operation fail; see `EndpointFault` for the arguments.

        Returns:
            The fault, whose ``calls`` / ``fired`` counters the test may inspect.
        """
        return self.add(
            EndpointFault(
                operation=operation,
                status=status,
                nth=nth,
                provider=provider,
                after_effect=after_effect,
            )
        )

    def tamper(
        self,
        operation: str,
        action: TamperAction,
        *,
        provider: str | None = None,
        times: int | None = None,
    ) -> ResultsTamper:
        """Damage downloads of ``operation`` (a vendor's download, e.g. ``"results"``).

        Args:
            times: Damage only the first ``times`` of them (``None``: every one).

        Returns:
            The tamper, whose ``fired`` counter the test may inspect.
        """
        tamper = ResultsTamper(operation=operation, action=action, provider=provider, times=times)
        with self._lock:
            self._tampers.append(tamper)
        return tamper

    def tamper_for(self, provider: str, operation: str) -> ResultsTamper | None:
        """The tamper to apply to this download, if any (counted as fired)."""
        with self._lock:
            for tamper in self._tampers:
                if tamper.operation != operation or tamper.provider not in (None, provider):
                    continue
                if tamper.times is None or tamper.fired < tamper.times:
                    tamper.fired += 1
                    return tamper
        return None

    def add(self, fault: EndpointFault) -> EndpointFault:
        """Register a ready-made `EndpointFault` and return it."""
        with self._lock:
            self._endpoints.append(fault)
        return fault

    def fail_key(self, custom_id: str, spec: str) -> None:
        """Script a fault for every request with this custom_id (in any batch).

        Args:
            custom_id: The request key.
            spec: Directive words, e.g. ``"error=429"`` or ``"expire"``.
        """
        fault = parse_fault_spec(spec)
        with self._lock:
            self._keys[custom_id] = self._keys.get(custom_id, NO_FAULT).merge(fault)

    def clear(self) -> None:
        """Remove every key and endpoint fault."""
        with self._lock:
            self._keys.clear()
            self._endpoints.clear()
            self._tampers.clear()

    @property
    def endpoint_faults(self) -> list[EndpointFault]:
        """A snapshot of the registered operation faults."""
        with self._lock:
            return list(self._endpoints)

    def for_key(self, custom_id: str, text_fault: KeyFault) -> KeyFault:
        """Faults for one request: settings by custom_id merged with in-text directives.

        A custom_id matches with or without the job tag lmbatch ends its ids with.
        """
        with self._lock:
            found = self._keys.get(custom_id) or self._keys.get(strip_job_tag(custom_id))
            return (found or NO_FAULT).merge(text_fault)

    def check(self, provider: str, operation: str) -> EndpointFault | None:
        """Count a call and return the fault that should fire for it, if any."""
        with self._lock:
            hit: EndpointFault | None = None
            for fault in self._endpoints:
                if fault.operation != operation or fault.provider not in (None, provider):
                    continue
                fault.calls += 1
                if hit is None and (fault.nth is None or fault.calls == fault.nth):
                    hit = fault
            if hit is not None:
                hit.fired += 1
            return hit
