"""The create body, streamed from a spooled chunk, with its keys in the order OpenRouter needs.

OpenRouter parses the body as a stream: ``endpoint`` and ``model`` (and ``provider``)
must come before ``requests``, or the create is refused with a 400. A JSON library
would not promise that order, so the body is written by hand: a fixed head, then the
spooled request lines joined by commas, then ``]}``. It is read from the file as it is
sent (a batch is up to 200 MB) and measured first, so it goes out with a
``Content-Length``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from lmbatch.provider import LMBatchError

__all__ = ["CreateBody", "create_head"]

_BLOCK = 256 * 1024


def create_head(endpoint: str, model: str, provider: dict[str, Any] | None) -> bytes:
    """Everything before the first request: ``{"endpoint":…,"model":…,…,"requests":[``."""
    head: dict[str, Any] = {"endpoint": endpoint, "model": model, "completion_window": "24h"}
    if provider:
        head["provider"] = provider
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    return text[:-1].encode() + b',"requests":['


class CreateBody:
    """``head`` + the chunk's lines joined by commas + ``]}``, as an async byte stream.

    Attributes:
        length: Bytes of the whole body.
    """

    def __init__(self, path: Path, head: bytes) -> None:
        self.path = path
        self.head = head
        lines = 0
        size = 0
        for number, record in self._records():
            if not record.startswith(b"{"):
                raise LMBatchError(f"line {number} of {path} is not an encoded request")
            lines += 1
            size += len(record)
        self.length = len(head) + size + max(0, lines - 1) + 2

    def _records(self) -> Iterator[tuple[int, bytes]]:
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, line.strip()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = bytearray(self.head)
        first = True
        for _, record in self._records():
            if not first:
                block += b","
            first = False
            block += record
            if len(block) >= _BLOCK:
                yield bytes(block)
                block = bytearray(b"")
        yield bytes(block + b"]}")
