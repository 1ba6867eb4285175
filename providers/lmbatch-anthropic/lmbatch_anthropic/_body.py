"""The body of a Message Batches create, streamed from a spooled chunk file.

A create sends every request of the batch in one JSON body (up to 256 MB). Building it
as Python objects and then as one JSON string costs several times its size in memory
(measured: +850 MB for a 190 MB body), for every chunk submitted at once. The spool
already holds each request's JSON, one per line, so the body is those lines joined by
commas inside ``{"requests":[...]}``: it is read from the file as it is sent, in blocks,
and its length is measured beforehand so it goes out with a ``Content-Length``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from lmbatch.provider import LMBatchError

__all__ = ["RequestsBody"]

PREFIX = b'{"requests":['
SUFFIX = b"]}"
#: Bytes handed to the HTTP client at a time (one request larger than this goes alone).
BLOCK_BYTES = 256 * 1024


class RequestsBody:
    """``{"requests":[...]}`` of one spooled chunk, as an async byte stream.

    Built before anything is sent: it reads the file once to measure the body and to
    check that every line is a JSON object, so a damaged file fails here, with the line
    named, rather than as a body the vendor refuses halfway. Iterating it again reads the
    file again (a stream that can be replayed).

    Attributes:
        path: The chunk file (one encoded request per line; blank lines are skipped).
        length: Bytes of the whole body.
        request_count: Requests in it.
    """

    def __init__(self, path: Path, *, block_bytes: int = BLOCK_BYTES) -> None:
        self.path = path
        self.block_bytes = block_bytes
        size = 0
        count = 0
        for number, record in self._records():
            try:
                valid = isinstance(json.loads(record), dict)
            except ValueError:
                valid = False
            if not valid:
                raise LMBatchError(
                    f"line {number} of {path} is not an encoded request (the spooled input "
                    "is damaged); nothing was sent: submit the requests again"
                )
            size += len(record)
            count += 1
        self.request_count = count
        # Records, the commas between them, and the envelope.
        self.length = len(PREFIX) + size + max(0, count - 1) + len(SUFFIX)

    def _records(self) -> Iterator[tuple[int, bytes]]:
        """``(line number, record)`` of every non-blank line, without its line break."""
        with self.path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                record = line.strip()
                if record:
                    yield number, record

    async def __aiter__(self) -> AsyncIterator[bytes]:
        block = bytearray(PREFIX)
        sent = 0
        first = True
        for _, record in self._records():
            if not first:
                block += b","
            first = False
            block += record
            if len(block) >= self.block_bytes:
                sent += len(block)
                yield bytes(block)
                block.clear()
        block += SUFFIX
        sent += len(block)
        if sent != self.length:
            # The file changed since it was measured: the body would not match the
            # declared length, and the vendor would get a broken request.
            raise LMBatchError(
                f"{self.path} changed while it was being sent ({sent:,} bytes read, "
                f"{self.length:,} declared)"
            )
        yield bytes(block)
