"""Which provider and job store a command talks to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lmbatch._config import (
    config_file_naming_store,
    get_batch_operations,
    load_config,
    resolve_store,
)
from lmbatch._connections import options_for_job
from lmbatch._jobs._resume import find_recorded_job
from lmbatch._operations import BatchOperations
from lmbatch._plugins import registry
from lmbatch._store import JobRecord
from lmbatch._store_contract import is_database_url, open_store
from lmbatch.cli._errors import CLIError
from lmbatch.cli._generation import parse_assignments

__all__ = ["operations_for", "store_path"]


def store_path(store: str | None) -> str:
    """The job store (file or URL): ``--store``, then ``$LMBATCH_STORE``, config, default."""
    return resolve_store(store, source="--store")


def _recorded_job(
    batch_id: str, store: str, provider: str | None, options: dict[str, Any]
) -> JobRecord | None:
    if store != ":memory:" and not is_database_url(store) and not Path(store).is_file():
        return None
    job_store = open_store(store)
    try:
        return find_recorded_job(job_store, batch_id, provider=provider, options=options)
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

    With ``batch_id``, the job store tells which provider (unless ``--provider``), model
    and connection options (``base_url``...) created the batch; those are used unless
    given with ``-O`` (a differing one is warned about, or refused when it names another
    endpoint: see :mod:`lmbatch._connections`).

    Raises:
        CLIError: An option is malformed, or no provider can be chosen for ``batch_id``.
        ConfigError: The provider or an option is unknown or invalid.
    """
    settings: dict[str, Any] = parse_assignments(options, "--option")
    for reserved in ("model", "store"):
        if reserved in settings:
            raise CLIError(f"--option {reserved}=...: use --{reserved} instead")
    chosen_store = store_path(store)
    if batch_id is not None:
        job = _recorded_job(batch_id, chosen_store, provider, settings)
        if job is not None:
            provider = job.provider
            if model is None and job.model is not None:
                model = job.model
            settings = options_for_job(
                job,
                settings,
                registry.get(provider).settings_class,
                store_named_by=config_file_naming_store(store),
            )
        elif provider is None and not (
            os.environ.get("LMBATCH_PROVIDER") or load_config().provider
        ):
            raise CLIError(
                f"unknown batch id {batch_id!r}: it is not in the job store "
                f"({chosen_store}); pass --provider to ask a provider directly"
            )
    if model is not None:
        settings["model"] = model
    return get_batch_operations(provider, store=chosen_store, **settings)
