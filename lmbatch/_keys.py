"""Mapping caller keys to request ids a provider accepts, and back."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from lmbatch._limits import ProviderLimits

__all__ = ["map_custom_ids"]

# Mapped ids look like "k-<hex>"; 40 hex digits of SHA-256 make collisions practically
# impossible, and the result fits the strictest known rule (Anthropic: [a-zA-Z0-9_-]{1,64}).
_PREFIX = "k-"
_DIGEST_CHARS = 40


def map_custom_ids(keys: Iterable[str], limits: ProviderLimits) -> dict[str, str]:
    """Return ``{key: custom_id}``: keys the provider accepts map to themselves.

    The mapping is deterministic (the same keys give the same ids), which makes a
    resubmitted job recognisable on the vendor side.
    """
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    needs_mapping: list[str] = []
    for key in keys:
        if limits.accepts_custom_id(key):
            mapping[key] = key
            taken.add(key)
        else:
            needs_mapping.append(key)
    for key in needs_mapping:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        candidate = _PREFIX + digest[:_DIGEST_CHARS]
        salt = 0
        # A caller key may itself look like a mapped id; never hand out one id twice.
        while candidate in taken:
            salt += 1
            salted = hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()
            candidate = _PREFIX + salted[:_DIGEST_CHARS]
        mapping[key] = candidate
        taken.add(candidate)
    return mapping
