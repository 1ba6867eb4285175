"""Workers: drive the jobs handed to them, from any number of machines sharing a store.

A job recorded with ``lmbatch submit --detach`` (or ``create(..., detach=True)``) waits
in the job store's queue; workers (``lmbatch worker``, or :func:`run` here) submit it,
poll it, read its results into the store, resubmit what is worth it and clean up, so
``lmbatch results JOB`` works from any machine once it is done. Point every worker at
one PostgreSQL store (``LMBATCH_STORE=postgresql://...``) to share the work; each vendor
call is made by exactly one of them, and a worker that dies loses its jobs to the others
once its lease expires. See the docs page "Running on many machines".

Example::

    import lmbatch.worker

    report = lmbatch.worker.run(store="postgresql://lmbatch@db/lmbatch", once=True)
    print(report.finished)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lmbatch._worker import WorkerEvent, WorkerOptions, WorkerReport
from lmbatch._worker import run as _run
from lmbatch._worker import serve as _serve
from lmbatch._worker_queue import queue_for_workers

if TYPE_CHECKING:
    from lmbatch._store_contract import Store

__all__ = ["WorkerEvent", "WorkerReport", "queue_for_workers", "run", "serve"]


def _options(
    store: Store | str | os.PathLike[str] | None,
    concurrency: int,
    poll_interval: float,
    lease_seconds: float,
    once: bool,
    job_ids: Iterable[str] | None,
    provider: str | None,
    max_failures: int,
    retry_delay: float,
    trust_store_endpoints: bool,
    provider_options: dict[str, Any],
) -> WorkerOptions:
    return WorkerOptions(
        store=store,
        concurrency=concurrency,
        poll_interval=poll_interval,
        lease_seconds=lease_seconds,
        once=once,
        job_ids=tuple(job_ids) if job_ids is not None else None,
        provider=provider,
        max_failures=max_failures,
        retry_delay=retry_delay,
        trust_store_endpoints=trust_store_endpoints,
        provider_options=provider_options,
    )


def run(
    *,
    store: Store | str | os.PathLike[str] | None = None,
    concurrency: int = 4,
    poll_interval: float = 30.0,
    lease_seconds: float = 60.0,
    once: bool = False,
    job_ids: Iterable[str] | None = None,
    provider: str | None = None,
    max_failures: int = 5,
    retry_delay: float = 60.0,
    trust_store_endpoints: bool = False,
    on_event: Callable[[WorkerEvent], None] | None = None,
    **provider_options: Any,
) -> WorkerReport:
    """Run a worker until SIGTERM or SIGINT (or, with ``once``, until no work is left).

    Blocks, in a new event loop (from async code use :func:`serve`). On SIGTERM/SIGINT
    it takes no new job and claims no new chunk, lets create calls in progress finish
    and be recorded, puts its jobs back in the queue, and returns.

    Args:
        store: The job store (default: ``$LMBATCH_STORE``, config, user data dir).
        concurrency: Most jobs driven at the same time.
        poll_interval: Seconds between status checks of a running job, and between
            looks at the queue when idle.
        lease_seconds: How long a job stays this worker's without a heartbeat (renewed
            every third of it); a killed worker's jobs are taken over after this.
        once: Return once no open job is left in the queue (cron, tests).
        job_ids: Only these jobs.
        provider: Only jobs of this provider.
        max_failures: A job that fails this many times is marked failed.
        retry_delay: Seconds before a failed job may be taken again.
        trust_store_endpoints: Send requests (and this machine's API keys) to the server
            a job was recorded with even when it is not the vendor's own endpoint and
            not given in ``provider_options``. Off: such a job is refused (and left for
            a worker that is allowed), since whoever can write to a shared store could
            otherwise direct this worker's keys to a host of their choosing.
        on_event: Called with each :class:`WorkerEvent` (also logged on the
            ``lmbatch.worker`` logger).
        **provider_options: Provider options for every job (keys come from the
            environment as usual), on top of each job's recorded connection options.

    Raises:
        StoreError: The store cannot be opened or used.
        ValidationError: An option is out of range.
    """
    options = _options(
        store,
        concurrency,
        poll_interval,
        lease_seconds,
        once,
        job_ids,
        provider,
        max_failures,
        retry_delay,
        trust_store_endpoints,
        provider_options,
    )
    return _run(options, on_event=on_event)


async def serve(
    *,
    stop: asyncio.Event | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    concurrency: int = 4,
    poll_interval: float = 30.0,
    lease_seconds: float = 60.0,
    once: bool = False,
    job_ids: Iterable[str] | None = None,
    provider: str | None = None,
    max_failures: int = 5,
    retry_delay: float = 60.0,
    trust_store_endpoints: bool = False,
    on_event: Callable[[WorkerEvent], None] | None = None,
    **provider_options: Any,
) -> WorkerReport:
    """:func:`run` in the running event loop; it stops cleanly when ``stop`` is set."""
    options = _options(
        store,
        concurrency,
        poll_interval,
        lease_seconds,
        once,
        job_ids,
        provider,
        max_failures,
        retry_delay,
        trust_store_endpoints,
        provider_options,
    )
    return await _serve(options, stop=stop, on_event=on_event)
