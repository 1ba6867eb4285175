"""Configuration of the emulator: lifecycle mode, scripted faults and each vendor's options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lmbatch.testing.emulator._registry import installed_vendor_names, known_operations

Mode = Literal["polls", "time", "manual"]
"""How batches move through their lifecycle.

* ``"polls"``: every ``GET`` of one batch counts as a poll; ``polls_per_step`` polls advance it
  one step. Mirrors how a client experiences a real batch: it changes while you watch it.
* ``"time"``: a batch advances one step every ``seconds_per_step`` of wall-clock time.
* ``"manual"``: batches only move when the test calls ``Emulator.advance``.
"""


@dataclass
class EndpointFault:
    """Make calls to one API operation fail with a vendor-shaped HTTP error.

    Attributes:
        operation: Operation name, one of the served vendors' `EmulatorVendor.operations`
            (for example ``"upload"``, ``"create"``, ``"retrieve"``, ``"list"``,
            ``"content"``, ``"results"``, ``"cancel"``, ``"delete"``, ``"count_tokens"``).
        status: HTTP status to return (typically 500 or 429; 400..599 accepted).
        nth: Fail only the nth matching call (1-based, counted from when the fault was
            added). ``None`` fails every matching call.
        provider: Restrict to one vendor of the emulator (its `EmulatorVendor.name`);
            ``None`` matches every vendor.
        after_effect: Perform the operation first and only then answer with the error:
            the "vendor created the batch but the client saw a 500" case.
        calls: Matching calls seen so far (maintained by the emulator).
        fired: Times this fault produced an error (maintained by the emulator).

    Raises:
        ValueError: An operation or vendor no installed emulator vendor knows, or a bad
            status or ``nth``.
    """

    operation: str
    status: int = 500
    nth: int | None = None
    provider: str | None = None
    after_effect: bool = False
    calls: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        known = known_operations()
        if self.operation not in known:
            raise ValueError(
                f"unknown operation {self.operation!r}; expected one of {sorted(known)}"
            )
        vendors = installed_vendor_names()
        if self.provider is not None and self.provider not in vendors:
            raise ValueError(
                f"unknown provider {self.provider!r}: the emulator serves "
                f"{', '.join(sorted(vendors)) or 'no vendor'}"
            )
        if not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, got {self.status}")
        if self.nth is not None and self.nth < 1:
            raise ValueError("nth is 1-based")


@dataclass(init=False)  # __init__ below also takes each vendor's options as keywords
class EmulatorSettings:
    """Everything that shapes the emulator's behaviour.

    Each vendor's own options (limits, mostly) come with the vendor
    (`EmulatorVendor.options_class`); set them per vendor in ``vendor_options``, or as
    keywords named ``<vendor>_<option>``: ``EmulatorSettings(openai_max_requests=3)`` is
    ``EmulatorSettings(vendor_options={"openai": {"max_requests": 3}})``.

    Attributes:
        mode: Lifecycle driver, see `Mode`.
        polls_per_step: In ``"polls"`` mode, retrieves of a batch needed per lifecycle step.
        seconds_per_step: In ``"time"`` mode, wall-clock seconds per lifecycle step.
        progress_steps: Lifecycle steps a batch spends running, its reported counts
            growing by a share of its requests at each (1: all counted at once when it
            ends). Progress displays need more than 1 to move.
        cancel_finished_fraction: Share of the requests (rounded down, input order) that are
            already answered when a running batch is cancelled; the rest come back as
            cancelled (a vendor may finish none when cancelled before it started).
        require_auth: Check each vendor's API-key header (any non-empty key passes).
        key_faults: Per-custom_id faults, the same syntax as the in-text directive minus the
            brackets, e.g. ``{"q1": "error=429", "q2": "expire", "q3": "malformed"}``.
        endpoint_faults: Operation-level faults, see `EndpointFault`.
        spill_dir: Parent directory for the emulator's temporary storage (``None``: the
            system temp dir). Uploaded files and result files live there, not in memory.
        sequential_ids: Number batches ``<prefix>000001``, ``<prefix>000002``... from the
            start, as many self-hosted servers do (so two emulators hand out the same
            ids); by default ids are random, as the vendors' are.
        clock_offset: Seconds the emulated vendor's clock runs ahead of this machine's
            (negative: behind). Every time it reports (``created_at``, ``ended_at``, file
            times...) and its HTTP ``Date`` header use that clock, to test clock skew.
        create_delay: Seconds every batch-create call takes, half before the batch is
            made and half after, so a client that dies during the call may or may not
            have made one (every vendor).
        vendor_options: Options per vendor name, passed to that vendor's options class.

    Raises:
        ValueError: A setting out of range.
        TypeError: A keyword that names no installed vendor's ``<vendor>_<option>``.
    """

    mode: Mode = "polls"
    polls_per_step: int = 1
    seconds_per_step: float = 1.0
    progress_steps: int = 1
    cancel_finished_fraction: float = 0.5
    require_auth: bool = True
    key_faults: dict[str, str] = field(default_factory=dict)
    endpoint_faults: list[EndpointFault] = field(default_factory=list)
    spill_dir: str | None = None
    sequential_ids: bool = False
    clock_offset: float = 0.0
    create_delay: float = 0.0
    vendor_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __init__(
        self,
        mode: Mode = "polls",
        polls_per_step: int = 1,
        seconds_per_step: float = 1.0,
        progress_steps: int = 1,
        cancel_finished_fraction: float = 0.5,
        require_auth: bool = True,
        key_faults: dict[str, str] | None = None,
        endpoint_faults: list[EndpointFault] | None = None,
        spill_dir: str | None = None,
        sequential_ids: bool = False,
        clock_offset: float = 0.0,
        create_delay: float = 0.0,
        vendor_options: dict[str, dict[str, Any]] | None = None,
        **options: Any,
    ) -> None:
        self.mode = mode
        self.polls_per_step = polls_per_step
        self.seconds_per_step = seconds_per_step
        self.progress_steps = progress_steps
        self.cancel_finished_fraction = cancel_finished_fraction
        self.require_auth = require_auth
        self.key_faults = dict(key_faults or {})
        self.endpoint_faults = list(endpoint_faults or [])
        self.spill_dir = spill_dir
        self.sequential_ids = sequential_ids
        self.clock_offset = clock_offset
        self.create_delay = create_delay
        self.vendor_options = {name: dict(opts) for name, opts in (vendor_options or {}).items()}
        for keyword, value in options.items():
            vendor, option = _split_vendor_option(keyword)
            self.vendor_options.setdefault(vendor, {})[option] = value
        self._check()

    def _check(self) -> None:
        if self.mode not in ("polls", "time", "manual"):
            raise ValueError(f"unknown mode {self.mode!r}")
        if self.polls_per_step < 1:
            raise ValueError("polls_per_step must be >= 1")
        if self.progress_steps < 1:
            raise ValueError("progress_steps must be >= 1")
        if self.seconds_per_step <= 0:
            raise ValueError("seconds_per_step must be > 0")
        if not 0.0 <= self.cancel_finished_fraction <= 1.0:
            raise ValueError("cancel_finished_fraction must be within [0, 1]")
        if self.create_delay < 0:
            raise ValueError("create_delay must be >= 0")


def _split_vendor_option(keyword: str) -> tuple[str, str]:
    """``"openai_max_requests"`` → ``("openai", "max_requests")``, by installed vendor names."""
    # Longest name first, so a vendor "foo_bar" wins over a vendor "foo".
    for vendor in sorted(installed_vendor_names(), key=len, reverse=True):
        if keyword.startswith(vendor + "_") and len(keyword) > len(vendor) + 1:
            return vendor, keyword[len(vendor) + 1 :]
    raise TypeError(
        f"EmulatorSettings got an unexpected keyword argument {keyword!r} (vendor options "
        f"are <vendor>_<option>; installed vendors: "
        f"{', '.join(sorted(installed_vendor_names())) or 'none'})"
    )
