"""Registers the ``gemini`` provider (entry point ``gemini`` in group ``lmbatch``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_gemini.GeminiBatchOperations`."""
    from lmbatch_gemini._operations import GeminiBatchOperations

    register(GeminiBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register the Gemini batch-mode routes of the local emulator."""
    from lmbatch_gemini._emulator import GeminiEmulator

    register(GeminiEmulator)
