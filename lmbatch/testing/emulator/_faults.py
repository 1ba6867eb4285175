"""Fault injection: per-request directives and per-operation HTTP failures.

A request can script its own fate through a directive anywhere in its text, so a test or a
demo can provoke faults without any access to the server::

    [[lmbatch:error=429]]     the request fails with that HTTP status (errored / error file)
    [[lmbatch:expire]]        the request does not run before the window ends (expired)
    [[lmbatch:malformed]]     its result line is written as broken JSON
    [[lmbatch:omit]]          the request is lost: never run, not counted, no result line
    [[lmbatch:duplicate]]     its result line appears twice

Several directives may be combined, either as separate brackets or comma-separated inside
one (``[[lmbatch:error=500,duplicate]]``). The same words, without brackets, configure faults
by custom_id in `EmulatorSettings.key_faults`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from typing import Literal

from lmbatch._keys import strip_job_tag
from lmbatch.testing.emulator._settings import EndpointFault, Provider

DIRECTIVE_RE = re.compile(r"\[\[lmbatch:([^\]]*)\]\]")


@dataclass(frozen=True)
class KeyFault:
    """The faults scripted for one request.

    Attributes:
        error_status: HTTP status the request "fails" with, or ``None``.
        expire: The request never runs before expiry.
        malformed: Its result line is corrupted.
        omit: The vendor loses the request: it is not counted in the batch's request
            counts and has no result line (a request that never completed).
        duplicate: Its result line is written twice.
    """

    error_status: int | None = None
    expire: bool = False
    malformed: bool = False
    omit: bool = False
    duplicate: bool = False

    @property
    def any(self) -> bool:
        """Whether any fault is set."""
        return self != KeyFault()

    def merge(self, other: KeyFault) -> KeyFault:
        """Combine two fault sets; ``other`` wins for the error status."""
        return KeyFault(
            error_status=other.error_status or self.error_status,
            expire=self.expire or other.expire,
            malformed=self.malformed or other.malformed,
            omit=self.omit or other.omit,
            duplicate=self.duplicate or other.duplicate,
        )


NO_FAULT = KeyFault()


def parse_fault_spec(spec: str) -> KeyFault:
    """Parse the inside of a directive, e.g. ``"error=429,duplicate"``.

    Args:
        spec: Comma-separated fault words.

    Returns:
        The parsed faults.

    Raises:
        ValueError: On an unknown word or a bad status.
    """
    fault = NO_FAULT
    for raw in spec.split(","):
        word = raw.strip().lower()
        if not word:
            continue
        if word.startswith("error"):
            _, _, value = word.partition("=")
            status = int(value) if value else 500
            if not 400 <= status <= 599:
                raise ValueError(f"error status must be 4xx/5xx, got {status}")
            fault = fault.merge(KeyFault(error_status=status))
        elif word in ("expire", "malformed", "omit", "duplicate"):
            fault = fault.merge(KeyFault(**{word: True}))
        else:
            raise ValueError(f"unknown lmbatch fault {word!r}")
    return fault


def faults_in_text(text: str) -> KeyFault:
    """Collect every directive found in ``text``; unknown words are ignored.

    Args:
        text: Any text, including a raw JSON line (directives survive JSON escaping).

    Returns:
        The combined faults, `NO_FAULT` when there is no directive.
    """
    if "[[lmbatch:" not in text:
        return NO_FAULT
    fault = NO_FAULT
    for match in DIRECTIVE_RE.finditer(text):
        try:
            fault = fault.merge(parse_fault_spec(match.group(1)))
        except ValueError:
            continue  # a typo in a prompt must not break the whole batch
    return fault


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
        operation: ``"content"`` (OpenAI file content) or ``"results"`` (Anthropic).
        action: What to do to the body (see `TamperAction`).
        provider: Restrict to one half of the emulator; ``None`` matches both.
        times: Damage only the first ``times`` matching downloads (``None``: every one),
            so a client that reads again gets the whole body.
        fired: Bodies damaged so far.
    """

    operation: str
    action: TamperAction
    provider: Provider | None = None
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
        provider: Provider | None = None,
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
        provider: Provider | None = None,
        times: int | None = None,
    ) -> ResultsTamper:
        """Damage downloads of ``operation`` (``"content"`` or ``"results"``).

        Args:
            times: Damage only the first ``times`` of them (``None``: every one).

        Returns:
            The tamper, whose ``fired`` counter the test may inspect.
        """
        tamper = ResultsTamper(operation=operation, action=action, provider=provider, times=times)
        with self._lock:
            self._tampers.append(tamper)
        return tamper

    def tamper_for(self, provider: Provider, operation: str) -> ResultsTamper | None:
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

    def check(self, provider: Provider, operation: str) -> EndpointFault | None:
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
