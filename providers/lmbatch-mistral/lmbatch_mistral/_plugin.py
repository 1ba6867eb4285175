"""Registers the ``mistral`` provider through lmbatch's plugin hook."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lmbatch.provider import hookimpl

if TYPE_CHECKING:
    from lmbatch.provider import BatchOperations


@hookimpl
def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
    """Register :class:`~lmbatch_mistral.MistralBatchOperations`."""
    from lmbatch_mistral._operations import MistralBatchOperations

    register(MistralBatchOperations)
