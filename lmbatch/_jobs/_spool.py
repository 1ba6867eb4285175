"""Checksummed spool files: nothing damaged is ever sent.

A job's encoded input waits in the store's spool directory until it is submitted, and
(for resubmission) until the job is complete: hours, sometimes days. A file there can be
cut short by a full disk or a crash, altered or deleted. Sent as is, a truncated chunk
silently drops requests, an altered one asks the vendor something else.

So the sha256 and size of every chunk file are recorded in the job store when the file
is spooled, and the file is checked against them before it is uploaded and before it is
read to resubmit requests. A damaged (or missing) file is rebuilt from the caller's
requests when the call at hand has them: a re-run of ``invoke`` plans the same requests
into the same chunks (same fingerprint, same chunking), and a rebuilt file is used only
if it matches the recorded checksum. Otherwise :class:`SpoolDamagedError` names the job,
the chunk and the file, and nothing is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from lmbatch._attempts import CHUNK_METADATA_KEY, JOB_ID_METADATA_KEY
from lmbatch._errors import LMBatchError, SpoolDamagedError
from lmbatch._planning import BatchPlan, PreparedBatch, retag_chunk_file
from lmbatch._store import JobRecord
from lmbatch._store_contract import Store

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator

__all__ = [
    "Checksum",
    "adopt_plan_chunk",
    "discard_spool",
    "ensure_sound_chunks",
    "file_checksum",
    "plan_chunk_file",
    "prepared_chunk",
    "requests_at_hand",
    "sound_sources",
]

logger = logging.getLogger("lmbatch")

_READ_SIZE = 1 << 20

#: Builds a fresh plan of the requests the first round of a job was made from.
Replan = Callable[[], BatchPlan]


class Checksum(NamedTuple):
    """What a spooled chunk file holds: its sha256 (hex) and its size in bytes."""

    sha256: str
    size: int


def file_checksum(path: Path) -> Checksum | None:
    """The checksum of a file, or None when there is no such file."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(_READ_SIZE):
                digest.update(block)
                size += len(block)
    except FileNotFoundError:
        return None
    return Checksum(digest.hexdigest(), size)


def chunk_path(store: Store, job_id: str, index: int) -> Path:
    """Where the local file of chunk ``index`` of a job is (see :meth:`Store.spool_fetch`)."""
    return store.spool_path(job_id, index)


def plan_chunk_file(plan: BatchPlan, job: JobRecord, index: int) -> Path:
    """The file of a fresh plan that stands in for chunk ``index`` of ``job``.

    ``plan`` was made from the same requests as ``job`` (same fingerprint and chunking):
    this is the one place where a fresh plan is matched to a recorded job, so anything a
    plan carries per run (not per request) is made identical to the recorded job's here:
    the job tag its request ids end with (fresh for every plan) becomes the job's.
    """
    if plan.tag and plan.tag != job.tag:
        for path in plan.chunk_paths:
            retag_chunk_file(path, plan.tag, job.tag)
        plan.tag = job.tag
    return plan.chunk_paths[index]


def adopt_plan_chunk(store: Store, job_id: str, index: int, fresh: Path) -> None:
    """Spool a freshly planned file for a chunk not yet submitted, checksummed.

    The first plan spooled for a job records the checksum. A later plan of the same
    requests (a re-run) replaces a spooled file only when that file is missing or damaged
    and the plan's file is exactly what was recorded.
    """
    fresh_sum = file_checksum(fresh)
    if fresh_sum is None:  # pragma: no cover - plans always write every chunk file
        return
    recorded = Checksum(*store.record_spool_checksum(job_id, index, *fresh_sum))
    current = file_checksum(store.spool_fetch(job_id, index))
    if current == recorded or fresh_sum != recorded:
        return  # sound already; or this plan is not the recorded input (checked at upload)
    if current is not None:
        logger.warning(
            "job %s: spooled input of chunk %d was damaged; rebuilt from the requests",
            job_id,
            index,
        )
    store.spool_put(job_id, index, fresh)


