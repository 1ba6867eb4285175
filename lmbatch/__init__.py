"""lmbatch: one async API over the batch APIs of LLM providers.

Batch APIs run requests at half the live price within 24 hours. lmbatch gives them one
contract, written once in core, with providers as plugins::

    import lmbatch
    from lmbatch import Message

    ops = lmbatch.get_batch_operations("openai", model="gpt-4.1-mini")
    requests = {"q1": "Hello", "q2": [Message.system("Be brief"), Message.user("Hi")]}
    results = await ops.invoke(requests)
    print(results["q1"].text)
"""

# Exports are loaded on first use (PEP 562): `import lmbatch` costs a few milliseconds
# instead of importing pydantic, asyncio and SQLite, so a short CLI call or a script that
# only needs one part pays only for that part. Type checkers read the imports below.

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch._attempts import (
        CHUNK_METADATA_KEY as CHUNK_METADATA_KEY,
    )
    from lmbatch._attempts import (
        JOB_ID_METADATA_KEY as JOB_ID_METADATA_KEY,
    )
    from lmbatch._batchify import Batchify, DryRunGroup, batchify
    from lmbatch._config import LMBatchConfig, get_batch_operations, load_config
    from lmbatch._cost import Cost, ModelPrices
    from lmbatch._errors import (
        AmbiguousBatchError,
        AuthenticationError,
        BatchNotFinishedError,
        BatchNotFoundError,
        BatchOverdueError,
        BatchTimeoutError,
        BudgetExceededError,
        ConfigError,
        EndpointMismatchError,
        JobStateError,
        LMBatchError,
        MissingCredentialsError,
        OperationUnsupportedError,
        PriceUnknownError,
        ProviderConflictError,
        ProviderConnectionError,
        ProviderError,
        ProviderRequestError,
        ProviderServerError,
        RateLimitError,
        ResultsIncompleteError,
        RetryInputMissingError,
        SpoolDamagedError,
        StoreError,
        SubmissionAmbiguousError,
        SubmissionUncertainError,
        UnknownProviderError,
        UntrustedURLError,
        ValidationError,
    )
    from lmbatch._estimate import Estimate
    from lmbatch._hyperparameters import Hyperparameters, ResponseSchema, Tool
    from lmbatch._jobs._options import JobOptions
    from lmbatch._jobs._poll_policy import PollPolicy
    from lmbatch._jobs._resolution import resolve
    from lmbatch._jobs._resubmit_policy import ResubmissionRound
    from lmbatch._jobs._resume import resume, wait
    from lmbatch._jobs._retry import retry
    from lmbatch._limits import ProviderLimits as ProviderLimits
    from lmbatch._map import map as map  # re-exported, not starred (see _NOT_STARRED)
    from lmbatch._map import map_sync
    from lmbatch._messages import (
        Attachment,
        LMInput,
        Message,
        MessageContent,
        MessageRole,
        ToolCall,
        ToolResult,
    )
    from lmbatch._operations import BatchOperations
    from lmbatch._operations import (
        BatchPage as BatchPage,
    )
    from lmbatch._operations import (
        ResultRecord as ResultRecord,
    )
    from lmbatch._outputs import (
        ErrorKind,
        FinishReason,
        LMError,
        LMOutput,
        OutputItem,
        RefusalOutput,
        StructuredOutput,
        TextOutput,
        ThinkingOutput,
        TokenUsage,
    )
    from lmbatch._planning import PreparedBatch as PreparedBatch
    from lmbatch._plugins import ProviderEntry
    from lmbatch._results import (
        parse_json_object as parse_json_object,
    )
    from lmbatch._results import (
        salvage_custom_id as salvage_custom_id,
    )
    from lmbatch._run import run
    from lmbatch._settings import (
        ConnectionOption as ConnectionOption,
    )
    from lmbatch._settings import (
        EndpointOption as EndpointOption,
    )
    from lmbatch._settings import (
        ProviderSettings as ProviderSettings,
    )
    from lmbatch._status import (
        BatchError,
        BatchInfo,
        BatchStatus,
        RequestCounts,
    )
    from lmbatch._status import (
        empty_counts as empty_counts,
    )
    from lmbatch._store import JobStore
    from lmbatch._store_contract import open_store
    from lmbatch.hookspecs import hookimpl as hookimpl

