"""Registers the ``groq`` provider and its emulator routes (entry point ``groq``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_groq.GroqBatchOperations`."""
    from lmbatch_groq._operations import GroqBatchOperations

    register(GroqBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register Groq's routes of the local emulator."""
    from lmbatch_groq._emulator import GroqEmulator

    register(GroqEmulator)
