"""OpenAI Batch API provider for lmbatch (provider name ``openai``), the base class of
every vendor that speaks the same protocol, and the chat-completions body codec.

Install ``lmbatch-openai`` and select it by name::

    ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")

A vendor whose API is OpenAI's Files + Batches protocol is a small subclass of
:class:`OpenAICompatibleBatchOperations` (see its docstring). A vendor with another batch
API but OpenAI-shaped chat bodies (OpenRouter, Mistral...) reuses the codec:
:func:`encode_chat_body`, :func:`validate_chat_request`,
:func:`validate_chat_hyperparameters` and :func:`decode_chat_completion` (raising
:class:`UnreadableAnswerError`), :func:`batch_info` when its batch objects are OpenAI's,
:data:`TRANSIENT_ERROR_CODES`, and in its emulator :func:`emulated_chat_completion`.

Importing this package is cheap: the operations classes and the ``openai`` SDK load on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch_openai._compatible import TRANSIENT_ERROR_CODES, OpenAICompatibleBatchOperations
    from lmbatch_openai._decoding import UnreadableAnswerError, decode_chat_completion
    from lmbatch_openai._emulator._responder import emulated_chat_completion
    from lmbatch_openai._encoding_chat import (
        chat_attachment,
        encode_chat_body,
        validate_chat_hyperparameters,
        validate_chat_request,
    )
    from lmbatch_openai._operations import OpenAIBatchOperations
    from lmbatch_openai._settings import OpenAICompatibleSettings, OpenAISettings
    from lmbatch_openai._status import batch_info

__all__ = [
    "TRANSIENT_ERROR_CODES",
    "OpenAIBatchOperations",
    "OpenAICompatibleBatchOperations",
    "OpenAICompatibleSettings",
    "OpenAISettings",
    "UnreadableAnswerError",
    "batch_info",
    "chat_attachment",
    "decode_chat_completion",
    "emulated_chat_completion",
    "encode_chat_body",
    "validate_chat_hyperparameters",
    "validate_chat_request",
]

# Where each public name lives; imported on first use.
_HOMES = {
    "OpenAIBatchOperations": "_operations",
    "OpenAICompatibleBatchOperations": "_compatible",
    "OpenAISettings": "_settings",
    "OpenAICompatibleSettings": "_settings",
    "TRANSIENT_ERROR_CODES": "_compatible",
    "batch_info": "_status",
    "UnreadableAnswerError": "_decoding",
    "decode_chat_completion": "_decoding",
    "emulated_chat_completion": "_emulator._responder",  # needs lmbatch's emulator extra
    "chat_attachment": "_encoding_chat",
    "encode_chat_body": "_encoding_chat",
    "validate_chat_hyperparameters": "_encoding_chat",
    "validate_chat_request": "_encoding_chat",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
