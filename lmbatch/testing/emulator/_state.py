"""The emulator's shared state: its vendors, storage directory, clock and call accounting.

The uvicorn thread (serving requests) and the test thread (``advance``, ``expire``,
``faults``...) both touch this object, so every mutation happens under one re-entrant lock.
Uploaded and generated files live in a temporary directory, not in memory.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmbatch._keys import strip_job_tag
from lmbatch.testing.emulator._faults import FaultPlan
from lmbatch.testing.emulator._jobs import Job, RunProgress
from lmbatch.testing.emulator._registry import installed_vendors, remember
from lmbatch.testing.emulator._settings import EmulatorSettings
from lmbatch.testing.emulator._vendor import EmulatorVendor


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call the emulator answered.

    Attributes:
        method: HTTP method.
        path: URL path (no query string).
        status: HTTP status sent.
        provider: Name of the vendor that served it (`EmulatorVendor.name`), ``None``
            for unknown routes.
        operation: Operation name (see `EndpointFault`), ``None`` for unknown routes.
    """

    method: str
    path: str
    status: int
    provider: str | None
    operation: str | None


class EmulatorState:
    """Everything the emulator knows, plus the controls tests use.

    A vendor's own records are on its instance, ``state.vendors[name]``; as a shorthand,
    ``state.<name>_<attribute>`` reads ``state.vendors[name].<attribute>`` (for example
    the batches a vendor keeps).

    Args:
        settings: Behaviour; defaults to `EmulatorSettings()`.
        vendors: Vendor classes to serve; ``None``: every installed one.

    Raises:
        ValueError: ``settings.vendor_options`` names a vendor not served.
        TypeError: A vendor option its options class does not take.
    """

    def __init__(
        self,
        settings: EmulatorSettings | None = None,
        *,
        vendors: Sequence[type[EmulatorVendor[Any]]] | None = None,
    ) -> None:
        self.settings = settings or EmulatorSettings()
        self.lock = threading.RLock()
        if vendors is None:
            classes = installed_vendors()
        else:
            classes = list(vendors)
            remember(classes)
        unknown = set(self.settings.vendor_options) - {cls.name for cls in classes}
        if unknown:
            raise ValueError(f"vendor options for vendors not served: {sorted(unknown)}")
        self.faults = FaultPlan(
            self.lock, dict(self.settings.key_faults), list(self.settings.endpoint_faults)
        )
        self._dir = Path(tempfile.mkdtemp(prefix="lmbatch-emulator-", dir=self.settings.spill_dir))
        self._serial = 0
        self.calls: list[CallRecord] = []
        self.submissions: Counter[str] = Counter()
        self.create_calls = 0
        self._batch_serial = 0
        #: The vendor instances this state serves, by name.
        self.vendors: dict[str, EmulatorVendor[Any]] = {}
        for cls in classes:
            self.vendors[cls.name] = cls(self, _options(cls, self.settings.vendor_options))

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes the state lacks: ``openai_batches`` and the like.
        vendors = self.__dict__.get("vendors", {})
        for vendor in sorted(vendors, key=len, reverse=True):
            if name.startswith(vendor + "_"):
                return getattr(vendors[vendor], name[len(vendor) + 1 :])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def batch_id(self, prefix: str, random_id: Callable[[], str]) -> str:
        """A new batch id: ``random_id()``, or ``prefix`` + a serial number.

        Args:
            prefix: Start of a sequential id (``EmulatorSettings.sequential_ids``).
            random_id: Makes a vendor-looking random id.

        Returns:
            The id.
        """
        if not self.settings.sequential_ids:
            return random_id()
        with self.lock:
            self._batch_serial += 1
            return f"{prefix}{self._batch_serial:06d}"

    def now(self) -> float:
        """The emulated vendor's clock (this machine's, shifted by ``clock_offset``)."""
        return time.time() + self.settings.clock_offset

    def run_progress(self) -> RunProgress:
        """A new batch's `RunProgress`, as ``progress_steps`` sets it."""
        return RunProgress(self.settings.progress_steps)

    async def slow_create(self) -> None:
        """Spend half of ``create_delay`` (called before and after a batch is made)."""
        if self.settings.create_delay > 0:
            await asyncio.sleep(self.settings.create_delay / 2)

    def count_create_call(self) -> None:
        """Count one batch-create call (failed ones too): `Emulator.create_calls`."""
        with self.lock:
            self.create_calls += 1

    # storage -----------------------------------------------------------------------------

    def new_path(self, suffix: str = "") -> Path:
        """A fresh file path inside the emulator's private directory."""
        with self.lock:
            self._serial += 1
            return self._dir / f"{self._serial:08d}{suffix}"

    def private_copy(self, path: Path) -> Path:
        """A batch's own link to its input, so deleting the file does not break the batch."""
        target = self.new_path(".input")
        try:
            target.hardlink_to(path)
        except OSError:
            shutil.copyfile(path, target)
        return target

    def close(self) -> None:
        """Delete the storage directory."""
        shutil.rmtree(self._dir, ignore_errors=True)

    # lifecycle ---------------------------------------------------------------------------

    def jobs(self) -> list[Job]:
        """Every batch of every vendor."""
        with self.lock:
            return [job for vendor in self.vendors.values() for job in vendor.jobs()]

    def find(self, batch_id: str) -> Job:
        """The batch with this id, whichever vendor holds it.

        Raises:
            KeyError: Unknown id.
        """
        with self.lock:
            for job in self.jobs():
                if job.id == batch_id:
                    return job
        raise KeyError(batch_id)

    def tick(self) -> None:
        """In ``"time"`` mode, catch every batch up with the wall clock."""
        if self.settings.mode != "time":
            return
        period = self.settings.seconds_per_step
        now = time.monotonic()
        with self.lock:
            for job in self.jobs():
                while not job.terminal and now - job.last_step_at >= period:
                    job.step()
                    job.last_step_at += period

    def polled(self, job: Job) -> None:
        """In ``"polls"`` mode, count one retrieve and step when enough have been seen."""
        if self.settings.mode != "polls":
            return
        with self.lock:
            job.polls += 1
            if job.polls >= self.settings.polls_per_step and not job.terminal:
                job.polls = 0
                job.step()

    def advance(self, batch_id: str | None = None, steps: int = 1) -> None:
        """Move one batch (or every unfinished batch) ``steps`` lifecycle steps on.

        Raises:
            KeyError: Unknown ``batch_id``.
        """
        with self.lock:
            targets = [self.find(batch_id)] if batch_id is not None else self.jobs()
            for _ in range(steps):
                for job in targets:
                    if not job.terminal:
                        job.step()
                        job.last_step_at = time.monotonic()

    def finish(self, batch_id: str | None = None) -> None:
        """Advance one batch (or all) until it reaches a final state."""
        with self.lock:
            targets = [self.find(batch_id)] if batch_id is not None else self.jobs()
            for job in targets:
                while not job.terminal:
                    job.step()

    def expire(self, batch_id: str, finished: int = 0) -> None:
        """End a batch as expired with only its first ``finished`` requests answered.

        Raises:
            KeyError: Unknown ``batch_id``.
        """
        with self.lock:
            self.find(batch_id).expire(finished)

    # accounting --------------------------------------------------------------------------

    def count_submissions(self, custom_ids: Iterable[str]) -> None:
        """Count the requests of an accepted batch, by custom_id less lmbatch's job tag.

        lmbatch ends every id with a tag fresh for each job (``_lb`` + 10 characters); it
        is left out here, so a request sent in two jobs (paid twice) counts twice.
        """
        with self.lock:
            self.submissions.update(strip_job_tag(custom_id) for custom_id in custom_ids)

    def record_call(self, call: CallRecord) -> None:
        """Append to the call log."""
        with self.lock:
            self.calls.append(call)

    def reset(self) -> None:
        """Forget every file, batch, call, submission and fault; keep the settings."""
        with self.lock:
            for vendor in self.vendors.values():
                vendor.reset()
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir.mkdir(parents=True, exist_ok=True)
            self.calls.clear()
            self.submissions.clear()
            self.create_calls = 0
            self._batch_serial = 0
            self.faults.clear()


def _options(vendor: type[EmulatorVendor[Any]], given: dict[str, dict[str, Any]]) -> Any:
    options = given.get(vendor.name, {})
    if vendor.options_class is None:
        if options:
            raise TypeError(f"emulator vendor {vendor.name!r} takes no options: {options}")
        return None
    try:
        return vendor.options_class(**options)
    except TypeError as exc:
        raise TypeError(f"options of emulator vendor {vendor.name!r}: {exc}") from None
