"""Mapping caller keys to request ids a provider accepts, and back.

Every request id lmbatch sends ends with the job's *tag*: ``_lb`` and 10 random
characters, fresh for every job. A batch whose results carry a job's tagged ids was made
from that job's input and nobody else's, which is how an interrupted create is told apart
from a stranger's batch of the same size (see :mod:`lmbatch._jobs._reconcile`). The key map in
the job store holds the exact ids sent, so keys come back unchanged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from lmbatch._limits import ProviderLimits

__all__ = ["TAG_LENGTH", "CustomIdMapper", "new_job_tag", "strip_job_tag"]

# Mapped ids look like "k-<hex>"; 40 hex digits of SHA-256 make collisions practically
# impossible, and the result (with the tag) fits the strictest known rule (Anthropic:
# [a-zA-Z0-9_-]{1,64}).
_PREFIX = "k-"
_DIGEST_CHARS = 40
_MAPPED_SHAPE = re.compile(rf"{_PREFIX}[0-9a-f]{{{_DIGEST_CHARS}}}")

_TAG_PREFIX = "_lb"
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_TOKEN_CHARS = 10  # 50 random bits
#: Characters the job tag adds to every request id.
TAG_LENGTH = len(_TAG_PREFIX) + _TOKEN_CHARS
_TAG_AT_END = re.compile(rf"{_TAG_PREFIX}[a-z2-7]{{{_TOKEN_CHARS}}}\Z")


def new_job_tag(limits: ProviderLimits) -> str:
    """A fresh tag for a job's request ids, or ``""`` if the provider's id rule has no room.

    Fixed length, so a re-run's plan (with another tag) chunks exactly like the job's.
    """
    tag = _TAG_PREFIX + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_CHARS))
    return tag if limits.accepts_custom_id(_PREFIX + "0" * _DIGEST_CHARS + tag) else ""


def strip_job_tag(custom_id: str) -> str:
    """A request id without the job tag lmbatch appended (unchanged if it has none)."""
    found = _TAG_AT_END.search(custom_id)
    return custom_id[: found.start()] if found else custom_id


class CustomIdMapper:
    """Gives each caller key the request id the provider will see: ``mapper(key)``.

    Keys the provider accepts (with the job tag appended) map to themselves plus the tag;
    any other key maps to ``k-`` and 40 hex digits of its SHA-256, plus the tag. The
    mapping is deterministic for a given tag.

    Only caller keys that already look like mapped ids are remembered (a mapped id must
    never equal one of them), so memory does not grow with the number of requests.

    Args:
        keys: Every caller key of the job.
        limits: The provider's id rules.
        tag: The job tag appended to every id (``""``: none).
    """

    def __init__(self, keys: Iterable[str], limits: ProviderLimits, tag: str = "") -> None:
        self.limits = limits
        self.tag = tag
        self._reserved = {
            key
            for key in keys
            if key.startswith(_PREFIX) and _MAPPED_SHAPE.fullmatch(key) and self._accepts(key)
        }

    def _accepts(self, key: str) -> bool:
        return bool(key) and self.limits.accepts_custom_id(key + self.tag)

    def __call__(self, key: str) -> str:
        if self._accepts(key):
            return key + self.tag
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        candidate = _PREFIX + digest[:_DIGEST_CHARS]
        salt = 0
        # A caller key may itself look like a mapped id; never hand out one id twice.
        while candidate in self._reserved:
            salt += 1
            salted = hashlib.sha256(f"{salt}:{key}".encode("utf-8", "surrogatepass")).hexdigest()
            candidate = _PREFIX + salted[:_DIGEST_CHARS]
        return candidate + self.tag
