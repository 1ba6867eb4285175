"""Waiting for a batch, and resuming a job from the store alone (``lmbatch.wait``,
``lmbatch.resume``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch._config import (
    LMBatchConfig,
    config_file_naming_store,
    configured_settings,
    get_batch_operations,
    load_config,
    resolve_store,
)
from lmbatch._connections import options_for_job, select_recorded
from lmbatch._errors import BatchNotFoundError, LMBatchError
from lmbatch._jobs._deadline import Deadline, deadline_scope
from lmbatch._jobs._invocation import complete_job
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT, PollPolicy, Waiting
from lmbatch._jobs._resubmit_policy import (
    DEFAULT_RESUBMIT_ROUNDS,
    OutcomePolicy,
    ResubmissionRound,
)
from lmbatch._plugins import registry
from lmbatch._settings import ProviderSettings
from lmbatch._store_contract import Store, open_store

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch._outputs import LMOutput
    from lmbatch._status import BatchInfo
    from lmbatch._store import JobRecord

__all__ = ["find_recorded_job", "open_job_store", "operations_for_job", "resume", "wait"]


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
    poll: PollPolicy | None = None,
) -> BatchInfo:
    """Poll a batch or job until it ends, with backoff; return its final info.

    The waiting half of :meth:`BatchOperations.invoke`, for callers that created the
    batch themselves. Transient errors retry the poll; nothing is ever resubmitted.
    A job (or a one-batch job's batch id) ends when its latest round does: waiting for
    it after :func:`lmbatch.retry` covers the retry round.

    Args:
        timeout: Most seconds to wait (default 48 h; None: no limit); it holds even
            while one status check hangs.
        poll: How often to check (a :class:`PollPolicy`), instead of
            ``status_check_interval``, ``max_status_check_interval`` and
            ``max_iterations``.

    Raises:
        BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached.
        BatchOverdueError: The batch ran well past the vendor's completion window.
    """
    waiting = Waiting.of(
        status_check_interval=status_check_interval,
        max_status_check_interval=max_status_check_interval,
        max_iterations=max_iterations,
        poll=poll,
        timeout=timeout,
        cancel_on_timeout=cancel_on_timeout,
        on_progress=on_progress,
    )
    return await operations._jobs.wait(batch_id, waiting)


async def resume(
    job_id: str,
    *,
    store: Store | str | os.PathLike[str] | None = None,
    status_check_interval: float = 30.0,
    max_status_check_interval: float = 300.0,
    max_iterations: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    on_progress: Callable[[BatchInfo], None] | None = None,
    resubmit: int = DEFAULT_RESUBMIT_ROUNDS,
    poll: PollPolicy | None = None,
    on_resubmit: Callable[[ResubmissionRound], None] | None = None,
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
        poll: How often to check (a :class:`PollPolicy`), instead of
            ``status_check_interval``, ``max_status_check_interval`` and
            ``max_iterations``.
        on_resubmit: Called before each resubmission round is sent, with a
            :class:`ResubmissionRound` (its number, job id, how many requests and why),
            as in :meth:`BatchOperations.invoke`.
        **options: Provider options (e.g. ``api_key``), on top of the connection options
            the job was created with (``base_url``...), which are used unless given here.

    Raises:
        BatchNotFoundError: The store knows no such job.
        BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached.
        EndpointMismatchError: ``options`` name another endpoint than the job's.
        AmbiguousBatchError: ``job_id`` is a batch id recorded on several endpoints.
    """
    waiting = Waiting.of(
        status_check_interval=status_check_interval,
        max_status_check_interval=max_status_check_interval,
        max_iterations=max_iterations,
        poll=poll,
        timeout=timeout,
        on_progress=on_progress,
    )
    deadline = Deadline.after(timeout, job_id) if timeout is not None else None
    job_store = open_job_store(store)
    operations, job = operations_for_job(job_id, job_store, options, store_named_by=store)
    async with operations:
        with deadline_scope(deadline):
            return await complete_job(
                operations._jobs,
                job,
                waiting,
                resubmit,
                outcomes=OutcomePolicy(on_resubmit=on_resubmit),
            )


def open_job_store(store: Store | str | os.PathLike[str] | None) -> Store:
    """The job store ``store`` names (an open one as it is), by the one rule of
    :func:`lmbatch._config.resolve_store`."""
    if isinstance(store, Store):
        return store
    return open_store(resolve_store(store))


def operations_for_job(
    job_id: str, store: Store, options: dict[str, Any], *, store_named_by: object = None
) -> tuple[BatchOperations, JobRecord]:
    """Provider operations for a recorded job (its provider, model and connection
    options under ``options``) and the job, as :func:`lmbatch.resume` and
    :func:`lmbatch.retry` make them.

    Args:
        store_named_by: What the caller passed as the store (a config file that chose
            it cannot choose the job's endpoint; see :func:`options_for_job`).

    Raises:
        BatchNotFoundError: The store knows no such job.
    """
    job = find_recorded_job(store, job_id, options=options)
    if job is None:
        raise BatchNotFoundError(f"the job store at {store.path} knows no job {job_id!r}")
    if job.model is not None:
        options.setdefault("model", job.model)
    options = options_for_job(
        job,
        options,
        registry.get(job.provider).settings_class,
        store_named_by=config_file_naming_store(store_named_by),
    )
    return get_batch_operations(job.provider, store=store, **options), job


def find_recorded_job(
    job_store: Store,
    batch_id: str,
    *,
    provider: str | None = None,
    options: dict[str, Any] | None = None,
    config: LMBatchConfig | None = None,
) -> JobRecord | None:
    """The job that a job id, or a bare vendor batch id, names in the store (or None).

    A batch id is looked up on every endpoint (of ``provider``, when given). One match
    is taken; several are told apart by the endpoint that ``options`` (explicit, such as
    ``-O base_url=...``) or else the configuration and environment name.

    Raises:
        EndpointMismatchError: ``options`` name an endpoint holding no such batch, while
            others do.
        AmbiguousBatchError: Several batches match and nothing picks one.
    """
    job = job_store.get_job(batch_id)
    if job is not None:
        return job if provider is None or job.provider == provider else None
    matches = job_store.find_batches(batch_id, provider=provider)
    if not matches:
        return None
    given = dict(options or {})

    def settings_class(name: str) -> type[ProviderSettings] | None:
        try:
            return registry.get(name).settings_class
        except LMBatchError:
            return None

    classes = {job.provider: settings_class(job.provider) for job, _ in matches}
    explicit = any(
        name in given and marker.identity
        for cls in classes.values()
        if cls is not None
        for name, marker in cls.connection_options().items()
    )
    loaded = config

    def endpoint_of(job: JobRecord) -> str | None:
        nonlocal loaded
        cls = classes[job.provider]
        if cls is None:
            return None
        chosen = {k: v for k, v in given.items() if k in cls.connection_options()}
        if explicit:
            return cls.endpoint_identity({**(job.connection or {}), **chosen})
        loaded = loaded if loaded is not None else load_config()
        try:
            settings = configured_settings(job.provider, loaded, **chosen)
        except LMBatchError:
            return None
        return cls.endpoint_identity(settings.connection_values())

    found = select_recorded(
        batch_id, matches, endpoint_of=endpoint_of, classes=settings_class, explicit=explicit
    )
    return found[0] if found is not None else None