__version__ = "0.1.0"

# The user API. Provider-facing names (PreparedBatch, ResultRecord, ProviderSettings,
# hookimpl, ...) are exported by lmbatch.provider, the provider interface; they stay
# importable from here for code written against 0.1, but are not part of this list.
__all__ = [
    "AmbiguousBatchError",
    "Attachment",
    "AuthenticationError",
    "BatchError",
    "BatchInfo",
    "BatchNotFinishedError",
    "BatchNotFoundError",
    "BatchOperations",
    "BatchOverdueError",
    "BatchStatus",
    "BatchTimeoutError",
    "Batchify",
    "BudgetExceededError",
    "ConfigError",
    "Cost",
    "DryRunGroup",
    "EndpointMismatchError",
    "ErrorKind",
    "Estimate",
    "FinishReason",
    "Hyperparameters",
    "JobOptions",
    "JobStateError",
    "JobStore",
    "LMBatchConfig",
    "LMBatchError",
    "LMError",
    "LMInput",
    "LMOutput",
    "Message",
    "MessageContent",
    "MessageRole",
    "MissingCredentialsError",
    "ModelPrices",
    "OperationUnsupportedError",
    "OutputItem",
    "PollPolicy",
    "PriceUnknownError",
    "ProviderConflictError",
    "ProviderConnectionError",
    "ProviderEntry",
    "ProviderError",
    "ProviderRequestError",
    "ProviderServerError",
    "RateLimitError",
    "RefusalOutput",
    "RequestCounts",
    "ResponseSchema",
    "ResubmissionRound",
    "ResultsIncompleteError",
    "RetryInputMissingError",
    "SpoolDamagedError",
    "StoreError",
    "StructuredOutput",
    "SubmissionAmbiguousError",
    "SubmissionUncertainError",
    "TextOutput",
    "ThinkingOutput",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolResult",
    "UnknownProviderError",
    "UntrustedURLError",
    "ValidationError",
    "__version__",
    "available_providers",
    "batchify",
    "get_batch_operations",
    "load_config",
    "map_sync",
    "open_store",
    "resolve",
    "resume",
    "retry",
    "run",
    "wait",
]

