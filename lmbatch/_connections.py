"""Which endpoint a job's batches live on, and which options later commands on it use.

Vendor batch ids are only unique per endpoint: two OpenAI-compatible servers may both
hand out ``batch_000001``. The job store therefore records, with every job, the
non-secret connection options it was created with (settings fields marked
:class:`~lmbatch.ConnectionOption`) and their *endpoint identity*, and identifies a batch
by (provider, endpoint identity, vendor id).

Rules for a later command on a job or batch:

* Its recorded connection options are used; an option given explicitly (``-O`` on the
  command line, a keyword of :func:`lmbatch.resume`) wins. A winning option that differs
  from the recorded one is logged as a warning, unless it changes the endpoint identity:
  then it would read another endpoint's batch of the same id, and
  :class:`EndpointMismatchError` is raised instead.
* A :class:`BatchOperations` object's own options are explicit: asking it about a batch
  recorded only on another endpoint raises :class:`EndpointMismatchError`.
* A bare id recorded on several endpoints (or providers), with nothing to pick one, is an
  :class:`AmbiguousBatchError` listing them, never a guess.
* Jobs recorded before lmbatch kept connection options (``connection`` None, migrated
  stores) are taken to live on the endpoint of the options in use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lmbatch._errors import AmbiguousBatchError, ConfigError, EndpointMismatchError
from lmbatch._settings import ProviderSettings, normalise_connection_value
from lmbatch._store import JobRecord

__all__ = [
    "ambiguous_batch",
    "describe_endpoint",
    "endpoint_mismatch",
    "options_for_job",
    "recorded_foreign_endpoint",
    "select_recorded",
]

logger = logging.getLogger("lmbatch")

#: Set to 1 to let config files choose endpoints (``base_url``) and stores that do.
TRUST_CONFIG_ENV = "LMBATCH_TRUST_CONFIG"

#: A batch as the store records it: the job and the chunk index (None: the whole job).
Match = tuple[JobRecord, int | None]


def describe_endpoint(provider: str, endpoint: str) -> str:
    """Words for an endpoint identity, e.g. ``openai at base_url=http://127.0.0.1:8089/v1``."""
    return f"{provider} at {endpoint}" if endpoint else f"{provider} at its default endpoint"


def _pick_hint(job: JobRecord, settings_class: type[ProviderSettings] | None) -> str:
    """The options that name the endpoint of ``job`` (as ``-O`` assignments)."""
    recorded = job.connection or {}
    markers = settings_class.connection_options() if settings_class is not None else {}
    names = [name for name, marker in markers.items() if marker.identity and name in recorded]
    picks = [f"-O {name}={recorded[name]}" for name in names]
    return " ".join([f"--provider {job.provider}", *picks])


def _listing(
    matches: Sequence[Match], classes: Callable[[str], type[ProviderSettings] | None]
) -> str:
    return "; ".join(
        f"{describe_endpoint(job.provider, job.endpoint)} (job {job.job_id}: "
        f"{_pick_hint(job, classes(job.provider))})"
        for job, _ in matches
    )


def endpoint_mismatch(
    batch_id: str,
    matches: Sequence[Match],
    provider: str,
    current: str,
    settings_class: type[ProviderSettings] | None,
) -> EndpointMismatchError:
    """The error for options naming another endpoint than the recorded ones."""
    where = _listing(matches, lambda _: settings_class)
    return EndpointMismatchError(
        f"{batch_id} is recorded in the job store on another endpoint: {where}; the options "
        f"in use name {describe_endpoint(provider, current)}. Batch ids are only unique per "
        "endpoint, so reading it there would read another batch. Use the options it was "
        "created with (on the command line, leave out -O base_url=... and the recorded "
        "options are used; lmbatch.resume() does the same; in code, build the operations "
        "with them)",
        batch_id=batch_id,
        recorded=[job.endpoint for job, _ in matches],
        current=current,
    )


def ambiguous_batch(
    batch_id: str,
    matches: Sequence[Match],
    classes: Callable[[str], type[ProviderSettings] | None],
) -> AmbiguousBatchError:
    """The error for a bare id recorded on several endpoints with nothing to pick one."""
    return AmbiguousBatchError(
        f"batch id {batch_id!r} is recorded in the job store on {len(matches)} endpoints: "
        f"{_listing(matches, classes)}. Pick one with the options shown (or use its lmbatch "
        "job id)",
        batch_id=batch_id,
        candidates=[
            {"provider": job.provider, "endpoint": job.endpoint, "job_id": job.job_id}
            for job, _ in matches
        ],
    )


