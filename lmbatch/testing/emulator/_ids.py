"""Vendor-looking identifiers: random hex or base62 strings behind a prefix."""

from __future__ import annotations

import secrets
import string

_BASE62 = string.ascii_letters + string.digits


def hex_id(prefix: str, n: int = 32) -> str:
    """``prefix`` + ``n`` lowercase hex characters (``batch_<32 hex>``, ``req_…``).

    Args:
        prefix: Text the id starts with.
        n: Number of random characters after it.

    Returns:
        The new id.
    """
    return prefix + secrets.token_hex((n + 1) // 2)[:n]


def base62_id(prefix: str, n: int = 22) -> str:
    """``prefix`` + ``n`` random letters and digits (``file-…``, ``msgbatch_01…``).

    Args:
        prefix: Text the id starts with.
        n: Number of random characters after it.

    Returns:
        The new id.
    """
    return prefix + "".join(secrets.choice(_BASE62) for _ in range(n))