@contextlib.contextmanager
def requests_at_hand(jobs: Orchestrator, job_id: str, replan: Replan) -> Iterator[None]:
    """While the block runs, damaged spool files of ``job_id`` (and of its resubmission
    rounds) can be rebuilt with ``replan`` (a fresh plan of the caller's requests)."""
    sources = jobs.spool_sources
    mine = job_id not in sources
    if mine:
        sources[job_id] = replan
    try:
        yield
    finally:
        if mine:
            sources.pop(job_id, None)


def _problem(store: Store, job_id: str, index: int) -> str | None:
    """What is wrong with a chunk's spooled file, or None when it is sound.

    A chunk with no recorded checksum (spooled by an lmbatch that did not record them)
    cannot be checked and is taken as it is, as before.
    """
    try:
        # A fresh local copy of what the spool holds (with PostgreSQL, streamed from it).
        current = file_checksum(store.spool_fetch(job_id, index))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if current is None:
        return "is missing"
    recorded = store.spool_checksum(job_id, index)
    if recorded is None or current == recorded:
        return None
    return (
        f"holds {current.size:,} bytes (sha256 {current.sha256[:16]}...) where "
        f"{recorded[1]:,} bytes (sha256 {recorded[0][:16]}...) were written"
    )


def _family_root(store: Store, job: JobRecord) -> JobRecord:
    """The first-round job whose requests ``job`` (maybe a resubmission round) came from."""
    root = job
    while root.parent_job_id is not None:
        parent = store.get_job(root.parent_job_id)
        if parent is None:  # pragma: no cover - the store never forgets jobs
            break
        root = parent
    return root


def ensure_sound_chunks(
    jobs: Orchestrator, job: JobRecord, indices: list[int], *, missing_ok: bool = False
) -> bool:
    """Check chunk files of ``job``; rebuild damaged ones from the caller's requests.

    Args:
        indices: The chunks to check.
        missing_ok: A missing file that cannot be rebuilt makes this return False rather
            than raise (the spool of a finished job is deleted on purpose).

    Returns:
        True when every file is sound (or was rebuilt), False when some file is missing.

    Raises:
        SpoolDamagedError: A file is damaged (or missing, unless ``missing_ok``) and the
            call at hand does not hold the requests to rebuild it.
    """
    store = jobs.store
    problems = {i: why for i in indices if (why := _problem(store, job.job_id, i)) is not None}
    if not problems:
        return True
    root = _family_root(store, job)
    replan = jobs.spool_sources.get(root.job_id)
    if replan is not None:
        try:
            _rebuild(jobs, job, root, sorted(problems), replan)
        except (LMBatchError, OSError) as exc:
            logger.warning("job %s: could not rebuild spooled input: %s", job.job_id, exc)
        problems = {i: why for i in problems if (why := _problem(store, job.job_id, i))}
        if not problems:
            return True
    if missing_ok and all(why == "is missing" for why in problems.values()):
        return False
    index, why = min(problems.items())
    path = chunk_path(store, job.job_id, index)
    raise SpoolDamagedError(
        f"the spooled input of chunk {index} of job {job.job_id} ({path}) {why}; nothing "
        "was sent from it. Run the same invoke() (or `lmbatch run`) again with the original "
        "requests: lmbatch rebuilds the file from them and checks it against what was "
        "written. Without them the job cannot be completed; submit the requests again.",
        job_id=job.job_id,
        chunk_index=index,
        path=str(path),
    )


def sound_sources(jobs: Orchestrator, job: JobRecord) -> list[Path] | None:
    """Every chunk file of ``job``, checked (or rebuilt), to resubmit requests from.

    Returns None when the spool was deleted and cannot be rebuilt.

    Raises:
        SpoolDamagedError: A file is damaged and cannot be rebuilt.
    """
    indices = [chunk.index for chunk in job.chunks]
    if not ensure_sound_chunks(jobs, job, indices, missing_ok=True):
        return None
    return [chunk_path(jobs.store, job.job_id, index) for index in indices]


