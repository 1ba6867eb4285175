"""Registers the ``anthropic`` provider and its emulator routes through lmbatch's hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_anthropic.AnthropicBatchOperations`."""
    from lmbatch_anthropic._operations import AnthropicBatchOperations

    register(AnthropicBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register the Message Batches routes of the local emulator."""
    from lmbatch_anthropic._emulator import AnthropicEmulator

    register(AnthropicEmulator)
