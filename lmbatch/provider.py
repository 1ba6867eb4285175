"""The public provider interface: everything a provider plugin imports from core.

A provider is a subclass of :class:`BatchOperations` named ``<Vendor>BatchOperations``,
registered through the :func:`~lmbatch.hookspecs.lmbatch_register_providers` hook. It
*declares* what core can do for it (class attributes: ``name``, ``settings_class``,
``api_key_env``, ``default_base_url``, ``base_url_env``, ``limits``, ``queue_limits``,
``supported_methods``, discounts, ...) and *implements* only the wire translation, in the
public methods :class:`BatchOperations` documents for providers:

==========================  ==================================================
``encode_request``          one request → the vendor's JSON record (abstract)
``submit_batch``            send one :class:`PreparedBatch`, return the batch id (abstract)
``fetch_batch``             the vendor's view of one batch as :class:`BatchInfo` (abstract)
``iter_result_lines``       stream the raw lines of a terminal batch's JSONL results
                            (required with ``decode_record``, unless
                            ``iter_result_records`` is overridden)
``decode_record``           one parsed result line → :class:`ResultRecord`
``result_context``          what ``decode_record`` needs of one batch (optional)
``iter_result_records``     stream results as :class:`ResultRecord`; the default reads
                            JSONL with the two above (override for other formats)
``list_batches_page``       one :class:`BatchPage` of the vendor's batches (optional)
``cancel_batch``            ask the vendor to cancel (optional)
``validate_hyperparameters``  refuse settings the vendor cannot take (optional)
``validate_request``        refuse one request the vendor cannot take (optional)
``request_fields``          the vendor's documented body fields (optional)
``batch_context``           facts to keep for reading results later (optional)
``count_input_tokens``      the vendor's token count of one request (optional)
``max_output_tokens``       the output-token bound of a request (optional)
``check_ready``             refuse to start without model or credentials (optional;
                            the base checks both)
``create_started``          *called by* ``submit_batch`` right before the create call
``api_key``, ``base_url``   *called by* the provider: the key and base URL in effect
``settings_overrides``      settings fields a family's declarations need (optional,
                            for base classes of several vendors)
``decode_result_line``      *called by* core: one JSONL line → :class:`ResultRecord`
``find_submitted_batch``    find the batch of an interrupted create (optional)
``vendor_date``             the vendor's clock (HTTP ``Date``) (optional)
``after_results``           clean up once results were read (optional)
``aclose``                  close network clients (optional)
``parse_webhook_event``     a verified webhook delivery → :class:`WebhookEvent`
                            (optional, with ``webhook_secret_env``)
``verify_webhook``          check a delivery's signature (optional; the base checks
                            Standard Webhooks signatures)
==========================  ==================================================

Everything else (validation, key mapping, splitting, the job store, submission,
reconciliation, polling, resubmission, exactly one outcome per key, the error boundary,
cost) is core's and is not inherited: providers never override the user-facing methods.
Core also decides what a vendor's answer means: a provider extracts the HTTP status,
message, request id and code from its SDK's exception and calls :func:`error_for_status`;
a failed create goes through :func:`create_failure` (a 4xx is a refusal, anything else
leaves the batch uncertain: :func:`create_uncertain`). A request's failure is resubmitted
when its ``LMError.transient`` is set (by the HTTP status, or by the decoder for the
vendor's codes).

Compatibility promise: the names in ``__all__`` keep their meaning within one
:data:`PROVIDER_INTERFACE_VERSION`. A change that would break a provider written against
it (a removed or renamed name, a new abstract method, a changed signature) comes with a
new version number; additions (new optional methods, new helpers) do not. A provider can
check the version it was written for::

    from lmbatch.provider import PROVIDER_INTERFACE_VERSION

    assert PROVIDER_INTERFACE_VERSION == 1
"""

from __future__ import annotations

from lmbatch._attempts import CHUNK_METADATA_KEY, JOB_ID_METADATA_KEY
from lmbatch._call_errors import (
    create_failure,
    create_uncertain,
    error_for_status,
    is_definite_refusal,
)
from lmbatch._errors import (
    AuthenticationError,
    BatchNotFoundError,
    ConfigError,
    LMBatchError,
    MissingCredentialsError,
    OperationUnsupportedError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
    UntrustedURLError,
    ValidationError,
    is_transient_status,
)
from lmbatch._hyperparameters import Hyperparameters, ResponseSchema, Tool, check_vendor_fields
from lmbatch._inputs import normalize_input
from lmbatch._json import load_line
from lmbatch._keys import strip_job_tag
from lmbatch._limits import ProviderLimits, QueueLimit
from lmbatch._messages import Attachment, Message, MessageRole, ToolCall, ToolResult
from lmbatch._operations import ALL_METHODS, BatchOperations, BatchPage, ResultRecord
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
    finish_reason_of,
    unchecked_success,
)
from lmbatch._planning import PreparedBatch
from lmbatch._results import parse_json_object, salvage_custom_id
from lmbatch._settings import ConnectionOption, EndpointOption, ProviderSettings
from lmbatch._status import BatchError, BatchInfo, BatchStatus, RequestCounts, empty_counts
from lmbatch._store_contract import Store
from lmbatch._unchecked import build_unchecked
from lmbatch._urls import download_url
from lmbatch._wakes import WebhookEvent, WebhookSignatureError
from lmbatch.hookspecs import hookimpl

PROVIDER_INTERFACE_VERSION = 1
"""The version of this interface (see the compatibility promise in the module docstring)."""

__all__ = [
    "ALL_METHODS",
    "CHUNK_METADATA_KEY",
    "JOB_ID_METADATA_KEY",
    "PROVIDER_INTERFACE_VERSION",
    "Attachment",
    "AuthenticationError",
    "BatchError",
    "BatchInfo",
    "BatchNotFoundError",
    "BatchOperations",
    "BatchPage",
    "BatchStatus",
    "ConfigError",
    "ConnectionOption",
    "EndpointOption",
    "ErrorKind",
    "FinishReason",
    "Hyperparameters",
    "LMBatchError",
    "LMError",
    "LMOutput",
    "Message",
    "MessageRole",
    "MissingCredentialsError",
    "OperationUnsupportedError",
    "OutputItem",
    "PreparedBatch",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderLimits",
    "ProviderRequestError",
    "ProviderServerError",
    "ProviderSettings",
    "QueueLimit",
    "RateLimitError",
    "RefusalOutput",
    "RequestCounts",
    "ResponseSchema",
    "ResultRecord",
    "Store",
    "StructuredOutput",
    "SubmissionUncertainError",
    "TextOutput",
    "ThinkingOutput",
    "TokenUsage",
    "Tool",
    "ToolCall",
    "ToolResult",
    "UntrustedURLError",
    "ValidationError",
    "WebhookEvent",
    "WebhookSignatureError",
    "build_unchecked",
    "check_vendor_fields",
    "create_failure",
    "create_uncertain",
    "download_url",
    "empty_counts",
    "error_for_status",
    "finish_reason_of",
    "hookimpl",
    "is_definite_refusal",
    "is_transient_status",
    "load_line",
    "normalize_input",
    "parse_json_object",
    "salvage_custom_id",
    "strip_job_tag",
    "unchecked_success",
]
