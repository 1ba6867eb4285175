"""Registers the ``echo`` provider with lmbatch."""

from __future__ import annotations

from collections.abc import Callable

from lmbatch.provider import BatchOperations, hookimpl


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_echo.EchoBatchOperations`."""
    # Import inside the hook: a plugin costs nothing until a provider is looked up.
    from lmbatch_echo._operations import EchoBatchOperations

    register(EchoBatchOperations)
