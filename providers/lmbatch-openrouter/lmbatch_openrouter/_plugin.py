"""Registers the ``openrouter`` provider through lmbatch's plugin hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_openrouter.OpenRouterBatchOperations`."""
    from lmbatch_openrouter._operations import OpenRouterBatchOperations

    register(OpenRouterBatchOperations)
