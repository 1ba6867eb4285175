"""Registers the ``gemini`` provider (entry point ``gemini`` in group ``lmbatch``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_gemini.GeminiBatchOperations`."""
    from lmbatch_gemini._operations import GeminiBatchOperations

    register(GeminiBatchOperations)
