"""Encoding requests into batch input files, split over provider limits.

Every request is validated and encoded before anything is sent, and each encoded line
goes straight to a temporary file, so memory stays flat however many requests there are.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from lmbatch._enqueued import line_tokens
from lmbatch._errors import StoreError, ValidationError
from lmbatch._hyperparameters import Hyperparameters
from lmbatch._inputs import normalize_input
from lmbatch._json import dump_line, load_line, unencodable_reason
from lmbatch._limits import ProviderLimits
from lmbatch._messages import Message
from lmbatch._private import make_private_dir, open_private

__all__ = [
    "BatchPlan",
    "PreparedBatch",
    "plan_batches",
    "replan_records",
    "retag_chunk_file",
]

# Chunk files are written a line at a time; a larger buffer than the default 8 KiB
# means far fewer system calls for lines that are often kilobytes long.
_WRITE_BUFFER = 1 << 20

EncodeFn = Callable[[str, list[Message], Hyperparameters], dict[str, Any]]
CheckFn = Callable[[str, list[Message], Hyperparameters], None]


@dataclass
class PreparedBatch:
    """One provider batch, encoded and ready to submit.

    Attributes:
        job_id: The lmbatch job this batch belongs to.
        chunk_index: Position of this batch within the job.
        path: JSONL file, one encoded request (as returned by the provider's
            ``encode_request``) per line.
        request_count: Number of lines.
        byte_size: Size of the file in bytes.
        metadata: String pairs that identify the job; providers that support batch
            metadata attach them so the batch can be found again after a crash.
        context: What is needed later to read the results (endpoint, schema...).
        job_created_at: Unix time the job was recorded: a batch of this job cannot be
            older, which bounds the search when reconciling an interrupted create.
    """

    job_id: str
    chunk_index: int
    path: Path
    request_count: int
    byte_size: int
    metadata: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    job_created_at: float | None = None

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """The encoded requests, read back one at a time."""
        with self.path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield json.loads(line)


@dataclass
class _Chunk:
    path: Path
    handle: IO[bytes]
    count: int = 0
    size: int = 0
    tokens: int = 0


class KeyFile:
    """``(custom_id, key, chunk_index)`` of every request, in a file beside the chunks.

    Kept on disk rather than in a list so that planning takes the same memory for a
    million requests as for a thousand; iterable any number of times.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        with self.path.open("rb") as handle:
            for line in handle:
                custom_id, key, chunk_index = load_line(line)
                yield custom_id, key, chunk_index


