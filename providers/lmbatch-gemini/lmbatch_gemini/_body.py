"""A spooled chunk as Gemini takes it: inline entries of a create body, or file lines.

The spool holds one ``{"custom_id": ..., "request": {...}}`` per line (core reads the id
from ``custom_id``). Gemini wants ``{"metadata": {"key": ...}, "request": ...}`` inline,
or ``{"key": ..., "request": ...}`` in a file. Spooled lines start with the id (the
encoder writes it first, and ids are plain: see ``GeminiBatchOperations.limits``), so each
line is rewritten by replacing its head, without parsing the request; a line of another
shape is parsed and written again. The file is read as it is sent (constant memory, up to
2 GB), and measured beforehand: uploads and create bodies go out with their length.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from lmbatch.provider import LMBatchError

__all__ = ["INLINE_LIMIT", "SpooledRequests"]

#: Bytes of a create body with inline requests Gemini takes ("under 20 MB").
INLINE_LIMIT = 20_000_000

_HEAD = b'{"custom_id":"'
_FILE_HEAD = b'{"key":"'
_INLINE_HEAD = b'{"metadata":{"key":"'
_SUFFIX = b"]}}}}"


class SpooledRequests:
    """One spooled chunk, measured as inline entries and as file lines.

    Built before anything is sent: it reads the file once, so a damaged line fails here,
    with its number, rather than as a body Gemini refuses halfway.

    Attributes:
        path: The chunk file.
        request_count: Requests in it.
        file_bytes: Bytes of the JSONL file uploaded in file mode.
        entry_bytes: Bytes of the inline entries, commas between them excluded.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        count = file_bytes = entry_bytes = 0
        for number, line in self._lines():
            try:
                orjson.loads(line)  # a damaged line is refused here, not by Gemini
                file_line, entry = _rewrite(line)
            except (ValueError, KeyError, TypeError) as exc:
                raise LMBatchError(
                    f"line {number} of {path} is not an encoded request ({exc}); the spooled "
                    "input is damaged and nothing was sent: submit the requests again"
                ) from None
            count += 1
            file_bytes += len(file_line) + 1
            entry_bytes += len(entry)
        self.request_count = count
        self.file_bytes = file_bytes
        self.entry_bytes = entry_bytes

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.strip()
                if line:
                    yield number, line

    def inline_length(self, display_name: str) -> int:
        """Bytes of the whole create body with every request inline."""
        commas = max(0, self.request_count - 1)
        return len(_inline_prefix(display_name)) + self.entry_bytes + commas + len(_SUFFIX)

    def inline_body(self, display_name: str, block_bytes: int = 256 * 1024) -> Iterator[bytes]:
        """The create body ``{"batch": {..., "inputConfig": {"requests": ...}}}``, in blocks."""
        block = bytearray(_inline_prefix(display_name))
        first = True
        for _, line in self._lines():
            if not first:
                block += b","
            first = False
            block += _rewrite(line)[1]
            if len(block) >= block_bytes:
                yield bytes(block)
                block.clear()
        block += _SUFFIX
        yield bytes(block)

    def file_body(self, block_bytes: int) -> Iterator[bytes]:
        """The JSONL file of file mode, in blocks of ``block_bytes`` (the last shorter)."""
        block = bytearray()
        for _, line in self._lines():
            block += _rewrite(line)[0]
            block += b"\n"
            while len(block) >= block_bytes:
                yield bytes(block[:block_bytes])
                del block[:block_bytes]
        if block:
            yield bytes(block)


def _inline_prefix(display_name: str) -> bytes:
    return (
        b'{"batch":{"displayName":'
        + orjson.dumps(display_name)
        + b',"inputConfig":{"requests":{"requests":['
    )


def _rewrite(line: bytes) -> tuple[bytes, bytes]:
    """``(file line, inline entry)`` of one spooled line (no line break)."""
    if line.startswith(_HEAD):
        end = line.find(b'"', len(_HEAD))
        custom_id = line[len(_HEAD) : end]
        rest = line[end + 1 :]
        if end > 0 and b"\\" not in custom_id and rest.startswith(b',"') and line.endswith(b"}"):
            return (
                _FILE_HEAD + custom_id + b'",' + rest[1:],
                _INLINE_HEAD + custom_id + b'"},' + rest[1:],
            )
    record = orjson.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        raise ValueError("no custom_id")
    custom_id = record.pop("custom_id")
    if not isinstance(record.get("request"), dict):
        raise ValueError("no request")
    return (
        orjson.dumps({"key": custom_id, **record}),
        orjson.dumps({"metadata": {"key": custom_id}, **record}),
    )
