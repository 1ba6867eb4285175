"""Registers the ``together`` provider (entry point ``together`` in group ``lmbatch``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lmbatch.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_together.TogetherBatchOperations`."""
    from lmbatch_together._operations import TogetherBatchOperations

    register(TogetherBatchOperations)
