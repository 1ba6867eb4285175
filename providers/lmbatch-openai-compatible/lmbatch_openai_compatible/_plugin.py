"""Registers the ``openai-compatible`` provider and its emulator routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lmbatch.hookspecs import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_openai_compatible.OpenAICompatibleServerBatchOperations`."""
    from lmbatch_openai_compatible._operations import OpenAICompatibleServerBatchOperations

    register(OpenAICompatibleServerBatchOperations)


@hookimpl
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register the generic OpenAI-compatible server of the local emulator."""
    from lmbatch_openai_compatible._emulator import CompatibleEmulator

    register(CompatibleEmulator)