def _rebuild(
    jobs: Orchestrator, job: JobRecord, root: JobRecord, indices: list[int], replan: Replan
) -> None:
    """Rewrite chunk files of ``job`` from a fresh plan of the root job's requests.

    A rebuilt file replaces the spooled one only when it matches the recorded checksum
    (or, with none recorded, holds as many requests as the chunk).
    """
    store = jobs.store
    plan = replan()
    try:
        if plan.fingerprint != root.fingerprint or plan.chunk_sizes != [
            chunk.request_count for chunk in root.chunks
        ]:
            logger.warning("job %s: the requests at hand are not those of the job", root.job_id)
            return
        spool = store.spool_dir(job.job_id)
        spool.mkdir(parents=True, exist_ok=True)
        for index in indices:
            if job.job_id == root.job_id:
                candidate, count = plan_chunk_file(plan, root, index), None
            else:
                candidate, count = _select_lines(jobs, job, index, plan, root, spool)
            try:
                _install(store, job, index, candidate, count)
            finally:
                if job.job_id != root.job_id:
                    candidate.unlink(missing_ok=True)
    finally:
        plan.cleanup()


def _select_lines(
    jobs: Orchestrator, job: JobRecord, index: int, plan: BatchPlan, root: JobRecord, spool: Path
) -> tuple[Path, int]:
    """A file of the plan's lines for the requests of chunk ``index`` of a later round.

    Resubmission rounds copy the first round's lines unchanged and in order, so the
    lines of the chunk's custom ids, in plan order, are exactly what was spooled.
    """
    wanted = {custom_id for custom_id, _ in jobs.store.iter_keys(job.job_id, index)}
    custom_id_of = jobs.provider._record_custom_id
    # Each round's ids carry its own job tag in place of the first round's.
    root_tag, job_tag = root.tag.encode("ascii"), job.tag.encode("ascii")
    handle, name = tempfile.mkstemp(prefix="rebuild-", dir=spool)
    count = 0
    with os.fdopen(handle, "wb") as out:
        for source_index in range(len(plan.chunk_paths)):
            with plan_chunk_file(plan, root, source_index).open("rb") as source:
                for line in source:
                    if root_tag and root_tag != job_tag:
                        line = line.replace(root_tag, job_tag)
                    if line.strip() and custom_id_of(json.loads(line)) in wanted:
                        out.write(line.rstrip(b"\n") + b"\n")
                        count += 1
    return Path(name), count


def _install(store: Store, job: JobRecord, index: int, candidate: Path, count: int | None) -> None:
    recorded = store.spool_checksum(job.job_id, index)
    got = file_checksum(candidate)
    if got is None:
        return
    if recorded is None:
        if count is not None and count != job.chunks[index].request_count:
            return
        store.record_spool_checksum(job.job_id, index, *got)
    elif got != Checksum(*recorded):
        logger.warning(
            "job %s: chunk %d rebuilt from the requests differs from what was written",
            job.job_id,
            index,
        )
        return
    store.spool_put(job.job_id, index, candidate)
    logger.warning(
        "job %s: spooled input of chunk %d was damaged or missing; rebuilt from the requests",
        job.job_id,
        index,
    )


def prepared_chunk(jobs: Orchestrator, job: JobRecord, index: int) -> PreparedBatch:
    """The :class:`PreparedBatch` of one chunk, read from the store's spool."""
    store = jobs.store
    path = store.spool_path(job.job_id, index)
    if not path.exists():
        path = store.spool_fetch(job.job_id, index)  # a copy from a shared spool
    return PreparedBatch(
        job_id=job.job_id,
        chunk_index=index,
        path=path,
        request_count=job.chunks[index].request_count,
        byte_size=path.stat().st_size if path.exists() else 0,
        metadata={JOB_ID_METADATA_KEY: job.job_id, CHUNK_METADATA_KEY: str(index)},
        context=job.context,
        job_created_at=job.created_at,
    )


def discard_spool(jobs: Orchestrator, job_id: str) -> None:
    """Delete a job's spooled input (once its results are safely in hand)."""
    jobs.store.discard_spool(job_id)
