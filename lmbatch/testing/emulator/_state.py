"""The emulator's shared state, its storage directory and its call accounting.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmbatch._keys import strip_job_tag
from lmbatch.testing.emulator._anthropic_jobs import AnthropicBatch
from lmbatch.testing.emulator._faults import FaultPlan
from lmbatch.testing.emulator._ids import openai_file_id
from lmbatch.testing.emulator._jobs import Job
from lmbatch.testing.emulator._openai_jobs import OpenAIBatch
from lmbatch.testing.emulator._settings import EmulatorSettings


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call the emulator answered.

    Attributes:
        method: HTTP method.
        path: URL path (no query string).
        status: HTTP status sent.
        provider: ``"openai"``, ``"anthropic"`` or ``None`` for unknown routes.
        operation: Operation name (see `EndpointFault`), ``None`` for unknown routes.
    """

    method: str
    path: str
    status: int
    provider: str | None
    operation: str | None


@dataclass
class FileRecord:
    """An OpenAI file held on disk."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    expires_at: int | None
    path: Path

    def to_json(self) -> dict[str, Any]:
        """The vendor ``File`` object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class EmulatorState:
    """Everything the emulator knows, plus the controls tests use.

    Args:
        settings: Behaviour; defaults to `EmulatorSettings()`.
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings or EmulatorSettings()
        self.lock = threading.RLock()
        self.faults = FaultPlan(
            self.lock, dict(self.settings.key_faults), list(self.settings.endpoint_faults)
        )
        self._dir = Path(tempfile.mkdtemp(prefix="lmbatch-emulator-", dir=self.settings.spill_dir))
        self._serial = 0
        self.files: dict[str, FileRecord] = {}
        self.openai_batches: dict[str, OpenAIBatch] = {}
        self.anthropic_batches: dict[str, AnthropicBatch] = {}
        self.calls: list[CallRecord] = []
        self.submissions: Counter[str] = Counter()
        self.create_calls = 0
        self._batch_serial = 0

    def batch_id(self, prefix: str, random_id: Callable[[], str]) -> str:
        """A new batch id: ``random_id()``, or ``prefix`` + a serial number."""
        if not self.settings.sequential_ids:
            return random_id()
        with self.lock:
            self._batch_serial += 1
            return f"{prefix}{self._batch_serial:06d}"

    def now(self) -> float:
        """The emulated vendor's clock (this machine's, shifted by ``clock_offset``)."""
        return time.time() + self.settings.clock_offset

    async def slow_create(self) -> None:
        """Spend half of ``create_delay`` (called before and after a batch is made)."""
        if self.settings.create_delay > 0:
            await asyncio.sleep(self.settings.create_delay / 2)

    # storage -----------------------------------------------------------------------------

    def new_path(self, suffix: str = "") -> Path:
        """A fresh file path inside the emulator's private directory."""
        with self.lock:
            self._serial += 1
            return self._dir / f"{self._serial:08d}{suffix}"

    def add_file(
        self, filename: str, path: Path, expires_at: int | None, purpose: str = "batch_output"
    ) -> str:
        """Register a file already written at ``path``; returns its new id."""
        record = FileRecord(
            id=openai_file_id(),
            filename=filename,
            purpose=purpose,
            bytes=path.stat().st_size,
            created_at=int(self.now()),
            expires_at=expires_at,
            path=path,
        )
        with self.lock:
            self.files[record.id] = record
        return record.id

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
        """Every batch of both halves."""
        with self.lock:
            return [*self.openai_batches.values(), *self.anthropic_batches.values()]

    def find(self, batch_id: str) -> Job:
        """The batch with this id in either half.

        Raises:
            KeyError: Unknown id.
        """
        with self.lock:
            job: Job | None = self.openai_batches.get(batch_id) or self.anthropic_batches.get(
                batch_id
            )
        if job is None:
            raise KeyError(batch_id)
        return job

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
            for record in self.files.values():
                record.path.unlink(missing_ok=True)
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir.mkdir(parents=True, exist_ok=True)
            self.files.clear()
            self.openai_batches.clear()
            self.anthropic_batches.clear()
            self.calls.clear()
            self.submissions.clear()
            self.create_calls = 0
            self._batch_serial = 0
            self.faults.clear()
