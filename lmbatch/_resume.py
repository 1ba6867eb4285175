"""Waiting for a batch, and resuming a job from the store alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from lmbatch._config import get_batch_operations, load_config
from lmbatch._deadline import Deadline, deadline_scope
from lmbatch._errors import BatchNotFoundError
from lmbatch._operations import (
    DEFAULT_RESUBMIT_ROUNDS,
    DEFAULT_TIMEOUT,
    BatchOperations,
    _WaitOptions,
)
from lmbatch._outputs import LMOutput
from lmbatch._status import BatchInfo
from lmbatch._store import JobStore
from lmbatch._store_location import STORE_ENV, resolve_store

__all__ = ["resume", "wait"]


async def wait(
    operations: BatchOperations,
    batch_id: str,
    *,
    status_check_interval: float = 30.0,
    max_status_check_interval: float = 300.0,
    max_iterations: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    cancel_on_timeout: bool = False,
    on_progress: Callable[[BatchInfo], None] | None = None,
) -> BatchInfo:
    """Poll a batch or job until it ends, with backoff; return its final info.

    The waiting half of :meth:`BatchOperations.invoke`, for callers that created the
    batch themselves. Transient errors retry the poll; nothing is ever resubmitted.

    Args:
        timeout: Most seconds to wait (default 48 h; None: no limit); it holds even
            while one status check hangs.

    Raises:
        BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached.
        BatchOverdueError: The batch ran well past the vendor's completion window.
    """
    options = _WaitOptions(
        interval=status_check_interval,
        max_interval=max_status_check_interval,
        max_iterations=max_iterations,
        timeout=timeout,
        cancel_on_timeout=cancel_on_timeout,
        on_progress=on_progress,
    )
    return await operations._wait(batch_id, options)


async def resume(
    job_id: str,
    *,
    store: JobStore | str | os.PathLike[str] | None = None,
    status_check_interval: float = 30.0,
    max_status_check_interval: float = 300.0,
    max_iterations: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_progress: Callable[[BatchInfo], None] | None = None,
    resubmit: int = DEFAULT_RESUBMIT_ROUNDS,
    **options: Any,
) -> dict[str, LMOutput]:
    """Continue a job from the job store alone, and return its results.

    Submits the chunks that were never submitted (their encoded input waits in the
    store's spool), reconciles those whose create call may or may not have reached the
    vendor, waits, collects, and resubmits what is worth it, exactly as the interrupted
    ``invoke`` would have.

    Args:
        job_id: An lmbatch job id, or a vendor batch id the store knows.
        store: The job store (default: ``$LMBATCH_STORE``, config, user data dir).
        timeout: Most seconds to spend waiting and reading results, as in
            :meth:`BatchOperations.invoke` (default 48 h; None: no limit).
        **options: Provider options (e.g. ``api_key``), on top of the configuration.

    Raises:
        BatchNotFoundError: The store knows no such job.
        BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached.
    """
    deadline = Deadline.after(timeout, job_id) if timeout is not None else None
    job_store = _open_store(store)
    job = job_store.get_job(job_id)
    if job is None:
        found = job_store.find_batch(job_id)
        job = found[0] if found is not None else None
    if job is None:
        raise BatchNotFoundError(f"the job store at {job_store.path} knows no job {job_id!r}")
    if job.model is not None:
        options.setdefault("model", job.model)
    operations = get_batch_operations(job.provider, store=job_store, **options)
    waiting = _WaitOptions(
        interval=status_check_interval,
        max_interval=max_status_check_interval,
        max_iterations=max_iterations,
        timeout=timeout,
        on_progress=on_progress,
    )
    async with operations:
        with deadline_scope(deadline):
            return await operations._complete_job(job, waiting, resubmit)


def _open_store(store: JobStore | str | os.PathLike[str] | None) -> JobStore:
    if isinstance(store, JobStore):
        return store
    if store or os.environ.get(STORE_ENV):
        return JobStore(resolve_store(store))
    return JobStore(resolve_store(None, config_store=load_config().store))
