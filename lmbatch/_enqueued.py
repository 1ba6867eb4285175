"""How many input tokens an encoded request puts in a vendor's batch queue, estimated.

Vendors count what waits in their batch queue in input tokens (OpenAI, Azure, Together)
or in requests (Anthropic). lmbatch estimates the tokens of each encoded request (a line
of a chunk file) with the estimator's *upper* approximation (:mod:`lmbatch._estimate`:
one token per 3 UTF-8 bytes of text, an image or PDF by its size), over every text of
the request except its id, routing fields and model name. It errs high on purpose: a
batch the vendor refuses for its queue costs a wait, while an over-estimate costs only
a little concurrency.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from lmbatch._estimate import (
    BYTES_PER_TOKEN_UPPER,
    IMAGE_TOKENS,
    PDF_TOKENS_PER_KB,
    REQUEST_OVERHEAD,
)

__all__ = ["line_tokens"]

#: Fields of an encoded request that are not input the model reads.
_NOT_INPUT = frozenset({"custom_id", "method", "url", "model", "key", "metadata"})
#: Fields that name the media type of an inline ``data`` payload.
_MEDIA_TYPE_FIELDS = ("media_type", "mime_type", "mimeType")


def line_tokens(line: bytes) -> int:
    """The estimated input tokens of one encoded request (one JSONL line)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return _text_tokens(line.decode("utf-8", "replace"))
    return REQUEST_OVERHEAD + _tokens(record)


def _tokens(value: Any) -> int:
    if isinstance(value, str):
        if value.startswith("data:"):
            return _inline_tokens(value, pdf="pdf" in value[:64])
        return _text_tokens(value)
    if isinstance(value, dict):
        total = 0
        media = next((value[f] for f in _MEDIA_TYPE_FIELDS if isinstance(value.get(f), str)), "")
        for name, item in value.items():
            if name in _NOT_INPUT:
                continue
            if name == "data" and isinstance(item, str) and media:
                total += _inline_tokens(item, pdf="pdf" in media)
            else:
                total += _tokens(item)
        return total
    if isinstance(value, list):
        return sum(_tokens(item) for item in value)
    return 1 if value is not None else 0


def _text_tokens(text: str) -> int:
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    return math.ceil(size / BYTES_PER_TOKEN_UPPER)


def _inline_tokens(payload: str, *, pdf: bool) -> int:
    """An inline (base64) image or PDF: the estimator's upper figure for it."""
    if not pdf:
        return IMAGE_TOKENS[1]
    kilobytes = max(1, len(payload) * 3 // 4 // 1024)
    return PDF_TOKENS_PER_KB[1] * kilobytes