#: Where each exported name lives.
_EXPORTS: dict[str, str] = {
    "Attachment": "lmbatch._messages",
    "AmbiguousBatchError": "lmbatch._errors",
    "AuthenticationError": "lmbatch._errors",
    "BatchError": "lmbatch._status",
    "BatchInfo": "lmbatch._status",
    "BatchNotFinishedError": "lmbatch._errors",
    "BatchNotFoundError": "lmbatch._errors",
    "BatchOperations": "lmbatch._operations",
    "BatchOverdueError": "lmbatch._errors",
    "BatchPage": "lmbatch._operations",
    "ResubmissionRound": "lmbatch._jobs._resubmit_policy",
    "BatchStatus": "lmbatch._status",
    "BatchTimeoutError": "lmbatch._errors",
    "Batchify": "lmbatch._batchify",
    "BudgetExceededError": "lmbatch._errors",
    "CHUNK_METADATA_KEY": "lmbatch._attempts",
    "ConfigError": "lmbatch._errors",
    "ConnectionOption": "lmbatch._settings",
    "EndpointMismatchError": "lmbatch._errors",
    "EndpointOption": "lmbatch._settings",
    "Cost": "lmbatch._cost",
    "DryRunGroup": "lmbatch._batchify",
    "ErrorKind": "lmbatch._outputs",
    "FinishReason": "lmbatch._outputs",
    "Estimate": "lmbatch._estimate",
    "Hyperparameters": "lmbatch._hyperparameters",
    "JOB_ID_METADATA_KEY": "lmbatch._attempts",
    "JobOptions": "lmbatch._jobs._options",
    "JobStateError": "lmbatch._errors",
    "JobStore": "lmbatch._store",
    "LMBatchConfig": "lmbatch._config",
    "LMBatchError": "lmbatch._errors",
    "LMError": "lmbatch._outputs",
    "LMInput": "lmbatch._messages",
    "LMOutput": "lmbatch._outputs",
    "Message": "lmbatch._messages",
    "MessageContent": "lmbatch._messages",
    "MessageRole": "lmbatch._messages",
    "MissingCredentialsError": "lmbatch._errors",
    "ModelPrices": "lmbatch._cost",
    "OperationUnsupportedError": "lmbatch._errors",
    "OutputItem": "lmbatch._outputs",
    "PollPolicy": "lmbatch._jobs._poll_policy",
    "PreparedBatch": "lmbatch._planning",
    "PriceUnknownError": "lmbatch._errors",
    "ProviderConflictError": "lmbatch._errors",
    "ProviderConnectionError": "lmbatch._errors",
    "ProviderEntry": "lmbatch._plugins",
    "ProviderError": "lmbatch._errors",
    "ProviderLimits": "lmbatch._limits",
    "ProviderRequestError": "lmbatch._errors",
    "ProviderServerError": "lmbatch._errors",
    "ProviderSettings": "lmbatch._settings",
    "RateLimitError": "lmbatch._errors",
    "RefusalOutput": "lmbatch._outputs",
    "RequestCounts": "lmbatch._status",
    "ResponseSchema": "lmbatch._hyperparameters",
    "ResultRecord": "lmbatch._operations",
    "ResultsIncompleteError": "lmbatch._errors",
    "RetryInputMissingError": "lmbatch._errors",
    "SpoolDamagedError": "lmbatch._errors",
    "StoreError": "lmbatch._errors",
    "StructuredOutput": "lmbatch._outputs",
    "SubmissionAmbiguousError": "lmbatch._errors",
    "SubmissionUncertainError": "lmbatch._errors",
    "TextOutput": "lmbatch._outputs",
    "ThinkingOutput": "lmbatch._outputs",
    "TokenUsage": "lmbatch._outputs",
    "Tool": "lmbatch._hyperparameters",
    "ToolCall": "lmbatch._messages",
    "ToolResult": "lmbatch._messages",
    "UnknownProviderError": "lmbatch._errors",
    "UntrustedURLError": "lmbatch._errors",
    "ValidationError": "lmbatch._errors",
    "batchify": "lmbatch._batchify",
    "empty_counts": "lmbatch._status",
    "get_batch_operations": "lmbatch._config",
    "hookimpl": "lmbatch.hookspecs",
    "load_config": "lmbatch._config",
    "map": "lmbatch._map",
    "map_sync": "lmbatch._map",
    "open_store": "lmbatch._store_contract",
    "parse_json_object": "lmbatch._results",
    "resolve": "lmbatch._jobs._resolution",
    "resume": "lmbatch._jobs._resume",
    "retry": "lmbatch._jobs._retry",
    "run": "lmbatch._run",
    "salvage_custom_id": "lmbatch._results",
    "wait": "lmbatch._jobs._resume",
}


def __getattr__(name: str) -> Any:
    if name == "worker":  # the submodule, loaded on first use
        return importlib.import_module("lmbatch.worker")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lmbatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


#: Exported, but left out of ``__all__``: ``from lmbatch import *`` must not shadow the
#: builtin ``map``. Use it as ``lmbatch.map``.
_NOT_STARRED = ("map",)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_NOT_STARRED})


def available_providers() -> list[ProviderEntry]:
    """Every installed provider, working or broken (with the reason), sorted by name."""
    from lmbatch._plugins import registry

    return registry.entries()
