"""Mapping caller keys to request ids a provider accepts, and back."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from lmbatch._limits import ProviderLimits

__all__ = ["CustomIdMapper"]

# Mapped ids look like "k-<hex>"; 40 hex digits of SHA-256 make collisions practically
# impossible, and the result fits the strictest known rule (Anthropic: [a-zA-Z0-9_-]{1,64}).
_PREFIX = "k-"
_DIGEST_CHARS = 40
_MAPPED_SHAPE = re.compile(rf"{_PREFIX}[0-9a-f]{{{_DIGEST_CHARS}}}")


class CustomIdMapper:
    """Gives each caller key the request id the provider will see: ``mapper(key)``.

    Keys the provider accepts map to themselves; any other key maps to ``k-`` and 40 hex
    digits of its SHA-256. The mapping is deterministic (the same keys give the same
    ids), which makes a resubmitted job recognisable on the vendor side.

    Only caller keys that already look like mapped ids are remembered (a mapped id must
    never equal one of them), so memory does not grow with the number of requests.
    """

    def __init__(self, keys: Iterable[str], limits: ProviderLimits) -> None:
        self.limits = limits
        self._reserved = {
            key
            for key in keys
            if key.startswith(_PREFIX)
            and _MAPPED_SHAPE.fullmatch(key)
            and limits.accepts_custom_id(key)
        }

    def __call__(self, key: str) -> str:
        if self.limits.accepts_custom_id(key):
            return key
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        candidate = _PREFIX + digest[:_DIGEST_CHARS]
        salt = 0
        # A caller key may itself look like a mapped id; never hand out one id twice.
        while candidate in self._reserved:
            salt += 1
            salted = hashlib.sha256(f"{salt}:{key}".encode("utf-8", "surrogatepass")).hexdigest()
            candidate = _PREFIX + salted[:_DIGEST_CHARS]
        return candidate
