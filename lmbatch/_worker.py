"""The worker: drives every job handed to the workers to completion (``lmbatch worker``).

A worker takes queued jobs from the store by lease (:mod:`lmbatch._store_work`), up to
``concurrency`` at a time, and runs each through the same rounds as ``invoke``
(:func:`lmbatch._jobs._invocation.iter_complete_job`: submit the chunks not yet
submitted, reconcile uncertain creates, poll through the shared waiting code, read the
results, resubmit per the job's policy, clean up), keeping every final outcome in the
store (``job_results``). The provider of each job is built from what the store recorded
(its provider name and non-secret connection options); keys come from the worker's
environment.

Several workers share the work through the database alone. A job is driven by the one
worker holding its lease; within a job, chunk claims (``planned → submitting``) make
each create call one worker's. A heartbeat renews the worker's leases every third of
the lease; a worker that stops renewing (killed, frozen, cut off from the database)
loses its jobs to others once its lease expires, and its chunks left *submitting* are
reconciled with the vendor by the worker that takes over, never sent blindly again.

Shutdown (SIGTERM, SIGINT, or the ``stop`` event): no new job is taken and no new chunk
claimed; create calls in progress finish and are recorded; then the jobs are put back in
the queue for the next worker, and the worker exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lmbatch._errors import ConfigError, LMBatchError, StoreError, ValidationError
from lmbatch._jobs._claims import ClaimGate, ClaimsClosedError, claim_gate, in_flight, owner_id
from lmbatch._jobs._poll_policy import PollPolicy, Waiting
from lmbatch._worker_queue import family_size

if TYPE_CHECKING:
    from lmbatch._store_contract import Store

__all__ = ["WorkerEvent", "WorkerOptions", "WorkerReport", "run", "serve"]

logger = logging.getLogger("lmbatch.worker")

#: Outcomes written to the store per transaction while a job's results are read.
_SAVE_PAGE = 1000


@dataclass(frozen=True)
class WorkerOptions:
    """How a worker runs (see :func:`lmbatch.worker.run` for each option)."""

    store: Store | str | os.PathLike[str] | None = None
    concurrency: int = 4
    poll_interval: float = 30.0
    lease_seconds: float = 60.0
    once: bool = False
    job_ids: tuple[str, ...] | None = None
    provider: str | None = None
    max_failures: int = 5
    retry_delay: float = 60.0
    provider_options: dict[str, Any] = field(default_factory=dict)
    trust_store_endpoints: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValidationError(f"concurrency must be at least 1, not {self.concurrency}")
        if not self.lease_seconds > 0:
            raise ValidationError(f"the lease must be positive, not {self.lease_seconds} s")
        if self.poll_interval < 0:
            raise ValidationError(f"poll_interval must be >= 0, not {self.poll_interval}")


@dataclass(frozen=True)
class WorkerEvent:
    """One thing a worker did, as logged (and printed by ``lmbatch worker``).

    Attributes:
        event: ``started``, ``claimed``, ``finished``, ``failed``, ``retrying``,
            ``lease_lost``, ``released``, ``store_unavailable``, ``stopping``,
            ``stopped``.
        worker: The worker's id (``host:pid``).
        job_id: The job concerned, if any.
        details: More facts (outcome counts, the error...).
    """

    event: str
    worker: str
    job_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        """The event as one JSON object (a ``--json`` log line)."""
        when = datetime.fromtimestamp(self.at, tz=UTC).isoformat(timespec="milliseconds")
        data: dict[str, Any] = {"at": when, "event": self.event, "worker": self.worker}
        if self.job_id is not None:
            data["job"] = self.job_id
        data.update(self.details)
        return data

    def as_text(self) -> str:
        """The event as one ``key=value`` log line."""
        parts = [f"{key}={_text(value)}" for key, value in self.as_json().items()]
        return " ".join(parts)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(text) if (" " in text or not text) else text


@dataclass
class WorkerReport:
    """What a worker did before it stopped."""

    worker: str
    finished: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Jobs it gave back (shutdown, lease lost, or a failure to be retried).
    released: list[str] = field(default_factory=list)
    outcomes: int = 0


class _Worker:
    def __init__(
        self,
        options: WorkerOptions,
        store: Store,
        stop: asyncio.Event,
        on_event: Callable[[WorkerEvent], None] | None,
    ) -> None:
        self.options = options
        self.store = store
        self.stop = stop
        self.on_event = on_event
        self.owner = owner_id()
        self.report = WorkerReport(self.owner)
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.lost: set[str] = set()
        self.claimed_at: dict[str, float] = {}
        #: Each job's claim gate: closed when the worker stops or loses the job's lease.
        self.gates: dict[str, ClaimGate] = {}
        self.wake = asyncio.Event()

    def emit(self, event: str, job_id: str | None = None, **details: Any) -> None:
        record = WorkerEvent(event, self.owner, job_id, details)
        logger.info("%s", record.as_text())
        if self.on_event is not None:
            self.on_event(record)

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> WorkerReport:
        options = self.options
        self.store.register_worker(self.owner, options.lease_seconds, self._info())
        self.emit(
            "started",
            store=self.store.path,
            concurrency=options.concurrency,
            lease_seconds=options.lease_seconds,
        )
        heartbeat = _Heartbeat(self, asyncio.get_running_loop())
        heartbeat.start()
        try:
            while not self.stop.is_set():
                try:
                    self._take_jobs()
                    if options.once and not self.tasks and not self._open_work():
                        break
                except StoreError as exc:
                    # The database is away for a moment (a failover, a restart): jobs
                    # in hand go on, and the queue is looked at again after a pause.
                    self.emit("store_unavailable", error=str(exc))
                self.wake.clear()
                waits = [
                    asyncio.create_task(self.stop.wait()),
                    asyncio.create_task(self.wake.wait()),
                ]
                await asyncio.wait(
                    waits, timeout=self._idle_pause(), return_when=asyncio.FIRST_COMPLETED
                )
                for waiting in waits:
                    waiting.cancel()
        finally:
            self.emit("stopping", running=sorted(self.tasks))
            await self._shut_down()
            heartbeat.stop()
            self.store.retire_worker(self.owner)
            self.emit(
                "stopped",
                finished=len(self.report.finished),
                failed=len(self.report.failed),
                released=len(self.report.released),
            )
        return self.report

    def _info(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}

    def _idle_pause(self) -> float:
        """How long to wait before looking for work again."""
        return max(0.05, min(self.options.poll_interval, self.options.lease_seconds / 3))

    def _open_work(self) -> bool:
        """Whether any open job this worker may take is still queued (held by anyone)."""
        return bool(
            self.store.queued_jobs(provider=self.options.provider, job_ids=self.options.job_ids)
        )

    def _take_jobs(self) -> None:
        options = self.options
        while len(self.tasks) < options.concurrency and not self.stop.is_set():
            job_id = self.store.claim_queued_job(
                self.owner,
                options.lease_seconds,
                provider=options.provider,
                job_ids=options.job_ids,
                skip=list(self.tasks),
            )
            if job_id is None:
                return
            queued = self.store.queued_job(job_id)
            self.emit("claimed", job_id, claims=queued.claims if queued else None)
            self.claimed_at[job_id] = time.monotonic()
            # The job's task runs with its own claim gate, closed to stop its claims.
            gate = self.gates[job_id] = ClaimGate()
            context = contextvars.copy_context()
            context.run(claim_gate.set, gate)
            task = asyncio.create_task(
                self._drive(job_id), name=f"lmbatch-worker {job_id}", context=context
            )
            self.tasks[job_id] = task
            task.add_done_callback(functools.partial(self._done, job_id))

    def _done(self, job_id: str, _: asyncio.Task[None]) -> None:
        self.tasks.pop(job_id, None)
        self.claimed_at.pop(job_id, None)
        self.gates.pop(job_id, None)
        self.wake.set()

    def lose(self, held: set[str], asked: float) -> None:
        """Stop driving the jobs whose lease another worker took (in the loop's thread).

        Args:
            held: The jobs the store says are still ours.
            asked: When the store was asked (``time.monotonic()``): a job taken since
                is ours whatever ``held`` says.
        """
        for job_id, task in list(self.tasks.items()):
            if self.claimed_at.get(job_id, asked) > asked or job_id in held or task.done():
                continue
            if job_id not in self.lost:
                self.lost.add(job_id)
                self.emit("lease_lost", job_id)
                self.gates[job_id].close()
            # A create call in progress runs to its end and is recorded (cut short, its
            # chunk would be uncertain, and the new holder would wait for this live
            # worker); the job is given up at the next heartbeat with none running.
            if not self._creating(job_id):
                task.cancel()

    def _creating(self, job_id: str) -> bool:
        """Whether this process has a create call of the job (any round) in progress."""
        if not in_flight:
            return False
        family = {job_id}
        current = job_id
        while children := self.store.child_jobs(current):
            current = children[0].job_id
            family.add(current)
        return any(owner_job in family for owner_job, _ in in_flight)

    async def _shut_down(self) -> None:
        """Finish the create calls in progress, then stop and release every job."""
        for gate in self.gates.values():
            gate.close()
        while self.tasks and in_flight:  # noqa: ASYNC110 - in_flight is a plain set
            # Creates in progress run to their end (their chunks would otherwise be left
            # uncertain); the gate stops new ones, so this ends.
            await asyncio.sleep(0.05)
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job -----------------------------------------------------------------------

    async def _drive(self, job_id: str) -> None:
        try:
            summary = await self._complete(job_id)
        except (asyncio.CancelledError, ClaimsClosedError):
            if job_id not in self.lost:
                self.store.release_queued_job(job_id, self.owner)
                self.report.released.append(job_id)
                self.emit("released", job_id)
            return
        except Exception as exc:
            self._failed(job_id, exc)
            return
        if self.store.finish_queued_job(job_id, self.owner, summary):
            self.report.finished.append(job_id)
            self.report.outcomes += int(summary["outcomes"])
            self.emit("finished", job_id, **{k: v for k, v in summary.items() if k != "state"})
        else:
            self.emit("lease_lost", job_id)

    def _failed(self, job_id: str, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        queued = self.store.queued_job(job_id)
        failures = (queued.failures if queued is not None else 0) + 1
        if failures >= self.options.max_failures:
            summary = {"state": "failed", "error": message, "failures": failures}
            if self.store.finish_queued_job(job_id, self.owner, summary):
                self.report.failed.append(job_id)
                self.emit("failed", job_id, error=message, failures=failures)
            return
        self.store.release_queued_job(
            job_id, self.owner, retry_after=self.options.retry_delay, error=message
        )
        self.report.released.append(job_id)
        self.emit(
            "retrying",
            job_id,
            error=message,
            failures=failures,
            retry_in=self.options.retry_delay,
        )

    async def _complete(self, job_id: str) -> dict[str, Any]:
        """Run the job's rounds to the end, keeping each final outcome in the store."""
        from lmbatch._config import config_file_naming_store, get_batch_operations
        from lmbatch._connections import options_for_job, recorded_foreign_endpoint
        from lmbatch._jobs._invocation import iter_complete_job
        from lmbatch._jobs._resubmit_policy import OutcomePolicy
        from lmbatch._plugins import registry

        store = self.store
        job = store.get_job(job_id)
        queued = store.queued_job(job_id)
        if job is None or queued is None:
            raise LMBatchError(f"job {job_id} is queued in {store.path} but not recorded there")
        settings = queued.settings
        options = dict(self.options.provider_options)
        if job.model is not None:
            options.setdefault("model", job.model)
        settings_class = registry.get(job.provider).settings_class
        if not self.options.trust_store_endpoints:
            # Whoever can record a job in a shared store is not whoever runs this
            # worker: a job's recorded server gets this machine's API key only when the
            # worker's operator named it (or trusts the store's endpoints).
            foreign = recorded_foreign_endpoint(job, options, settings_class)
            if foreign is not None:
                name, value = foreign
                raise ConfigError(
                    f"job {job_id} was recorded with {name}={value}, not {job.provider}'s "
                    "own endpoint; this worker sends its API key only where its operator "
                    f"says: run it with -O {name}={value} (or {name}={value!r} in "
                    "lmbatch.worker.run), or --trust-store-endpoints if every writer of "
                    "the store is trusted"
                )
        options = options_for_job(
            job,
            options,
            settings_class,
            store_named_by=config_file_naming_store(self.options.store),
        )
        operations = get_batch_operations(job.provider, store=store, **options)
        operations.check_ready()  # a missing key fails here, before any chunk is claimed
        interval = self.options.poll_interval
        waiting = Waiting(poll=PollPolicy(interval=interval, max_interval=interval, backoff=1))
        outcomes = OutcomePolicy.of(
            settings.get("retry_on", ()), settings.get("treat_as_error", ()), None
        )
        page: list[tuple[str, str]] = []
        counts = {"outcomes": 0, "ok": 0}
        async with operations:
            pairs = iter_complete_job(
                operations._jobs, job, waiting, int(settings.get("resubmit", 0)), outcomes=outcomes
            )
            async for key, output in pairs:
                page.append((key, output.model_dump_json()))
                counts["outcomes"] += 1
                counts["ok"] += output.ok
                if len(page) >= _SAVE_PAGE:
                    store.save_results(job_id, page)
                    page.clear()
            store.save_results(job_id, page)
        # How many rounds the kept outcomes cover: a later round (lmbatch retry) makes
        # them stale, and readers then ask the vendor instead (saved_outcomes).
        rounds = family_size(store, job_id)
        return {
            "state": "done",
            **counts,
            "failed": counts["outcomes"] - counts["ok"],
            "rounds": rounds,
        }


class _Heartbeat(threading.Thread):
    """Renews the worker's leases every third of a lease, from its own thread.

    Not a task of the event loop: a loop busy with a long synchronous step (a big chunk
    spooled, a page of results written) must not let the leases lapse meanwhile.
    """

    def __init__(self, worker: _Worker, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name=f"lmbatch-worker-heartbeat {worker.owner}", daemon=True)
        self.worker = worker
        self.loop = loop
        self.stopped = threading.Event()

    def run(self) -> None:
        worker = self.worker
        lease = worker.options.lease_seconds
        while not self.stopped.wait(lease / 3):
            asked = time.monotonic()
            try:
                held = set(worker.store.renew_claims(worker.owner, lease))
            except LMBatchError as exc:
                logger.warning("worker %s: heartbeat failed: %s", worker.owner, exc)
                continue
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(worker.lose, held, asked)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


async def serve(
    options: WorkerOptions,
    *,
    stop: asyncio.Event | None = None,
    on_event: Callable[[WorkerEvent], None] | None = None,
) -> WorkerReport:
    """Run a worker in the running event loop until ``stop`` is set (or, with
    ``options.once``, until no open work is left); see :func:`lmbatch.worker.run`."""
    from lmbatch._jobs._resume import open_job_store
    from lmbatch._store_contract import Store

    store = open_job_store(options.store)
    owned = not isinstance(options.store, Store)
    worker = _Worker(options, store, stop or asyncio.Event(), on_event)
    try:
        return await worker.run()
    finally:
        if owned:
            store.close()


def run(
    options: WorkerOptions, *, on_event: Callable[[WorkerEvent], None] | None = None
) -> WorkerReport:
    """Run a worker in a new event loop; SIGTERM and SIGINT stop it cleanly."""

    async def main() -> WorkerReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
        try:
            return await serve(options, stop=stop, on_event=on_event)
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    return asyncio.run(main())
