"""Registers the ``mistral`` provider and its emulator routes through lmbatch's hooks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_mistral.MistralBatchOperations`."""
    from lmbatch_mistral._operations import MistralBatchOperations

    register(MistralBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register Mistral's batch routes of the local emulator."""
    from lmbatch_mistral._emulator import MistralEmulator

    register(MistralEmulator)
