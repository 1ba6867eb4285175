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

from __future__ import annotations

from lmbatch._config import LMBatchConfig, get_batch_operations, load_config
from lmbatch._errors import (
    AuthenticationError,
    BatchNotFinishedError,
    BatchNotFoundError,
    BatchTimeoutError,
    ConfigError,
    LMBatchError,
    MissingCredentialsError,
    OperationUnsupportedError,
    ProviderConflictError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
    UnknownProviderError,
    ValidationError,
)
from lmbatch._hyperparameters import Hyperparameters, ResponseSchema, Tool
from lmbatch._limits import ProviderLimits
from lmbatch._messages import (
    Attachment,
    LMInput,
    Message,
    MessageContent,
    MessageRole,
    ToolCall,
    ToolResult,
)
from lmbatch._operations import BatchOperations, BatchPage, ResultRecord
from lmbatch._outputs import (
    ErrorKind,
    LMError,
    LMOutput,
    OutputItem,
    RefusalOutput,
    StructuredOutput,
    TextOutput,
    ThinkingOutput,
    TokenUsage,
)
from lmbatch._planning import PreparedBatch
from lmbatch._plugins import ProviderEntry, registry
from lmbatch._results import parse_json_object, salvage_custom_id
from lmbatch._resume import resume, wait
from lmbatch._settings import ProviderSettings
from lmbatch._status import BatchError, BatchInfo, BatchStatus, RequestCounts, empty_counts
from lmbatch._store import JobStore
from lmbatch._submission import CHUNK_METADATA_KEY, JOB_ID_METADATA_KEY
from lmbatch.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "CHUNK_METADATA_KEY",
    "JOB_ID_METADATA_KEY",
    "Attachment",
    "AuthenticationError",
    "BatchError",
    "BatchInfo",
    "BatchNotFinishedError",
    "BatchNotFoundError",
    "BatchOperations",
    "BatchPage",
    "BatchStatus",
    "BatchTimeoutError",
    "ConfigError",
    "ErrorKind",
    "Hyperparameters",
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
    "OperationUnsupportedError",
    "OutputItem",
    "PreparedBatch",
    "ProviderConflictError",
    "ProviderConnectionError",
    "ProviderEntry",
    "ProviderError",
    "ProviderLimits",
    "ProviderRequestError",
    "ProviderServerError",
    "ProviderSettings",
    "RateLimitError",
    "RefusalOutput",
    "RequestCounts",
    "ResponseSchema",
    "ResultRecord",
    "StructuredOutput",
    "SubmissionUncertainError",
    "TextOutput",
    "ThinkingOutput",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolResult",
    "UnknownProviderError",
    "ValidationError",
    "__version__",
    "available_providers",
    "empty_counts",
    "get_batch_operations",
    "hookimpl",
    "load_config",
    "parse_json_object",
    "resume",
    "salvage_custom_id",
    "wait",
]


def available_providers() -> list[ProviderEntry]:
    """Every installed provider, working or broken (with the reason), sorted by name."""
    return registry.entries()
