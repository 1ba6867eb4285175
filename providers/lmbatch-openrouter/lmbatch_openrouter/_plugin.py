"""Registers the ``openrouter`` provider and its emulator routes through lmbatch's hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_openrouter.OpenRouterBatchOperations`."""
    from lmbatch_openrouter._operations import OpenRouterBatchOperations

    register(OpenRouterBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register OpenRouter's batch routes of the local emulator."""
    from lmbatch_openrouter._emulator import OpenRouterEmulator

    register(OpenRouterEmulator)
