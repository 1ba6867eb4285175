"""Encoding requests into batch input files, split over provider limits.

Every request is validated and encoded before anything is sent, and each encoded line
goes straight to a temporary file, so memory stays flat however many requests there are.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lmbatch._errors import ValidationError
from lmbatch._hyperparameters import Hyperparameters
from lmbatch._inputs import normalize_input
from lmbatch._limits import ProviderLimits
from lmbatch._messages import Message

__all__ = ["BatchPlan", "PreparedBatch", "plan_batches"]

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
    """

    job_id: str
    chunk_index: int
    path: Path
    request_count: int
    byte_size: int
    metadata: dict[str, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)

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


@dataclass
class BatchPlan:
    """Encoded input files of a job and the facts recorded about it."""

    directory: tempfile.TemporaryDirectory[str]
    chunk_paths: list[Path]
    chunk_sizes: list[int]
    chunk_bytes: list[int]
    keys: list[tuple[str, str, int]]
    fingerprint: str

    @property
    def request_count(self) -> int:
        """Requests in the whole job."""
        return sum(self.chunk_sizes)

    def cleanup(self) -> None:
        """Remove the temporary files."""
        self.directory.cleanup()


def plan_batches(
    requests: Mapping[str, Any],
    custom_ids: Mapping[str, str],
    params: Hyperparameters,
    *,
    limits: ProviderLimits,
    encode: EncodeFn,
    check: CheckFn,
    fingerprint_salt: str,
) -> BatchPlan:
    """Validate and encode every request into JSONL chunk files within ``limits``.

    Raises:
        ValidationError: naming the first request that cannot be sent; no file is kept.
    """
    directory = tempfile.TemporaryDirectory(prefix="lmbatch-")
    chunks: list[_Chunk] = []
    keys: list[tuple[str, str, int]] = []
    hasher = hashlib.sha256(fingerprint_salt.encode())
    max_count = limits.planned_requests_per_batch
    max_bytes = limits.planned_bytes_per_batch
    try:
        for key, value in requests.items():
            messages = normalize_input(key, value)
            check(key, messages, params)
            custom_id = custom_ids[key]
            line = _encode_line(encode(custom_id, messages, params))
            if len(line) > max_bytes:
                raise ValidationError(
                    f"encodes to {len(line):,} bytes, more than one batch may hold "
                    f"({limits.max_bytes_per_batch:,})",
                    key=key,
                )
            if (
                not chunks
                or chunks[-1].count >= max_count
                or chunks[-1].size + len(line) > max_bytes
            ):
                chunks.append(_open_chunk(directory.name, len(chunks)))
            chunk = chunks[-1]
            chunk.handle.write(line)
            chunk.count += 1
            chunk.size += len(line)
            keys.append((custom_id, key, len(chunks) - 1))
            hasher.update(key.encode("utf-8", "surrogatepass"))
            hasher.update(b"\x00")
            hasher.update(line)
    except BaseException:
        for chunk in chunks:
            chunk.handle.close()
        directory.cleanup()
        raise
    for chunk in chunks:
        chunk.handle.close()
    return BatchPlan(
        directory=directory,
        chunk_paths=[chunk.path for chunk in chunks],
        chunk_sizes=[chunk.count for chunk in chunks],
        chunk_bytes=[chunk.size for chunk in chunks],
        keys=keys,
        fingerprint=hasher.hexdigest(),
    )


def _open_chunk(directory: str, index: int) -> _Chunk:
    path = Path(directory) / f"chunk-{index:05d}.jsonl"
    return _Chunk(path=path, handle=path.open("wb"))


def _encode_line(record: dict[str, Any]) -> bytes:
    # ensure_ascii=False keeps non-ASCII prompts at their real size for the byte limit.
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
