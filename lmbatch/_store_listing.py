"""Reading many jobs at once, in the same two queries on either store backend.

A job is a row of ``jobs`` (with its endpoint, connection options and tag from
``job_connections`` and ``job_tags``) and its rows of ``chunks``. Reading a list of jobs
one :meth:`~lmbatch._store_contract.Store.get_job` at a time costs a query (on
PostgreSQL a network round trip) per job; here the job rows come from one query and the
chunks of all of them from a second one, whatever the number of jobs. Filters are SQL, so
a caller that wants a few jobs does not read the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from lmbatch._store import JobRecord

__all__ = ["JobFilter", "build_jobs", "chunk_query", "job_query"]

_JOB_COLUMNS = (
    "SELECT jobs.job_id, jobs.provider, jobs.model, jobs.fingerprint, jobs.request_count, "
    "jobs.created_at, jobs.context, jobs.parent_job_id, jobs.round, "
    "job_connections.endpoint, job_connections.options, job_tags.tag FROM jobs "
    "LEFT JOIN job_connections ON job_connections.job_id = jobs.job_id "
    "LEFT JOIN job_tags ON job_tags.job_id = jobs.job_id"
)
_CHUNK_COLUMNS = (
    "SELECT chunks.job_id, chunks.chunk_index, chunks.request_count, chunks.state, "
    "chunks.batch_id, chunks.owner, chunks.updated_at FROM chunks"
)


class JobFilter(NamedTuple):
    """Which jobs to read, and in what order.

    Attributes:
        where: SQL conditions on ``jobs`` (and ``job_connections``), ``""`` for none,
            with ``{p}`` for each placeholder.
        params: The values of the placeholders, in order.
        order: The ``ORDER BY`` list.
        limit: At most this many jobs (None: all).
    """

    where: str
    params: tuple[Any, ...]
    order: str
    limit: int | None = None

    @classmethod
    def listing(
        cls,
        provider: str | None,
        *,
        first_rounds: bool = False,
        endpoint: str | None = None,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
    ) -> JobFilter:
        """The filter of :meth:`~lmbatch._store_contract.Store.list_jobs`: newest first."""
        conditions: list[str] = []
        params: list[Any] = []
        if provider is not None:
            conditions.append("jobs.provider = {p}")
            params.append(provider)
        if first_rounds:
            conditions.append("jobs.parent_job_id IS NULL")
        if endpoint is not None:
            # "" is the vendor's default endpoint, also recorded as no row at all.
            conditions.append("COALESCE(job_connections.endpoint, '') = {p}")
            params.append(endpoint)
        if model is not None:
            conditions.append("jobs.model = {p}")
            params.append(model)
        if since is not None:
            conditions.append("jobs.created_at >= {p}")
            params.append(since)
        # job_id breaks ties of created_at, so a limit always takes the same jobs.
        order = "jobs.created_at DESC, jobs.job_id DESC"
        return cls(" AND ".join(conditions), tuple(params), order, limit)


def job_query(spec: JobFilter, placeholder: str) -> tuple[str, tuple[Any, ...]]:
    """The query of the jobs ``spec`` selects (columns as :func:`build_jobs` reads them)."""
    sql = _JOB_COLUMNS + _tail(spec, placeholder)
    return sql, _params(spec)


def chunk_query(spec: JobFilter, placeholder: str) -> tuple[str, tuple[Any, ...]]:
    """The query of every chunk of the jobs ``spec`` selects, in chunk order."""
    inner = "SELECT jobs.job_id FROM jobs LEFT JOIN job_connections "
    inner += "ON job_connections.job_id = jobs.job_id" + _tail(spec, placeholder, ordered=False)
    sql = f"{_CHUNK_COLUMNS} WHERE chunks.job_id IN ({inner}) "
    return sql + "ORDER BY chunks.job_id, chunks.chunk_index", _params(spec)


def _tail(spec: JobFilter, placeholder: str, *, ordered: bool = True) -> str:
    tail = f" WHERE {spec.where.format(p=placeholder)}" if spec.where else ""
    if ordered or spec.limit is not None:  # the order picks which jobs a limit keeps
        tail += f" ORDER BY {spec.order}"
    if spec.limit is not None:
        tail += f" LIMIT {placeholder}"
    return tail


def _params(spec: JobFilter) -> tuple[Any, ...]:
    return spec.params + ((spec.limit,) if spec.limit is not None else ())


def build_jobs(
    job_rows: Iterable[Sequence[Any]], chunk_rows: Iterable[Sequence[Any]]
) -> list[JobRecord]:
    """Job records from the rows of :func:`job_query` and :func:`chunk_query`.

    A chunk of a job not among ``job_rows`` (recorded between the two queries) is left
    out; the jobs keep the order of ``job_rows``.
    """
    from lmbatch._store import ChunkRecord, JobRecord  # a cycle at import time

    chunks: dict[str, list[ChunkRecord]] = {}
    for r in chunk_rows:
        chunks.setdefault(str(r[0]), []).append(
            ChunkRecord(
                index=r[1],
                request_count=r[2],
                state=r[3],
                batch_id=r[4],
                owner=r[5],
                updated_at=r[6],
            )
        )
    return [
        JobRecord(
            job_id=row[0],
            provider=row[1],
            model=row[2],
            fingerprint=row[3],
            request_count=row[4],
            created_at=row[5],
            context=json.loads(row[6]),
            chunks=chunks.get(str(row[0]), []),
            parent_job_id=row[7],
            round=row[8],
            endpoint=row[9] or "",
            connection=json.loads(row[10]) if row[10] is not None else None,
            tag=str(row[11]) if row[11] is not None else "",
        )
        for row in job_rows
    ]
