"""Provider limits, declared as data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

__all__ = ["ProviderLimits", "QueueLimit"]


@dataclass(frozen=True)
class ProviderLimits:
    """What one provider batch may hold, and which request ids the provider accepts.

    Attributes:
        max_requests_per_batch: Most requests one vendor batch may hold.
        max_bytes_per_batch: Most bytes of encoded input one vendor batch may hold.
        custom_id_pattern: Regular expression a request id must match in full, or None
            when any string is accepted.
        custom_id_max_length: Longest request id accepted, or None.
        headroom: Fraction of the byte and count limits core actually fills, so that
            encoding differences never push a batch over the vendor's limit.
    """

    max_requests_per_batch: int
    max_bytes_per_batch: int
    custom_id_pattern: str | None = None
    custom_id_max_length: int | None = None
    headroom: float = 0.95

    @cached_property
    def _compiled_pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.custom_id_pattern) if self.custom_id_pattern else None

    def accepts_custom_id(self, custom_id: str) -> bool:
        """Whether ``custom_id`` can be sent to the vendor unchanged."""
        if not custom_id:
            return False
        if self.custom_id_max_length is not None and len(custom_id) > self.custom_id_max_length:
            return False
        pattern = self._compiled_pattern
        return pattern is None or pattern.fullmatch(custom_id) is not None

    @property
    def planned_requests_per_batch(self) -> int:
        """Requests core puts in one batch (the limit less headroom, at least 1)."""
        if self.max_requests_per_batch <= 100:
            return self.max_requests_per_batch
        return max(1, int(self.max_requests_per_batch * self.headroom))

    @property
    def planned_bytes_per_batch(self) -> int:
        """Bytes core puts in one batch (the limit less headroom)."""
        return max(1, int(self.max_bytes_per_batch * self.headroom))


@dataclass(frozen=True)
class QueueLimit:
    """How much a vendor lets wait in its batch queue at once (a provider's declaration).

    Vendors cap what is *enqueued*: the input tokens (OpenAI, Azure, Together) or the
    requests (Anthropic, OpenAI embeddings) of batches not yet finished. A batch that
    would go over the cap is failed by the vendor (OpenAI: ``token_limit_exceeded``), so
    lmbatch holds chunks back until earlier batches end (see
    :mod:`lmbatch._jobs._queue`). None means unknown, or unlimited.

    Attributes:
        tokens: Input tokens of unfinished batches the vendor accepts at most.
        requests: Requests of unfinished batches the vendor accepts at most.
        per_model: Whether each model has its own queue (OpenAI, Azure deployments,
            Together); False when one cap is shared by every model (Anthropic).
        source: Where the figure comes from (shown in docs and messages).
    """

    tokens: int | None = None
    requests: int | None = None
    per_model: bool = True
    source: str = ""

    @property
    def is_limited(self) -> bool:
        """Whether the limit caps anything."""
        return self.tokens is not None or self.requests is not None
