"""Fault directives: how a request scripts its own fate, for the fake provider and the emulator.

A request can script what happens to it through a directive anywhere in its text, so a test
or a demo can provoke faults without any access to the server or the backend::

    [[lmbatch:error=429]]     the request fails with that HTTP status
    [[lmbatch:expire]]        the request does not run before the window ends (expired)
    [[lmbatch:malformed]]     its result line is written as broken JSON
    [[lmbatch:omit]]          the request is lost: never run, not counted, no result line
    [[lmbatch:duplicate]]     its result line appears twice
    [[lmbatch:finish=length]] an ok answer with that finish reason (the fake provider only;
                              the emulator answers such a request normally)

Several directives may be combined, either as separate brackets or comma-separated inside
one (``[[lmbatch:error=500,duplicate]]``). The same words, without brackets, script faults by
request id (`lmbatch.testing.emulator.EmulatorSettings.key_faults`, ``lmbatch emulator
--key-fault``). This module is the one parser of that grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DIRECTIVE_RE", "NO_FAULT", "KeyFault", "faults_in_text", "parse_fault_spec"]

DIRECTIVE_RE = re.compile(r"\[\[lmbatch:([^\]]*)\]\]")
_FLAGS = ("expire", "malformed", "omit", "duplicate")


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
        finish_reason: An ok answer ends with this finish reason (``"length"``...);
            only the fake provider honours it.
    """

    error_status: int | None = None
    expire: bool = False
    malformed: bool = False
    omit: bool = False
    duplicate: bool = False
    finish_reason: str | None = None

    @property
    def any(self) -> bool:
        """Whether any fault is set."""
        return self != KeyFault()

    def merge(self, other: KeyFault) -> KeyFault:
        """Combine two fault sets; ``other`` wins for the error status and finish reason."""
        return KeyFault(
            error_status=other.error_status or self.error_status,
            expire=self.expire or other.expire,
            malformed=self.malformed or other.malformed,
            omit=self.omit or other.omit,
            duplicate=self.duplicate or other.duplicate,
            finish_reason=other.finish_reason or self.finish_reason,
        )


NO_FAULT = KeyFault()
"""No fault: the request runs normally."""


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
        name, _, value = word.partition("=")
        if name == "error":
            try:
                status = int(value) if value else 500
            except ValueError:
                raise ValueError(f"error status must be a number, got {value!r}") from None
            if not 400 <= status <= 599:
                raise ValueError(f"error status must be 4xx/5xx, got {status}")
            fault = fault.merge(KeyFault(error_status=status))
        elif name == "finish":
            fault = fault.merge(KeyFault(finish_reason=value or "length"))
        elif word in _FLAGS:
            fault = fault.merge(
                KeyFault(
                    expire=word == "expire",
                    malformed=word == "malformed",
                    omit=word == "omit",
                    duplicate=word == "duplicate",
                )
            )
        else:
            raise ValueError(f"unknown lmbatch fault {word!r}")
    return fault


def faults_in_text(text: str) -> KeyFault:
    """Collect every directive found in ``text``; a directive with an unknown word is ignored.

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
