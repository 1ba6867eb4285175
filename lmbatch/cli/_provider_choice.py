"""Which provider and job store a command talks to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lmbatch._config import get_batch_operations, load_config
from lmbatch._operations import BatchOperations
from lmbatch._store import JobRecord, JobStore
from lmbatch._store_location import STORE_ENV, resolve_store
from lmbatch.cli._errors import CLIError
from lmbatch.cli._generation import parse_assignments

__all__ = ["operations_for", "store_path"]


def store_path(store: str | None) -> str:
    """The job store file: ``--store``, then ``$LMBATCH_STORE``, config, default."""
    if store or os.environ.get(STORE_ENV):
        return resolve_store(store, source="--store")
    return resolve_store(None, config_store=load_config().store)


def _recorded_job(batch_id: str, store: str) -> JobRecord | None:
    if store != ":memory:" and not Path(store).is_file():
        return None
    job_store = JobStore(store)
    try:
        job = job_store.get_job(batch_id)
        if job is not None:
            return job
        found = job_store.find_batch(batch_id)
        return found[0] if found is not None else None
    finally:
        job_store.close()


def operations_for(
    *,
    provider: str | None,
    model: str | None = None,
    options: list[str] | None = None,
    store: str | None = None,
    batch_id: str | None = None,
) -> BatchOperations:
    """Build the provider's :class:`BatchOperations` from the command-line options.

    With ``batch_id`` and no ``--provider``, the job store tells which provider (and
    model) created the batch.

    Raises:
        CLIError: An option is malformed, or no provider can be chosen for ``batch_id``.
        ConfigError: The provider or an option is unknown or invalid.
    """
    settings: dict[str, Any] = parse_assignments(options, "--option")
    for reserved in ("model", "store"):
        if reserved in settings:
            raise CLIError(f"--option {reserved}=...: use --{reserved} instead")
    chosen_store = store_path(store)
    if batch_id is not None and provider is None:
        job = _recorded_job(batch_id, chosen_store)
        if job is not None:
            provider = job.provider
            if model is None and job.model is not None:
                model = job.model
        elif not (os.environ.get("LMBATCH_PROVIDER") or load_config().provider):
            raise CLIError(
                f"unknown batch id {batch_id!r}: it is not in the job store "
                f"({chosen_store}); pass --provider to ask a provider directly"
            )
    if model is not None:
        settings["model"] = model
    return get_batch_operations(provider, store=chosen_store, **settings)
