"""JSON on the hot paths: one line per request written, one line per result read.

orjson does both several times faster than the standard library (measured in
``benchmarks/``: ~10× for writing request lines, ~2× for reading result lines), which is
most of what lmbatch adds per request. Where orjson is stricter than the standard
library (integers beyond 64 bits, non-string keys, lone surrogates, ``NaN``), the standard
library takes over.

One difference is kept on purpose: orjson reads an integer beyond 64 bits as a float.
:func:`load_line` is therefore only for vendor result lines, whose numbers are counts and
timestamps, and lmbatch's key files (strings and chunk numbers); what a model wrote
(structured output, tool arguments) and the request files are read with the standard
library, exactly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dump_line", "load_line"]


def dump_line(record: Any) -> bytes:
    """``record`` as one compact UTF-8 JSON line, ending in a newline.

    Non-ASCII text is written as itself (not ``\\u`` escapes), so byte limits see the
    real size. Raises ``TypeError``/``ValueError`` for what JSON cannot carry.
    """
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        # Integers beyond 64 bits, non-string keys...: the standard library's rules.
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8")


def load_line(line: str | bytes) -> Any:
    """Parse one vendor result line; raises ``ValueError`` when it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # Lone surrogate escapes, NaN...: accepted by the standard library.
        return json.loads(line)
