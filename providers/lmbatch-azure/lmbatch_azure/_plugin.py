"""Registers the ``azure`` provider and its emulator routes (entry point ``azure``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_azure.AzureBatchOperations`."""
    from lmbatch_azure._operations import AzureBatchOperations

    register(AzureBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register Azure OpenAI's routes of the local emulator."""
    from lmbatch_azure._emulator import AzureEmulator

    register(AzureEmulator)
