"""Registers the ``together`` provider and its emulator routes (entry point ``together``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_together.TogetherBatchOperations`."""
    from lmbatch_together._operations import TogetherBatchOperations

    register(TogetherBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register the Together Files + Batches routes of the local emulator."""
    from lmbatch_together._emulator import TogetherEmulator

    register(TogetherEmulator)
