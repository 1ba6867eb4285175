"""Registers the built-in ``fake`` provider through the ordinary plugin hook."""

from __future__ import annotations

from collections.abc import Callable

from lmbatch._operations import BatchOperations
from lmbatch.hookspecs import hookimpl


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch.testing.FakeBatchOperations`."""
    from lmbatch.testing._fake import FakeBatchOperations

    register(FakeBatchOperations)
