"""Encoding requests into batch input files, split over provider limits.

Every request is validated and encoded before anything is sent, and each encoded line
goes straight to a temporary file, so memory stays flat however many requests there are.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from lmbatch._errors import ValidationError
from lmbatch._hyperparameters import Hyperparameters
from lmbatch._inputs import normalize_input
from lmbatch._json import dump_line, load_line
from lmbatch._limits import ProviderLimits
from lmbatch._messages import Message

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
            ``_encode_request``) per line.
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
        self, directory: Path, limits: ProviderLimits, fingerprint_salt: str, tag: str = ""
    ) -> None:
        self.directory = directory
        self.limits = limits
        self.max_count = limits.planned_requests_per_batch
        self.max_bytes = limits.planned_bytes_per_batch
        self.chunks: list[_Chunk] = []
        self.keys = KeyFile(directory / "keys.jsonl")
        self.key_handle = self.keys.path.open("wb", buffering=_WRITE_BUFFER)
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
        chunks = self.chunks
        if (
            not chunks
            or chunks[-1].count >= self.max_count
            or chunks[-1].size + len(line) > self.max_bytes
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
        spool_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="plan-", dir=spool_root))


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
) -> BatchPlan:
    """Validate and encode every request into JSONL chunk files within ``limits``.

    Args:
        custom_id_for: The request id the provider will see for a key.
        spool_root: Directory to write the chunk files under (a fresh subdirectory is
            made); the system temp directory when None.
        tag: The job tag ``custom_id_for`` appends to every id (left out of the
            fingerprint).

    Raises:
        ValidationError: naming the first request that cannot be sent; no file is kept.
    """
    writer = _ChunkWriter(_new_plan_directory(spool_root), limits, fingerprint_salt, tag)
    try:
        for key, value in requests.items():
            messages = normalize_input(key, value)
            check(key, messages, params)
            custom_id = custom_id_for(key)
            writer.add(key, custom_id, dump_line(encode(custom_id, messages, params)))
    except BaseException:
        writer.close()
        shutil.rmtree(writer.directory, ignore_errors=True)
        raise
    return writer.plan()


def replan_records(
    sources: list[Path],
    select: Callable[[dict[str, Any]], str | None],
    keymap: Mapping[str, str],
    *,
    limits: ProviderLimits,
    fingerprint_salt: str,
    spool_root: Path | None = None,
    retag: tuple[str, str] = ("", ""),
) -> BatchPlan:
    """Plan a new job from already-encoded records (used to resubmit some of them).

    Args:
        sources: Chunk files of an earlier job.
        select: Returns a record's custom id to keep it, or None to leave it out.
        keymap: ``custom_id → key`` of the earlier job.
        retag: ``(earlier job's tag, new job's tag)``: the new job's ids carry its own
            tag, so its batches are never taken for the earlier job's (and back).
    """
    old_tag, new_tag = retag if retag[0] else ("", "")
    old_bytes, new_bytes = old_tag.encode("ascii"), new_tag.encode("ascii")
    writer = _ChunkWriter(_new_plan_directory(spool_root), limits, fingerprint_salt, new_tag)
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
    except BaseException:
        writer.close()
        shutil.rmtree(writer.directory, ignore_errors=True)
        raise
    return writer.plan()


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
    with path.open("rb") as source, temporary.open("wb", buffering=_WRITE_BUFFER) as target:
        for line in source:
            target.write(line.replace(old, new))
    temporary.replace(path)


def chunk_file_name(index: int) -> str:
    """File name of chunk ``index`` in a plan or spool directory."""
    return f"chunk-{index:05d}.jsonl"


def _open_chunk(directory: Path, index: int) -> _Chunk:
    path = directory / chunk_file_name(index)
    return _Chunk(path=path, handle=path.open("wb", buffering=_WRITE_BUFFER))