def _key_line(custom_id: str, key: str, chunk_index: int) -> bytes:
    try:
        return orjson.dumps([custom_id, key, chunk_index], option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # a key with a lone surrogate: escaped, read back exactly
        return (json.dumps([custom_id, key, chunk_index]) + "\n").encode("ascii")


@dataclass
class BatchPlan:
    """Encoded input files of a job and the facts recorded about it."""

    directory: Path
    chunk_paths: list[Path]
    chunk_sizes: list[int]
    keys: KeyFile
    fingerprint: str
    #: The job tag every request id of the plan ends with (``""``: none).
    tag: str = ""

    @property
    def request_count(self) -> int:
        """Requests in the whole job."""
        return sum(self.chunk_sizes)

    def cleanup(self) -> None:
        """Remove the plan's files (those not moved into a job's spool)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class _ChunkWriter:
    """Writes encoded lines into chunk files, starting a new chunk at the limits."""

    def __init__(
        self,
        directory: Path,
        limits: ProviderLimits,
        fingerprint_salt: str,
        tag: str = "",
        max_tokens: int | None = None,
        refuse_over_tokens: bool = True,
    ) -> None:
        self.directory = directory
        self.limits = limits
        self.max_count = limits.planned_requests_per_batch
        self.max_bytes = limits.planned_bytes_per_batch
        # The vendor's queue limit in input tokens: no chunk may hold more (estimated);
        # a request over it alone is refused, or (replanning) gets a chunk of its own.
        self.max_tokens = max_tokens
        self.refuse_over_tokens = refuse_over_tokens
        self.chunks: list[_Chunk] = []
        self.keys = KeyFile(directory / "keys.jsonl")
        self.key_handle = open_private(self.keys.path, "wb", buffering=_WRITE_BUFFER)
        self.hasher = hashlib.sha256(fingerprint_salt.encode())
        self.tag = tag
        # The fingerprint leaves the job tag out: it is random, and a re-run of the same
        # requests must find the same job.
        self.tag_bytes = tag.encode("ascii")

    def add(self, key: str, custom_id: str, line: bytes) -> None:
        if len(line) > self.max_bytes:
            raise ValidationError(
                f"encodes to {len(line):,} bytes, more than one batch may hold "
                f"({self.limits.max_bytes_per_batch:,})",
                key=key,
            )
        tokens = 0
        if self.max_tokens is not None:
            tokens = line_tokens(line)
            if tokens > self.max_tokens and self.refuse_over_tokens:
                raise ValidationError(
                    f"holds about {tokens:,} input tokens, more than the vendor's batch "
                    f"queue takes at once ({self.max_tokens:,}, the queue_limit_tokens in "
                    "effect)",
                    key=key,
                )
        chunks = self.chunks
        if (
            not chunks
            or chunks[-1].count >= self.max_count
            or chunks[-1].size + len(line) > self.max_bytes
            or (self.max_tokens is not None and chunks[-1].tokens + tokens > self.max_tokens)
        ):
            if chunks:
                # Only the last chunk is written to; closing the full one releases its
                # write buffer, so a job of many chunks holds one buffer, not one each.
                chunks[-1].handle.close()
            chunks.append(_open_chunk(self.directory, len(chunks)))
        chunk = chunks[-1]
        chunk.handle.write(line)
        chunk.count += 1
        chunk.size += len(line)
        chunk.tokens += tokens
        self.key_handle.write(_key_line(custom_id, key, len(chunks) - 1))
        self.hasher.update(key.encode("utf-8", "surrogatepass"))
        self.hasher.update(b"\x00")
        self.hasher.update(line.replace(self.tag_bytes, b"") if self.tag_bytes else line)

    def close(self) -> None:
        self.key_handle.close()
        for chunk in self.chunks:
            chunk.handle.close()

    def plan(self) -> BatchPlan:
        self.close()
        return BatchPlan(
            directory=self.directory,
            chunk_paths=[chunk.path for chunk in self.chunks],
            chunk_sizes=[chunk.count for chunk in self.chunks],
            keys=self.keys,
            fingerprint=self.hasher.hexdigest(),
            tag=self.tag,
        )


def _new_plan_directory(spool_root: Path | None) -> Path:
    if spool_root is not None:
        make_private_dir(spool_root)
        remove_stale_plans(spool_root)
    return Path(tempfile.mkdtemp(prefix=_plan_prefix(), dir=spool_root))  # mkdtemp: 0700


# Plan folders are named plan-<pid>@<host>@<random>, so that a later run can tell the
# folder of a killed process (same host, pid gone) from one still being written.
_HOST = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "host"
_PLAN_NAME = re.compile(r"plan-(\d+)@([A-Za-z0-9._-]+)@")
#: A plan folder untouched this long is abandoned, whoever made it (its owner may be on
#: another host): planning a million requests takes minutes, not hours.
STALE_PLAN_SECONDS = 24 * 3600


def _plan_prefix() -> str:
    return f"plan-{os.getpid()}@{_HOST}@"


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - os.kill(pid, 0) would signal it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but belongs to someone else
    return True


def remove_stale_plans(spool_root: Path) -> None:
    """Remove plan folders left by killed processes: the owner's pid is gone (on this
    host), or the folder is older than :data:`STALE_PLAN_SECONDS`.

    Never fails: a folder that cannot be removed now is tried again next time.
    """
    now = time.time()
    try:
        entries = list(os.scandir(spool_root))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith("plan-"):
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        owner = _PLAN_NAME.match(entry.name)
        dead = owner is not None and owner[2] == _HOST and not _pid_alive(int(owner[1]))
        if dead or age > STALE_PLAN_SECONDS:
            shutil.rmtree(entry.path, ignore_errors=True)


def spool_error(folder: Path | None, exc: OSError) -> StoreError:
    """The :class:`StoreError` for a file-system failure while writing under ``folder``."""
    where = str(folder) if folder is not None else tempfile.gettempdir()
    why = {
        errno.ENOSPC: "the disk is full",
        getattr(errno, "EDQUOT", -1): "the disk quota is used up",
        errno.EFBIG: "a file reached the file size limit",
    }.get(exc.errno or 0, "a file operation failed")
    detail = exc.strerror or str(exc)
    if exc.filename:
        detail += f": {exc.filename}"
    return StoreError(
        f"cannot spool the encoded requests in {where}: {why} ({detail}); nothing was "
        "sent and nothing was kept. Free some space and run again, or put the store (and "
        "its spool folder) elsewhere with LMBATCH_STORE or store=...",
        path=where,
    )


@contextmanager
def _plan_folder(spool_root: Path | None) -> Iterator[Path]:
    """A fresh plan folder, removed again if planning fails.

    A file-system failure (a full disk...) becomes a :class:`StoreError` naming the
    spool folder.
    """
    try:
        directory = _new_plan_directory(spool_root)
    except OSError as exc:
        raise spool_error(spool_root, exc) from exc
    try:
        yield directory
    except BaseException as exc:
        shutil.rmtree(directory, ignore_errors=True)
        if isinstance(exc, OSError):
            raise spool_error(spool_root or directory.parent, exc) from exc
        raise


def _close_quietly(writer: _ChunkWriter) -> None:
    """Close every file of a failed plan; closing flushes, which may fail again."""
    for handle in [writer.key_handle, *(chunk.handle for chunk in writer.chunks)]:
        with contextlib.suppress(OSError):
            handle.close()


def plan_batches(
    requests: Mapping[str, Any],
    custom_id_for: Callable[[str], str],
    params: Hyperparameters,
    *,
    limits: ProviderLimits,
    encode: EncodeFn,
    check: CheckFn,
    fingerprint_salt: str,
    spool_root: Path | None = None,
    tag: str = "",
    max_tokens: int | None = None,
) -> BatchPlan:
    """Validate and encode every request into JSONL chunk files within ``limits``.

    Args:
        custom_id_for: The request id the provider will see for a key.
        spool_root: Directory to write the chunk files under (a fresh subdirectory is
            made); the system temp directory when None.
        tag: The job tag ``custom_id_for`` appends to every id (left out of the
            fingerprint).
        max_tokens: Estimated input tokens one chunk may hold at most (the vendor's
            batch queue limit), or None.

    Raises:
        ValidationError: naming the first request that cannot be sent; no file is kept.
    """
    with _plan_folder(spool_root) as directory:
        writer = _ChunkWriter(directory, limits, fingerprint_salt, tag, max_tokens)
        try:
            for key, value in requests.items():
                messages = normalize_input(key, value)
                check(key, messages, params)
                custom_id = custom_id_for(key)
                writer.add(key, custom_id, _encoded_line(key, encode(custom_id, messages, params)))
            return writer.plan()
        except BaseException:
            _close_quietly(writer)
            raise


def _encoded_line(key: str, record: dict[str, Any]) -> bytes:
    """``record`` as a JSON line; what JSON cannot carry is refused naming the key."""
    try:
        return dump_line(record)
    except (TypeError, ValueError, RecursionError) as exc:
        # A lone surrogate in a prompt, say: found here at no cost to valid requests.
        raise ValidationError(
            f"cannot be sent: the request {unencodable_reason(exc)}", key=key
        ) from None


def replan_records(
    sources: list[Path],
    select: Callable[[dict[str, Any]], str | None],
    keymap: Mapping[str, str],
    *,
    limits: ProviderLimits,
    fingerprint_salt: str,
    spool_root: Path | None = None,
    retag: tuple[str, str] = ("", ""),
    max_tokens: int | None = None,
) -> BatchPlan:
    """Plan a new job from already-encoded records (used to resubmit some of them).

    Args:
        sources: Chunk files of an earlier job.
        select: Returns a record's custom id to keep it, or None to leave it out.
        keymap: ``custom_id → key`` of the earlier job.
        retag: ``(earlier job's tag, new job's tag)``: the new job's ids carry its own
            tag, so its batches are never taken for the earlier job's (and back).
        max_tokens: As for :func:`plan_batches`, except that a record over it is not
            refused (it was sent before) but gets a chunk of its own.
    """
    old_tag, new_tag = retag if retag[0] else ("", "")
    old_bytes, new_bytes = old_tag.encode("ascii"), new_tag.encode("ascii")
    with _plan_folder(spool_root) as directory:
        writer = _ChunkWriter(
            directory, limits, fingerprint_salt, new_tag, max_tokens, refuse_over_tokens=False
        )
        try:
            for source in sources:
                with source.open("rb") as handle:
                    for line in handle:
                        if not line.strip():
                            continue
                        custom_id = select(json.loads(line))
                        if custom_id is not None:
                            line = line.rstrip(b"\n") + b"\n"
                            key = keymap[custom_id]
                            if old_bytes:
                                line = line.replace(old_bytes, new_bytes)
                                custom_id = custom_id.removesuffix(old_tag) + new_tag
                            writer.add(key, custom_id, line)
            return writer.plan()
        except BaseException:
            _close_quietly(writer)
            raise


def retag_chunk_file(path: Path, old_tag: str, new_tag: str) -> None:
    """Rewrite a chunk file with ``new_tag`` in place of ``old_tag`` (same length or not).

    Used when a re-run re-attaches to a job recorded earlier: its plan was encoded with a
    fresh tag, and must become byte for byte the job's own input. Streams line by line.
    """
    if old_tag == new_tag:
        return
    if not old_tag:
        raise ValueError("an untagged chunk file cannot be given a tag by replacement")
    old, new = old_tag.encode("ascii"), new_tag.encode("ascii")
    temporary = path.with_name(path.name + ".retag")
    with (
        path.open("rb") as source,
        open_private(temporary, "wb", buffering=_WRITE_BUFFER) as target,
    ):
        for line in source:
            target.write(line.replace(old, new))
    temporary.replace(path)


def chunk_file_name(index: int) -> str:
    """File name of chunk ``index`` in a plan or spool directory."""
    return f"chunk-{index:05d}.jsonl"


def _open_chunk(directory: Path, index: int) -> _Chunk:
    path = directory / chunk_file_name(index)
    return _Chunk(path=path, handle=open_private(path, "wb", buffering=_WRITE_BUFFER))