def select_recorded(
    batch_id: str,
    matches: Sequence[Match],
    *,
    endpoint_of: Callable[[JobRecord], str | None],
    classes: Callable[[str], type[ProviderSettings] | None],
    explicit: bool,
) -> Match | None:
    """The one recorded batch a bare id names, or None when the store has none.

    Args:
        matches: Every recorded batch holding the id (one provider's, or all).
        endpoint_of: The endpoint identity the options in use give for a job's provider
            (None: that provider cannot be used).
        explicit: Whether the options in use name an endpoint explicitly; then only a
            batch on it will do. Otherwise a single recorded batch is taken with its
            recorded options, and several are told apart by the options in use.

    Raises:
        EndpointMismatchError: Explicit options name an endpoint holding none of them.
        AmbiguousBatchError: Several remain and nothing picks one.
    """
    if not matches:
        return None
    here = [match for match in matches if endpoint_of(match[0]) == match[0].endpoint]
    if explicit:
        if len(here) == 1:
            return here[0]
        if not here:
            if len(matches) == 1 and matches[0][0].connection is None:
                return matches[0]  # endpoint never recorded: the options in use say it
            job = matches[0][0]
            raise endpoint_mismatch(
                batch_id, matches, job.provider, endpoint_of(job) or "", classes(job.provider)
            )
        raise ambiguous_batch(batch_id, here, classes)
    if len(matches) == 1:
        return matches[0]
    if len(here) == 1:
        return here[0]
    raise ambiguous_batch(batch_id, matches, classes)


def options_for_job(
    job: JobRecord,
    explicit: dict[str, Any],
    settings_class: type[ProviderSettings],
    *,
    store_named_by: Path | None = None,
) -> dict[str, Any]:
    """Options for a later command on ``job``: its recorded connection options, under
    the explicit ones (which win; a differing one is logged as a warning).

    Args:
        store_named_by: The config file that chose the job store, if one did. Such a
            store may come with a cloned repository, so it cannot choose where the API
            key goes any more than the file itself could: a recorded endpoint option
            other than the vendor's default is then refused, unless given explicitly or
            ``LMBATCH_TRUST_CONFIG=1``.

    Raises:
        ConfigError: A store named by an untrusted config file records a job on a
            non-default endpoint.
    """
    markers = settings_class.connection_options()
    recorded = {k: v for k, v in (job.connection or {}).items() if k in markers}
    if store_named_by is not None and not trusts_config_files():
        _refuse_untrusted_endpoints(job, explicit, settings_class, store_named_by)
    for name, value in explicit.items():
        if name not in recorded:
            continue
        if normalise_connection_value(value) != normalise_connection_value(recorded[name]):
            logger.warning(
                "job %s was created with %s=%s; using %s=%s as given",
                job.job_id,
                name,
                recorded[name],
                name,
                value,
            )
    return {**recorded, **explicit}


def trusts_config_files() -> bool:
    """Whether the user opted in to config files choosing endpoints (``LMBATCH_TRUST_CONFIG``)."""
    return os.environ.get(TRUST_CONFIG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def recorded_foreign_endpoint(
    job: JobRecord, explicit: dict[str, Any], settings_class: type[ProviderSettings]
) -> tuple[str, Any] | None:
    """The first endpoint option ``job`` recorded that is not the vendor's default, not
    set by ``explicit`` and not what this process's own environment variable for it
    says, as ``(name, value)``; None if there is none."""
    markers = settings_class.connection_options()
    recorded = {k: v for k, v in (job.connection or {}).items() if k in markers}
    for name, marker in settings_class.endpoint_options().items():
        if name in explicit or recorded.get(name) is None:
            continue
        value = normalise_connection_value(recorded[name])
        ours = [marker.default, os.environ.get(marker.env_var) if marker.env_var else None]
        if any(v is not None and value == normalise_connection_value(v) for v in ours):
            continue
        return name, recorded[name]
    return None


def _refuse_untrusted_endpoints(
    job: JobRecord,
    explicit: dict[str, Any],
    settings_class: type[ProviderSettings],
    config_file: Path,
) -> None:
    foreign = recorded_foreign_endpoint(job, explicit, settings_class)
    if foreign is not None:
        name, value = foreign
        raise ConfigError(
            f"job {job.job_id} was created with {name}={value}, in the job store "
            f"that {config_file} names; a store chosen by a config file cannot choose where "
            f"requests (and the API key) go. Pass {name}=... explicitly, name the store "
            f"yourself (--store / LMBATCH_STORE), or set {TRUST_CONFIG_ENV}=1 if you trust "
            "that file"
        )
