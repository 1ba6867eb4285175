"""The hooks a plugin implements. Their docstrings are the contract.

A plugin is a module (or object) with functions decorated by :data:`lmbatch.hookimpl`,
found through the ``lmbatch`` entry-point group::

    # pyproject.toml of the plugin's distribution
    [project.entry-points.lmbatch]
    myvendor = "lmbatch_myvendor._plugin"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor

__all__ = [
    "PROJECT_NAME",
    "hookimpl",
    "hookspec",
    "lmbatch_register_emulator_vendors",
    "lmbatch_register_providers",
]

PROJECT_NAME = "lmbatch"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorator marking a plugin's implementation of an lmbatch hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register the provider classes this plugin offers.

    Call ``register(SomeBatchOperations)`` once per provider class. The class's ``name``
    attribute is the name users select it by, and should equal the plugin's entry-point
    name. Import vendor SDKs lazily (inside the provider's methods), not here: every
    installed plugin's hook runs the first time any provider is looked up.

    Args:
        register: Callback that records a :class:`lmbatch.BatchOperations` subclass.
    """


@hookspec
def lmbatch_register_emulator_vendors(
    register: Callable[[type[EmulatorVendor[Any]]], None],
) -> None:
    """Register this plugin's vendors for the local batch-API emulator.

    Call ``register(SomeEmulatorVendor)`` once per vendor: a subclass of
    :class:`lmbatch.testing.emulator.EmulatorVendor` with its ``name`` set (usually the
    provider's name), whose routes answer as the vendor's API does. Every emulator
    (``lmbatch emulator``, ``lmbatch.testing.emulator.Emulator``, ``create_app``) then
    serves them beside the other installed vendors. The hook runs only when an emulator
    is built, never at plugin load: import the emulator module (and so Starlette, the
    ``emulator`` extra) inside the hook.

    Args:
        register: Callback that records an ``EmulatorVendor`` subclass.
    """
