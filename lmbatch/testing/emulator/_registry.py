"""Which vendors the emulator knows: those installed plugins contribute, and any given to it.

Installed vendors come from the ``lmbatch_register_emulator_vendors`` hook, through the
plugin registry (loaded lazily, each plugin in isolation). A vendor class handed to an
emulator directly (``Emulator(vendors=[...])``) is remembered too, so faults naming its
operations validate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch.testing.emulator._vendor import EmulatorVendor

_lock = threading.Lock()
_given: dict[str, type[EmulatorVendor[Any]]] = {}


def installed_vendors() -> list[type[EmulatorVendor[Any]]]:
    """Every vendor the installed plugins contribute, sorted by name.

    Returns:
        The vendor classes (a vendor two plugins claim is left out, with a warning).
    """
    from lmbatch._plugins import registry

    return sorted(registry.emulator_vendors(_check), key=lambda vendor: vendor.name)


def _check(vendor: object) -> None:
    """What ``register`` accepts: an `EmulatorVendor` subclass with its name set."""
    from lmbatch.testing.emulator._vendor import EmulatorVendor

    if not (isinstance(vendor, type) and issubclass(vendor, EmulatorVendor)):
        raise TypeError(f"register() takes an EmulatorVendor subclass, not {vendor!r}")
    if not vendor.name:
        raise TypeError(f"{vendor.__qualname__} does not set `name`")


def remember(vendors: Iterable[type[EmulatorVendor[Any]]]) -> None:
    """Note vendors given to an emulator directly, so faults naming them validate."""
    with _lock:
        for vendor in vendors:
            _given[vendor.name] = vendor


def _known() -> dict[str, type[EmulatorVendor[Any]]]:
    with _lock:
        known = dict(_given)
    known.update((vendor.name, vendor) for vendor in installed_vendors())
    return known


def installed_vendor_names() -> set[str]:
    """Names of every vendor known (installed, or given to an emulator)."""
    return set(_known())


def known_operations() -> set[str]:
    """Operation names of every vendor known, for `EndpointFault` validation."""
    return {operation for vendor in _known().values() for operation in vendor.operations}
