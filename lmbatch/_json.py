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

__all__ = ["dump_line", "json_problem", "load_line", "unencodable_reason"]


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


def json_problem(value: Any) -> str | None:
    """Why ``value`` cannot go into a request line as JSON, or None when it can.

    The same rules as :func:`dump_line`, plus NaN and infinities, which orjson would
    silently write as ``null``.
    """
    try:
        dump_line(value)
        json.dumps(value, allow_nan=False, default=_accepted_by_orjson)
    except (TypeError, ValueError, RecursionError) as exc:
        return unencodable_reason(exc)
    return None


def _accepted_by_orjson(value: Any) -> None:
    # Types orjson writes natively (datetime, UUID, dataclasses...) passed dump_line.
    return None


_HINTS = {
    "set": " (use a list)",
    "frozenset": " (use a list)",
    "Decimal": " (use a float or a str)",
}


def unencodable_reason(exc: BaseException) -> str:
    """Words for what :func:`dump_line` (or ``json.dumps``) raised on a value."""
    if isinstance(exc, RecursionError):
        return "is nested too deeply to write as JSON"
    if isinstance(exc, UnicodeEncodeError):
        found = exc.object[exc.start : exc.end]
        return (
            f"holds a lone surrogate ({found!r}), which is not valid Unicode text (often "
            "bytes decoded with errors='surrogateescape'); providers take UTF-8 JSON"
        )
    message = str(exc)
    if message.startswith("Object of type ") and message.endswith(" is not JSON serializable"):
        type_name = message[len("Object of type ") : -len(" is not JSON serializable")]
        return f"holds a {type_name} value, which JSON cannot carry{_HINTS.get(type_name, '')}"
    if message.startswith("Out of range float values"):
        return "holds NaN or an infinity, which JSON cannot carry"
    if message.startswith("Circular reference"):
        return "contains itself (a circular reference), which JSON cannot carry"
    return f"cannot be written as JSON ({message})"
