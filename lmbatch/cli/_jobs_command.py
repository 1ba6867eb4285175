"""``lmbatch jobs``: the jobs recorded in the local job store, and labels for them."""

from __future__ import annotations

import fnmatch
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from lmbatch._errors import LMBatchError
from lmbatch._estimate import family_ids, spent
from lmbatch._operations import BatchOperations
from lmbatch._status import BatchInfo
from lmbatch._store import CHUNK_PLANNED, CHUNK_SUBMITTED, JobRecord
from lmbatch._store_contract import Store, open_store
from lmbatch.cli._errors import reporting_errors
from lmbatch.cli._options import JsonOption, ProviderOption, StoreOption, VerboseOption
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._provider_choice import operations_for, store_path
from lmbatch.cli._render import counts_summary, stdout_console, to_json
from lmbatch.cli._session import run_with

__all__ = ["LabelOption", "jobs_command", "record_label"]

LabelOption = Annotated[
    str | None,
    typer.Option(
        "--label",
        metavar="TEXT",
        help="Name the job in the job store, to find it with: lmbatch jobs --label TEXT.",
        show_default=False,
    ),
]


def record_label(ops: BatchOperations, handle: str, label: str | None, source: str) -> None:
    """Note the label (if any) and the request file of the job behind ``handle``."""
    job = ops.store.get_job(handle)
    if job is None:
        found = ops.store.find_batch(handle, provider=ops.name, endpoint=ops.endpoint_identity)
        job = found[0] if found is not None else None
    if job is not None:
        path = Path(source)
        if path.is_file():  # the same file, whichever directory jobs is run from
            source = str(path.resolve())
        ops.store.set_job_label(job.job_id, label=label, source=source)


def _local_status(store: Store, job: JobRecord) -> str:
    """What the store alone knows: unsubmitted, submitted, or results read; for a job
    handed to workers, pending, running, done or failed."""
    queued = store.queued_job(job.job_id)
    if queued is not None and queued.state != "running":
        return queued.state  # pending (no worker has it yet), done, failed
    states = {chunk.state for chunk in job.chunks}
    if states == {CHUNK_PLANNED}:
        return "unsubmitted"
    if states != {CHUNK_SUBMITTED}:
        return "submitting"
    read = {entry.chunk_index for entry in store.cost_entries([job.job_id])}
    if len(read) == len(job.chunks):
        return "results read"
    return "submitted"


def _rounds(store: Store, job: JobRecord) -> int:
    count = 1
    current = job
    while children := store.child_jobs(current.job_id):
        current = children[0]
        count += 1
    return count


def _live(job: JobRecord, store: str | None) -> BatchInfo | str:
    """The vendor's view of ``job``, or why it could not be had."""
    try:
        ops = operations_for(provider=None, store=store, batch_id=job.job_id)

        async def info(ops: BatchOperations) -> BatchInfo:
            return await ops.info(job.job_id)

        return run_with(ops, info)
    except LMBatchError as exc:
        return f"unknown ({type(exc).__name__})"


def jobs_command(
    provider: ProviderOption = None,
    label: Annotated[
        str | None,
        typer.Option(
            "--label",
            metavar="PATTERN",
            help="Only jobs whose label matches (shell wildcards: 'nightly-*').",
            show_default=False,
        ),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Ask the provider for each job's status and counts (one call per batch).",
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Show at most this many.")
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """List the jobs in the local job store, newest first.

    Each job: its id (which every command takes), label (--label of submit and run),
    provider, model, when it was created, its status, request counts, resubmission
    rounds and the file its requests came from. The status is what the store knows
    (unsubmitted, submitting, submitted, results read); --refresh asks the provider.
    "lmbatch list" lists the provider's batches instead.

    Examples:

        lmbatch jobs

        lmbatch jobs --label 'nightly-*' --refresh

        lmbatch jobs -p openai -n 5 --json
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        path = store_path(store)
        if path != ":memory:" and not Path(path).is_file():
            jobs: list[dict[str, Any]] = []
        else:
            jobs = _jobs(open_store(path), provider, label, limit)
        if refresh:
            for row in jobs:
                live = _live(row.pop("_record"), store)
                if isinstance(live, str):
                    row["status"] = live
                else:
                    row["status"] = live["status"].value
                    row["counts"] = dict(live["request_counts"])
        for row in jobs:
            row.pop("_record", None)
        if json_output:
            print(to_json(jobs))
            return
        if not jobs:
            stderr_console().print(f"no jobs in the job store ({path})")
            return
        stdout_console().print(_table(jobs))


def _jobs(
    store: Store, provider: str | None, label: str | None, limit: int | None
) -> list[dict[str, Any]]:
    try:
        labels = store.job_labels()
        rows: list[dict[str, Any]] = []
        # Resubmission rounds are shown as part of their job; a label filter is a glob
        # matched here, so the limit goes to the store only without one.
        listed = store.list_jobs(
            provider, first_rounds=True, limit=limit if label is None else None
        )
        for job in listed:
            job_label, source = labels.get(job.job_id, (None, None))
            if label is not None and not fnmatch.fnmatchcase(job_label or "", label):
                continue
            rows.append(
                {
                    "id": job.job_id,
                    "label": job_label,
                    "provider": job.provider,
                    "model": job.model,
                    "created_at": datetime.fromtimestamp(job.created_at, tz=UTC),
                    "status": _local_status(store, job),
                    "requests": job.request_count,
                    "batches": [chunk.batch_id for chunk in job.chunks],
                    "rounds": _rounds(store, job),
                    "cost": _cost(store, job),
                    "source": source,
                    "_record": job,
                }
            )
            if limit is not None and len(rows) >= limit:
                break
        return rows
    finally:
        store.close()


def _cost(store: Store, job: JobRecord) -> str | None:
    """What the job (every round) cost so far, in USD, from the ledger; None: no
    results read yet, so nothing is known (never a silent zero)."""
    ids = family_ids(store, job)
    if not store.cost_entries(ids):
        return None
    return str(spent(store, ids))


def _table(jobs: list[dict[str, Any]]) -> Table:
    table = Table()
    names = ("job", "label", "provider", "model", "created", "status", "requests", "cost", "file")
    for name in names:
        table.add_column(name, overflow="fold" if name in ("job", "file") else "ellipsis")
    for row in jobs:
        counts = row.get("counts")
        requests = (
            counts_summary({"request_counts": counts})  # type: ignore[typeddict-item]
            if counts
            else str(row["requests"])
        )
        if row["rounds"] > 1:
            requests += f", {row['rounds']} rounds"
        table.add_row(
            row["id"],
            row["label"] or "",
            row["provider"],
            row["model"] or "",
            row["created_at"].astimezone().strftime("%Y-%m-%d %H:%M"),
            row["status"],
            requests,
            f"${row['cost']}" if row["cost"] is not None else "",
            row["source"] or "",
        )
    return table
