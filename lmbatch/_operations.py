"""`BatchOperations`: the one contract, written once for every provider.

Providers subclass :class:`BatchOperations` and implement a handful of small primitives
(``encode_request``, ``submit_batch``, ``fetch_batch``, ``iter_result_records``,
``list_batches_page``, ``cancel_batch``) and declare their limits as data. Everything a
user relies on lives here: input validation, key mapping, splitting over limits, the job
store, polling, exactly one outcome per key, and the error boundary.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
)
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, NamedTuple, TypedDict, TypeVar

import pydantic
from pydantic import SecretStr

from lmbatch._connections import endpoint_mismatch, select_recorded
from lmbatch._deadline import Deadline, current_deadline, deadline_scope, suspended_deadline
from lmbatch._downloads import ResultDownload
from lmbatch._errors import (
    BatchNotFinishedError,
    BatchNotFoundError,
    BatchOverdueError,
    BatchTimeoutError,
    LMBatchError,
    MissingCredentialsError,
    OperationUnsupportedError,
    ProviderError,
    SubmissionUncertainError,
    ValidationError,
)
from lmbatch._estimate import (
    VENDOR_COUNT_SAMPLE,
    CountTokens,
    Estimate,
    check_budget,
    estimate_requests,
    estimate_requests_counted,
    parse_max_cost,
)
from lmbatch._hyperparameters import Hyperparameters, check_vendor_fields
from lmbatch._json import load_line
from lmbatch._keys import CustomIdMapper, new_job_tag, strip_job_tag
from lmbatch._ledger import CostTally, ResubmissionBudget, batch_pricer, cost_facts
from lmbatch._limits import ProviderLimits
from lmbatch._messages import LMInput, Message
from lmbatch._outputs import FINISH_REASONS, LMError, LMOutput
from lmbatch._planning import (
    BatchPlan,
    PreparedBatch,
    plan_batches,
    replan_records,
    spool_error,
)
from lmbatch._private import make_private_dir
from lmbatch._reconcile import settle_adopted, verify_parts
from lmbatch._results import StructuredOutputValidator, salvage_custom_id
from lmbatch._settings import (
    EndpointOption,
    ProviderSettings,
    derive_settings,
    validate_settings,
)
from lmbatch._spool import adopt_plan_chunk, plan_chunk_file, requests_at_hand, sound_sources
from lmbatch._status import BatchInfo, BatchStatus, empty_counts
from lmbatch._store import JobRecord
from lmbatch._store_contract import Store, open_store
from lmbatch._store_location import resolve_store
from lmbatch._submission import (
    JOB_ID_METADATA_KEY,
    create_started,
    discard_spool,
    submit_pending,
)

__all__ = [
    "ALL_METHODS",
    "BatchOperations",
    "BatchPage",
    "PreparedBatch",
    "ResubmissionRound",
    "ResultRecord",
]

logger = logging.getLogger("lmbatch")

ALL_METHODS = frozenset({"create", "status", "info", "retrieve", "list", "cancel", "invoke"})
#: Resubmission rounds ``invoke`` runs by default.
DEFAULT_RESUBMIT_ROUNDS = 2
#: How old a job may be for ``invoke`` to re-attach to it instead of submitting again.
REUSE_WINDOW_SECONDS = 7 * 24 * 3600
#: Seconds ``invoke``, ``lmbatch.wait`` and ``lmbatch.resume`` wait at most unless given a
#: ``timeout`` (None waits without limit): one full 24 h completion window, with room for
#: resubmission rounds, which are small.
DEFAULT_TIMEOUT = 48 * 3600.0
#: How long a batch may still run past its ``expires_at`` (or its creation plus the
#: provider's ``completion_window``) before waiting stops with ``BatchOverdueError``:
#: vendors end late batches as expired within minutes; this leaves ample room.
OVERDUE_MARGIN_SECONDS = 3 * 3600.0
_T = TypeVar("_T")
# Module-level aliases: inside the class body `list` names the `list()` method.
_BatchPart = tuple[BatchInfo, JobRecord | None, int | None]
_BatchParts = list[_BatchPart]
_BatchDicts = list[dict[str, Any]]


class ResultRecord(NamedTuple):
    """One result line, decoded by a provider.

    Attributes:
        custom_id: The id the request was sent with, or None when the line was so broken
            that it could not be read.
        output: The decoded outcome (an ``LMOutput`` with ``error`` set for failures).
    """

    custom_id: str | None
    output: LMOutput


class BatchPage(NamedTuple):
    """One page of a provider's batch list."""

    batches: list[BatchInfo]
    next_cursor: str | None


@dataclass(frozen=True)
class _Target:
    """What an id names: a vendor batch (maybe within a job) or a whole job."""

    id: str
    job: JobRecord | None
    chunk_index: int | None  # None with a job: the whole job

    @property
    def is_job(self) -> bool:
        return self.job is not None and self.chunk_index is None


class BatchOperations(ABC):
    """Create, watch and read batches of LLM requests on one provider.

    Get one with :func:`lmbatch.get_batch_operations`. Every public method is a
    coroutine; ids returned by :meth:`create` work with every other method.

    Class attributes providers set:
        name: The provider name users select (also the entry-point name).
        settings_class: The provider's :class:`ProviderSettings` subclass.
        limits: What one vendor batch may hold (:class:`ProviderLimits`).
        supported_methods: The public methods this provider offers.
        result_line_states: The request-count states the vendor writes result lines for.
        marks_create_start: Whether ``submit_batch`` calls :meth:`create_started`
            right before its create call (see there).
        completion_window: Seconds the vendor takes at most to end a batch, counted
            from its creation, when a batch carries no ``expires_at``; None when the
            vendor has no such window (batches are then only bounded by the caller's
            timeout).
        batch_discount: The share of the list price the vendor's batch API takes off
            (0.5: batches cost half). 0 unless the provider declares it, so a cost is
            never under-estimated.
        batch_cache_discount: The batch discount on cached input tokens, where the
            vendor does not stack it with the cache discount (None: ``batch_discount``).
        price_provider: The provider's id in the price library (default: ``name``).
        stamps_batch_metadata: Whether the vendor keeps the ``metadata`` lmbatch stamps
            on every batch (job id and chunk) and lists it back: an interrupted create is
            then found by its stamp alone.
        checks_model_names: Whether a model name must be in the price library's model
            list (with a did-you-mean), unless ``allow_unknown_model=True``.
        api_key_env: The environment variables the API key is read from, in order,
            when the ``api_key`` option is not given (see :meth:`api_key`). Empty: the
            provider needs no key.
        default_base_url: The vendor's API base URL, used when neither the
            ``base_url`` option nor ``base_url_env`` is set (see :meth:`base_url`).
        base_url_env: The environment variable that sets the base URL.

    ``default_base_url`` and ``base_url_env`` are also what the settings' ``base_url``
    option says (its :class:`EndpointOption`, which the job store records): a subclass
    that declares other values gets a settings class derived to match
    (``<Vendor>Settings``), and one that declares none takes them from its settings.
    """

    name: ClassVar[str] = ""
    settings_class: ClassVar[type[ProviderSettings]] = ProviderSettings
    api_key_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str | None] = None
    base_url_env: ClassVar[str | None] = None
    limits: ProviderLimits = ProviderLimits(
        max_requests_per_batch=50_000, max_bytes_per_batch=100 * 1024 * 1024
    )
    supported_methods: ClassVar[frozenset[str]] = ALL_METHODS
    #: Request-count states (keys of :class:`RequestCounts`) the vendor writes one result
    #: line for: a results download is checked against them, and read again when short.
    result_line_states: ClassVar[frozenset[str]] = frozenset({"succeeded", "errored"})
    #: Pauses (seconds) before reading a results download again after it failed or came
    #: back short; one more attempt than pauses.
    result_download_delays: tuple[float, ...] = (1.0, 4.0, 15.0)
    marks_create_start: ClassVar[bool] = False
    completion_window: ClassVar[float | None] = 24 * 3600.0
    batch_discount: ClassVar[float] = 0.0
    batch_cache_discount: ClassVar[float | None] = None
    price_provider: ClassVar[str | None] = None
    stamps_batch_metadata: ClassVar[bool] = False
    #: Refuse model names the maintained model list (the price library's) does not know.
    checks_model_names: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if isinstance(cls.api_key_env, str):  # one name given bare: ("NAME",) was meant
            cls.api_key_env = (cls.api_key_env,)
        marker = cls.settings_class.endpoint_options().get("base_url")
        if marker is not None and cls.default_base_url is None and cls.base_url_env is None:
            # Declared only in the settings (as providers did before these attributes).
            cls.default_base_url, cls.base_url_env = marker.default, marker.env_var
        fields = cls.settings_overrides()
        if fields:
            stem = cls.__name__.removesuffix("BatchOperations") or cls.__name__
            cls.settings_class = derive_settings(
                cls.settings_class, f"{stem}Settings", cls.__module__, fields
            )

    @classmethod
    def settings_overrides(cls) -> dict[str, tuple[Any, Any]]:
        """Settings fields this class's declarations need that ``settings_class`` lacks.

        ``{name: (annotation, default)}``; when not empty, the class gets a settings
        class derived from ``settings_class`` with these fields. The base gives
        ``base_url`` when its :class:`EndpointOption` disagrees with
        ``default_base_url``/``base_url_env``. A base class for a family of vendors
        (:class:`lmbatch_openai.OpenAICompatibleBatchOperations`) extends it for what
        its members declare (call ``super()``).
        """
        if "base_url" not in cls.settings_class.model_fields:
            return {}
        marker = cls.settings_class.endpoint_options().get("base_url")
        declared = (cls.base_url_env, cls.default_base_url)
        if marker is not None and (marker.env_var, marker.default) == declared:
            return {}
        option = EndpointOption(env_var=cls.base_url_env, default=cls.default_base_url)
        return {"base_url": (Annotated[str | None, option], None)}

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> None:
        cls = type(self)
        reads_results = cls.iter_result_records is not BatchOperations.iter_result_records or (
            cls.iter_result_lines is not BatchOperations.iter_result_lines
            and cls.decode_record is not BatchOperations.decode_record
        )
        if not reads_results:
            raise TypeError(
                f"{cls.__name__} must implement iter_result_records, or iter_result_lines "
                "and decode_record"
            )
        if settings is None:
            settings = validate_settings(self.settings_class, self.name, options)
        elif options:
            raise TypeError("pass either settings or options, not both")
        self.settings = settings
        #: How many vendor batches of one job are submitted at the same time.
        self.max_concurrent_submissions = settings.max_concurrent_submissions
        self._store_arg = store
        self._store: Store | None = store if isinstance(store, Store) else None
        # Response models given to create() in this process, by job id: used to parse
        # structured output into the caller's own class.
        self._response_models: dict[str, type[pydantic.BaseModel]] = {}
        # Fresh plans of the caller's requests, by job id, while a create() or invoke()
        # call holds them: damaged spool files of the job are rebuilt from them.
        self._spool_sources: dict[str, Callable[[], BatchPlan]] = {}
        # (batch id, vendor status) pairs already logged as unknown: logged once each.
        self._unknown_statuses: set[tuple[str, str]] = set()
        # (vendor clock minus ours, monotonic time read), see lmbatch._reconcile.
        self._vendor_clock: tuple[float, float] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.settings.model!r})"

    async def __aenter__(self) -> BatchOperations:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # noqa: B027
        """Release network clients; providers with clients override this."""

    @property
    def store(self) -> Store:
        """The job store this instance records batches in."""
        if self._store is None:
            configured = self._store_arg
            assert not isinstance(configured, Store)
            self._store = open_store(resolve_store(configured))
        return self._store

    @property
    def model(self) -> str | None:
        """The configured model."""
        return self.settings.model

    @property
    def connection(self) -> dict[str, Any]:
        """The non-secret connection options in effect (recorded with every job)."""
        return self.settings.connection_values()

    @property
    def endpoint_identity(self) -> str:
        """Which endpoint these operations talk to ("": the vendor's default).

        Batch ids are unique per provider and endpoint identity in the job store.
        """
        return type(self.settings).endpoint_identity(self.connection)

    # ------------------------------------------------------------------ primitives
    # Providers implement these. They raise lmbatch errors (a provider maps its SDK's
    # exceptions in one place); anything else that escapes is wrapped by core.

    def check_ready(self) -> None:
        """Refuse to start a submission that cannot succeed: no model, no credentials.

        ``create`` and ``invoke`` call it before anything is recorded or sent, so a missing
        key or model never leaves a job behind, on every provider alike. The base checks
        the API key of providers that declare ``api_key_env`` (:meth:`api_key`), then
        the model; providers that need more extend it (calling ``super()``).
        """
        if self.api_key_env:
            self.api_key()
        if not self.settings.model:
            env = f"LMBATCH_{self.name.upper().replace('-', '_')}_MODEL"
            raise ValidationError(
                f"the {self.name} provider needs a model: pass model=..., set {env}, "
                f'or put model = "..." under [providers.{self.name}] in lmbatch.toml'
            )
        self._check_model_name(self.settings.model)

    def api_key(self) -> str:
        """The API key: the ``api_key`` option, else the first of ``api_key_env`` set.

        Read when it is needed (building the client), so a key set in the environment
        later is used, and never kept anywhere else.

        Raises:
            MissingCredentialsError: None is set; it names the variables.
        """
        option = getattr(self.settings, "api_key", None)
        if isinstance(option, SecretStr):
            option = option.get_secret_value()
        if isinstance(option, str) and option:
            return option
        for env_var in self.api_key_env:
            value = os.environ.get(env_var)
            if value:
                return value
        where = (
            f"set {' or '.join(self.api_key_env)} in the environment (or pass api_key=...)"
            if self.api_key_env
            else "pass api_key=..."
        )
        raise MissingCredentialsError(
            f"the {self.name} provider needs an API key: {where}", env_vars=self.api_key_env
        )

    def base_url(self) -> str | None:
        """The API base URL: the ``base_url`` option, else ``base_url_env``, else
        ``default_base_url`` (None when none is declared: the SDK's default)."""
        value = getattr(self.settings, "base_url", None)
        if isinstance(value, str) and value:
            return value
        if self.base_url_env:
            value = os.environ.get(self.base_url_env)
            if value:
                return value
        return self.default_base_url

    def _check_model_name(self, model: str) -> None:
        """Refuse a model name the maintained model list does not know (a typo...).

        Only for providers that set ``checks_model_names``; a model with a price of its
        own in the settings, or ``allow_unknown_model=True``, passes.
        """
        settings = self.settings
        if not self.checks_model_names or settings.allow_unknown_model:
            return
        if model in settings.prices:
            return
        from lmbatch._cost import unknown_model_problem

        problem = unknown_model_problem(self.price_provider or self.name, model)
        if problem is not None:
            raise ValidationError(problem)

    def request_fields(self) -> tuple[str, frozenset[str]] | None:
        """What the vendor's request body documents: ``(label, field names)``.

        A provider that declares them gets the one rule of every provider: a
        hyperparameter that is neither portable, nor one of these fields, nor under
        ``extra_body`` is refused before anything is sent, with a did-you-mean (see
        :func:`lmbatch._hyperparameters.check_vendor_fields`). ``label`` names the
        fields' owner in that message (``openai /v1/responses``). None (the default):
        the provider checks pass-through names itself, or sends them as they are.
        """
        return None

    def _checked_hyperparameters(self, hyperparameters: dict[str, Any] | None) -> Hyperparameters:
        """The caller's hyperparameters, validated by core and by the provider."""
        params = Hyperparameters.from_mapping(hyperparameters)
        declared = self.request_fields()
        if declared is not None:
            label, fields = declared
            check_vendor_fields(params, fields, where=label)
        self.validate_hyperparameters(params)
        return params

    def validate_hyperparameters(self, params: Hyperparameters) -> None:  # noqa: B027
        """Refuse settings this provider cannot take (raise :class:`ValidationError`)."""

    def validate_request(  # noqa: B027
        self, key: str, messages: list[Message], params: Hyperparameters
    ) -> None:
        """Refuse a request this provider cannot take (raise :class:`ValidationError`)."""

    def max_output_tokens(self, params: Hyperparameters) -> int | None:
        """Most output tokens one request may produce (the bound used by ``max_cost``).

        ``max_tokens`` by default; a provider that sends a default when none is given
        returns that default.
        """
        return params.max_tokens

    def batch_context(self, params: Hyperparameters) -> dict[str, Any]:
        """JSON-able facts needed later to read results (e.g. the endpoint used)."""
        return {}

    async def count_input_tokens(
        self, messages: list[Message], params: Hyperparameters
    ) -> int | None:
        """The vendor's count of one request's input tokens (one network call), or None.

        Optional: None (the default) means the provider has no token-count endpoint, and
        estimates count offline. Called only when the user allows network calls
        (``estimate(..., count_tokens="vendor")``), on validated requests. Errors leave
        as lmbatch errors (:class:`ProviderError`: the estimate falls back to counting
        offline; :class:`MissingCredentialsError`: raised to the caller).
        """
        return None

    @abstractmethod
    def encode_request(
        self, custom_id: str, messages: list[Message], params: Hyperparameters
    ) -> dict[str, Any]:
        """Encode one request as the JSON record (one input line) the vendor takes."""

    @abstractmethod
    async def submit_batch(self, batch: PreparedBatch) -> str:
        """Send one prepared batch; return the vendor's batch id.

        Must not retry a call that may already have created the batch: raise
        :class:`SubmissionUncertainError` instead, so core can reconcile. Providers that
        do work before the create call (an upload) call :meth:`create_started` right
        before it and set ``marks_create_start``.
        """

    def create_started(self, batch: PreparedBatch) -> None:
        """Tell core that the call that may create ``batch`` is about to be sent.

        An error or an interruption (``task.cancel()``, Ctrl-C) of ``submit_batch``
        before this point means nothing was created: the chunk is simply sent again
        later. From this point on, anything but a definite refusal (a vendor 4xx) leaves
        the chunk uncertain, to be reconciled with the vendor before anything is sent
        again. Providers that never call it (``marks_create_start = False``) are treated
        as if the whole ``submit_batch`` were the create call.
        """
        create_started()

    @abstractmethod
    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        """The vendor's view of one batch (raise :class:`BatchNotFoundError` if unknown)."""

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        """Stream every result of a terminal batch, decoded, one at a time.

        The default reads JSONL results: every line of :meth:`iter_result_lines`
        (blank lines skipped) through :meth:`decode_result_line`, so a provider whose
        vendor writes JSON lines implements those two small methods instead. A vendor
        whose results are not JSON lines overrides this one.
        """
        context = self.result_context(info, context)
        decode = self.decode_result_line
        async for line in self.iter_result_lines(info, context):
            if line and not line.isspace():
                yield decode(line, context)

    def iter_result_lines(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[str | bytes]:
        """Stream the raw lines of a terminal batch's result file(s), one at a time.

        For the default :meth:`iter_result_records`; never hold a file in memory whole.
        A download that breaks off raises a transient :class:`ProviderError` (e.g.
        :class:`ProviderConnectionError`): core reads the results again.
        """
        raise NotImplementedError(f"{type(self).__name__} does not read result lines")

    def decode_record(self, record: dict[str, Any], context: dict[str, Any]) -> ResultRecord:
        """Decode one result line, already parsed as a JSON object. Never raises.

        Return the line's custom id (None when it has none: the line is counted as
        unreadable) and its outcome: a success, or an ``LMOutput`` whose ``error`` says
        why (set ``transient`` for the vendor's codes that mean "try again later").
        Lines that are not JSON objects never get here (:meth:`decode_result_line`).
        """
        raise NotImplementedError(f"{type(self).__name__} does not decode result records")

    def result_context(self, info: BatchInfo, context: dict[str, Any]) -> dict[str, Any]:
        """What :meth:`decode_record` gets as ``context`` for the lines of one batch.

        ``context`` is what :meth:`batch_context` recorded for the batch's job (empty
        for a batch lmbatch did not make); the default passes it on. Override to add
        facts read once per batch from ``info`` (e.g. the endpoint it used).
        """
        return context

    def decode_result_line(self, line: str | bytes, context: dict[str, Any]) -> ResultRecord:
        """Decode one line of a JSONL result file. Never raises.

        A line that is not JSON becomes an ``invalid_response`` outcome for the custom
        id it still shows (:func:`salvage_custom_id`), or for no id; one that is not a
        JSON object too; any other goes to :meth:`decode_record`.
        """
        try:
            record = load_line(line)
        except ValueError as exc:  # UnicodeDecodeError included
            return ResultRecord(
                salvage_custom_id(line),
                LMOutput.failure(
                    "invalid_response",
                    f"the result line is not valid JSON: {exc}",
                    code="malformed_line",
                    provider=self.name,
                ),
            )
        if not isinstance(record, dict):
            return ResultRecord(
                None,
                LMOutput.failure(
                    "invalid_response",
                    "the result line is not a JSON object",
                    code="malformed_line",
                    provider=self.name,
                ),
            )
        return self.decode_record(record, context)

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        """One page of the vendor's batches, newest first, and the next cursor."""
        raise OperationUnsupportedError(f"provider {self.name!r} cannot list batches")

    async def cancel_batch(self, batch_id: str) -> None:
        """Ask the vendor to cancel a batch."""
        raise OperationUnsupportedError(f"provider {self.name!r} cannot cancel batches")

    async def after_results(self, info: BatchInfo, context: dict[str, Any]) -> None:  # noqa: B027
        """Called once every result of a batch was read (e.g. to delete uploaded files)."""

    async def vendor_date(self) -> str | None:
        """The HTTP ``Date`` header of a cheap read-only call to the vendor, or None.

        Core reads it just before each create (cached for a while) so that finding the
        batch of an interrupted create judges batches by the vendor's clock, not this
        machine's. None (the default) means this machine's clock, with a wide margin.
        """
        return None

    async def find_submitted_batch(self, batch: PreparedBatch) -> str | None:
        """Optional: find the batch of an interrupted create by the provider's own means.

        Core's search (used when this is not overridden) lists batches with
        ``list_batches_page`` and proves ownership by the results' request ids, the
        vendor's clock and, with ``stamps_batch_metadata``, the stamped metadata (see
        :mod:`lmbatch._reconcile`). An override returns the batch id, or None when no
        batch was made; core still refuses a batch the store holds and checks the
        results against the chunk's ids before using them.
        """
        raise SubmissionUncertainError(
            f"provider {self.name!r} cannot tell whether chunk {batch.chunk_index} of job "
            f"{batch.job_id} was created; check the vendor console",
            provider=self.name,
            details={"job_id": batch.job_id, "chunk": str(batch.chunk_index)},
        )

    # -------------------------------------------------------------- public contract

    async def create(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None = None,
        *,
        reuse: bool | float = False,
        on_submitted: Callable[[str, bool], None] | None = None,
        max_cost: float | Decimal | str | None = None,
    ) -> str:
        """Submit requests as a batch and return its id.

        Everything is validated and encoded before anything is sent. When the requests
        exceed one vendor batch, they are split into several and the returned id is an
        lmbatch job id that works everywhere a batch id does.

        Args:
            requests: ``{key: LMInput}`` (any mapping); keys come back unchanged from
                ``retrieve``.
            hyperparameters: Generation settings (see :mod:`lmbatch._hyperparameters`).
            reuse: Re-attach to a job of the same requests, settings, provider and model
                that has not ended yet, instead of paying for the same work twice, and
                return its id: one made in the last :data:`REUSE_WINDOW_SECONDS` (True),
                in the last ``reuse`` seconds (a number), or never (False, the default:
                every call submits). Its batches that were never submitted (a process
                that died while submitting) are submitted now. A job whose batches all
                ended is not re-attached to: the requests are submitted again.
            on_submitted: Called once the requests are with the provider, with the id
                and whether this call created the job (False: re-attached).
            max_cost: Budget in USD: refuse the batch unless its upper-bound cost
                estimate (``max_tokens`` of output per request) fits (see :meth:`estimate`).

        Raises:
            ValidationError: Some input cannot be sent (nothing was sent).
            BudgetExceededError: The upper-bound estimate exceeds ``max_cost``.
            ProviderError: The vendor refused or failed the submission.
        """
        self._require("create")
        budget = parse_max_cost(max_cost)
        params, plan = self._prepare(requests, hyperparameters)
        try:
            checked = self._check_budget(requests, params, budget)
            job, created = self._record_job(plan, params, reuse_within=_reuse_window(reuse))
            if not created and await self._has_ended(job):
                # Its results are there to read; a new submission is what is asked for.
                job, created = self._record_job(plan, params)
        finally:
            plan.cleanup()
        self._keep_budget(job, params, budget, checked)
        if not created:
            logger.info("re-attaching to job %s (same requests and settings)", job.job_id)
        with requests_at_hand(
            self, job.job_id, lambda: self._prepare(requests, hyperparameters)[1]
        ):
            handle = self._handle(await submit_pending(self, job))
        if on_submitted is not None:
            on_submitted(handle, created)
        return handle

    async def _has_ended(self, job: JobRecord) -> bool:
        """Whether every batch of ``job`` reached a terminal state (asks the vendor)."""
        if any(chunk.batch_id is None for chunk in job.chunks):
            return False  # parts were never submitted: the job is not over
        try:
            for batch_id in job.batch_ids:
                if not (await self._fetch(batch_id))["status"].is_terminal:
                    return False
        except LMBatchError as exc:
            exc.add_note(
                f"job {job.job_id} of the same requests is in the job store and its status "
                "could not be checked; pass reuse=False to submit the requests again anyway"
            )
            raise
        return True

    async def estimate(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None = None,
        *,
        typical_output_tokens: int | None = None,
        count_tokens: CountTokens = "offline",
        count_sample: int = VENDOR_COUNT_SAMPLE,
    ) -> Estimate:
        """What submitting ``requests`` would cost; no batch is sent.

        Input tokens are counted offline by default (tiktoken for OpenAI models when
        installed, else an approximation). With ``count_tokens="vendor"`` the vendor's
        token-count endpoint counts them: network calls, made only then, 8 at a time,
        on at most ``count_sample`` requests (a larger set is counted on an evenly
        spread sample and extrapolated); if the endpoint fails or the provider has none,
        the offline count is used with a warning. ``Estimate.input_method`` says which
        way was used. Output tokens are bounded by ``max_tokens`` and assumed at
        ``typical_output_tokens`` (default 250). Costs come with and without the
        provider's batch discount.

        Raises:
            ValidationError: Some input is invalid.
            MissingCredentialsError: ``count_tokens="vendor"`` without an API key.
        """
        params = self._checked_hyperparameters(hyperparameters)
        if not isinstance(requests, Mapping):
            raise ValidationError(
                f"requests must be a dict of key → input, not {type(requests).__name__}"
            )
        if count_tokens == "vendor":
            self.check_ready()  # the model, and the API key, before any call
            return await estimate_requests_counted(
                self,
                requests,
                params,
                typical_output_tokens=typical_output_tokens,
                sample=count_sample,
            )
        if count_tokens != "offline":
            raise ValidationError(
                f'count_tokens must be "offline" or "vendor", got {count_tokens!r}'
            )
        return estimate_requests(
            self, requests, params, typical_output_tokens=typical_output_tokens
        )

    def _check_budget(
        self, requests: Mapping[str, LMInput], params: Hyperparameters, budget: Decimal | None
    ) -> Estimate | None:
        """Refuse requests over ``budget`` (USD) before anything is recorded or sent."""
        if budget is None:
            return None
        return check_budget(self, requests, params, budget)

    def _keep_budget(
        self,
        job: JobRecord,
        params: Hyperparameters,
        budget: Decimal | None,
        checked: Estimate | None,
    ) -> None:
        """Record the budget, so resubmission rounds (in any process) count against it."""
        if budget is not None and checked is not None:
            self.store.set_budget(job.job_id, str(budget), self.max_output_tokens(params))

    async def status(self, batch_id: str) -> BatchStatus:
        """The status of a batch or job."""
        self._require("status")
        return (await self.info(batch_id))["status"]

    async def info(self, batch_id: str) -> BatchInfo:
        """Everything known of a batch or job: status, counts, errors, vendor payload."""
        self._require("info")
        target = self._resolve(batch_id)
        if target.is_job:
            assert target.job is not None
            info = await self._job_info(target.job)
        else:
            info = await self._fetch(target.id)
        if target.job is not None:
            info["rounds"] = [
                {"round": job.round, "job_id": job.job_id, "requests": job.request_count}
                for job in self._job_family(target.job)
            ]
            info.update(cost_facts(self, target.job, target.chunk_index))  # type: ignore[typeddict-item]
        return info

    async def retrieve(self, batch_id: str, **kwargs: Any) -> dict[str, LMOutput]:
        """Results of a finished batch: exactly one :class:`LMOutput` per submitted key.

        Failed, expired, cancelled and missing requests come back as outputs whose
        ``error`` is set; one bad line never hides the others.

        Raises:
            BatchNotFinishedError: The batch has not reached a terminal state.
            ResultsIncompleteError: The results download stayed short of what the vendor
                reports finished (after reading it again); retry later.
        """
        self._require("retrieve")
        results = await self._collect(batch_id)
        target = self._resolve(batch_id)
        if target.job is not None and (target.is_job or len(target.job.chunks) == 1):
            discard_spool(self, target.job.job_id)  # results are in hand
        return results

    async def _collect(self, batch_id: str) -> dict[str, LMOutput]:
        return {key: output async for key, output in self.iter_results(batch_id)}

    async def iter_results(
        self, batch_id: str, **kwargs: Any
    ) -> AsyncIterator[tuple[str, LMOutput]]:
        """Stream ``(key, LMOutput)`` pairs of a finished batch, one line at a time.

        The streaming twin of :meth:`retrieve`, for results too large to hold at once.
        A download that stays short raises :class:`ResultsIncompleteError` after the
        pairs that could be read; none is yielded twice.
        """
        self._require("retrieve")
        target = self._resolve(batch_id)
        parts = await self._terminal_parts(target)
        # A batch found after an interrupted create is proven the chunk's before any use.
        await verify_parts(self, parts)
        for info, job, chunk_index in parts:
            async for pair in self._iter_batch_results(info, job, chunk_index):
                yield pair

    async def invoke_iter(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None = None,
        status_check_interval: float = 30.0,
        max_iterations: int | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = False,
        max_status_check_interval: float = 300.0,
        on_progress: Callable[[BatchInfo], None] | None = None,
        resubmit: int | bool = DEFAULT_RESUBMIT_ROUNDS,
        reuse: bool | float = True,
        on_submitted: Callable[[str, bool], None] | None = None,
        max_cost: float | Decimal | str | None = None,
        retry_on: Collection[str] | str = (),
        treat_as_error: Collection[str] | str = (),
        on_resubmit: Callable[[ResubmissionRound], None] | None = None,
    ) -> AsyncIterator[tuple[str, LMOutput]]:
        """:meth:`invoke`, streamed: yield ``(key, LMOutput)`` pairs as results are read.

        The same job as :meth:`invoke` (same arguments, same re-attaching, waiting and
        resubmission rounds) for results too many to hold at once: memory does not grow
        with the number of results. Every key is yielded exactly once, with its final
        outcome (the one :meth:`invoke` would return for it), in the order results are
        read, not the order of ``requests``. An outcome worth resubmitting is held until
        its next round is made; every other one is yielded as soon as it is read.

        Stopping early leaves the job in the store: the same call again re-attaches to it
        and streams its results again, paying for nothing twice.
        """
        self._require("invoke")
        started = self._start_invocation(
            requests,
            hyperparameters,
            _WaitOptions(
                interval=status_check_interval,
                max_interval=max_status_check_interval,
                max_iterations=max_iterations,
                timeout=timeout,
                cancel_on_timeout=cancel_on_timeout,
                on_progress=on_progress,
            ),
            resubmit=resubmit,
            reuse=reuse,
            on_submitted=on_submitted,
            max_cost=max_cost,
            policy=_OutcomePolicy.of(retry_on, treat_as_error, on_resubmit),
        )
        job = started.job
        pairs = self._iter_complete_job(
            job,
            started.waiting,
            started.rounds,
            on_submitted=started.announce,
            policy=started.policy,
        )
        replan = started.replan(requests, hyperparameters)
        try:
            while True:
                # The scopes are entered anew for each step: a generator's consumer runs
                # between steps, and may close it from another context.
                with deadline_scope(started.deadline), requests_at_hand(self, job.job_id, replan):
                    try:
                        pair = await pairs.__anext__()
                    except StopAsyncIteration:
                        return
                yield pair
        finally:
            await pairs.aclose()

    async def _iter_complete_job(
        self,
        job: JobRecord,
        waiting: _WaitOptions,
        resubmit_rounds: int,
        on_submitted: Callable[[str], None] | None = None,
        policy: _OutcomePolicy | None = None,
    ) -> AsyncGenerator[tuple[str, LMOutput], None]:
        """:meth:`_complete_job`, streamed: every key's final outcome, yielded once.

        A round's outcome is final unless its key goes into the next round. A next round
        that already exists (a re-run re-attaching) is known before the round is read,
        and the outcomes of its keys are skipped; otherwise the outcomes worth
        resubmitting are held (few, and small: failures) until the next round is made
        from them, and the rest are yielded at once. Memory: one batch's key map and the
        keys of the next round, never the results.
        """
        self._check_job_endpoint(job)  # nothing is sent or read on another endpoint
        policy = policy or _OutcomePolicy()
        job, handle = await self._run_job(job, waiting, on_submitted)
        current = job
        rounds_left = max(0, resubmit_rounds)
        # Keys already yielded that a later round carries anyway (only when another
        # process made that round from results that differ from ours): skipped there.
        settled: set[str] = set()
        while True:
            existing = self.store.child_jobs(current.job_id) if rounds_left else []
            redone = self._job_keys(existing[0]) if existing else set()
            held: dict[str, LMOutput] = {}
            reasons: Counter[str] = Counter()
            async for key, output in self.iter_results(handle):
                if key in redone or key in settled:
                    if key in redone:
                        reasons[resubmit_reason(output)] += 1
                    continue
                if current is not job:
                    details = {**output.finish_details, "lmbatch_round": current.round}
                    output = output.model_copy(update={"finish_details": details})
                if rounds_left and not existing and should_resubmit(output, policy.retry_on):
                    held[key] = output
                    continue
                yield key, policy.final(output, self.name)
            child = None
            if rounds_left:
                child = existing[0] if existing else self._child_job(current, set(held))
            if child is None:
                for key, output in held.items():
                    yield key, policy.final(output, self.name)
                break
            if not existing:
                # Made from ``held`` (or, in a race, by another process from its own
                # reading): a held key it does not carry keeps this round's outcome.
                carried = self._job_keys(child)
                for key, output in held.items():
                    if key not in carried:
                        yield key, policy.final(output, self.name)
                    else:
                        reasons[resubmit_reason(output)] += 1
                settled.update(carried.difference(held))
                held.clear()
            policy.announce(current, child, reasons)
            logger.info(
                "resubmitting %d request(s) of job %s as job %s (round %d)",
                child.request_count,
                current.job_id,
                child.job_id,
                child.round,
            )
            current, handle = await self._run_job(child, waiting)
            rounds_left -= 1
        for finished in self._job_family(job):
            discard_spool(self, finished.job_id)

    def _job_keys(self, job: JobRecord) -> set[str]:
        """The caller's keys in ``job``."""
        return {key for _, key in self.store.iter_keys(job.job_id)}

    async def list(self) -> _BatchDicts:
        """Every batch the provider shows for this account, following all pages."""
        self._require("list")
        batches: _BatchDicts = []
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            page = await self._call(self.list_batches_page(cursor))
            batches.extend(dict(item) for item in page.batches)
            if page.next_cursor is None or page.next_cursor in seen_cursors:
                return batches
            seen_cursors.add(page.next_cursor)
            cursor = page.next_cursor

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to cancel a batch (or every running batch of a job).

        Requests that finished before the cancel took effect keep their results.
        """
        self._require("cancel")
        target = self._resolve(batch_id)
        if not target.is_job:
            await self._call(self.cancel_batch(target.id))
            return
        assert target.job is not None
        for chunk_batch in target.job.batch_ids:
            info = await self._fetch(chunk_batch)
            if not info["status"].is_terminal:
                await self._call(self.cancel_batch(chunk_batch))

    async def invoke(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None = None,
        status_check_interval: float = 30.0,
        max_iterations: int | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        cancel_on_timeout: bool = False,
        max_status_check_interval: float = 300.0,
        on_progress: Callable[[BatchInfo], None] | None = None,
        resubmit: int | bool = DEFAULT_RESUBMIT_ROUNDS,
        reuse: bool | float = True,
        on_submitted: Callable[[str, bool], None] | None = None,
        max_cost: float | Decimal | str | None = None,
        retry_on: Collection[str] | str = (),
        treat_as_error: Collection[str] | str = (),
        on_resubmit: Callable[[ResubmissionRound], None] | None = None,
    ) -> dict[str, LMOutput]:
        """Create a batch, wait for it, and return its results.

        Polling starts every ``status_check_interval`` seconds and backs off to
        ``max_status_check_interval``. A transient error while polling retries the poll,
        never the submission.

        Running the same ``invoke`` again (same requests, settings, provider and model)
        re-attaches to the job already in the store instead of submitting again, so a
        process that died while uploading, creating, polling or downloading just picks
        up where it stopped.

        Args:
            max_iterations: Most status checks before giving up.
            timeout: Most seconds to spend waiting for the batches and reading their
                results, resubmission rounds included, counted from the call (default
                :data:`DEFAULT_TIMEOUT`, 48 h; None: no limit). It holds even while one
                HTTP call hangs. Submitting is not cut short by it (each create call is
                bounded by the provider's HTTP timeout).
            cancel_on_timeout: Cancel the batch when giving up (default: leave it running).
            on_progress: Called with the batch info after every status check.
            resubmit: Rounds of resubmission (``True`` = 2, ``False`` = 0) for requests
                that came back expired, missing, or errored with a transient cause (rate
                limit, 5xx, 408/409, overload, a full queue: ``LMError.transient``). Never for
                cancelled or permanently invalid requests. The round that produced a
                key's outcome is in ``finish_details["lmbatch_round"]`` when above 1.
            reuse: Re-attach to a job of the same requests made in the last
                :data:`REUSE_WINDOW_SECONDS` (True, the default), in the last ``reuse``
                seconds (a number), or never (False).
            on_submitted: Called once the requests are with the provider, with the batch
                (or job) id and whether this call created it (False: re-attached).
            max_cost: Budget in USD for the job and all its resubmission rounds: the
                upper-bound estimate must fit before anything is sent
                (:class:`BudgetExceededError` otherwise), and a resubmission round is
                only sent if its upper bound fits what the earlier rounds left.
            retry_on: Finish reasons (see :data:`lmbatch.FinishReason`) for which an ok
                answer is resubmitted too, like a transient failure, e.g.
                ``("content_filter",)`` (within the ``resubmit`` rounds and the
                ``max_cost`` budget; each retry is paid for).
            treat_as_error: Finish reasons that make an ok answer count as a failure:
                its ``error`` is set (kind ``errored``, code ``finish_reason_<reason>``)
                and its outputs are kept, e.g. ``("length",)`` for cut-off answers.
            on_resubmit: Called before each resubmission round is sent, with a
                :class:`ResubmissionRound` (its number, job id, size and reasons).

        Raises:
            BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached; carries the
                batch id so the batch can be retrieved later.
            BatchOverdueError: A batch ran well past the vendor's completion window
                (its ``expires_at``) without ending; see :data:`OVERDUE_MARGIN_SECONDS`.
            BudgetExceededError: The upper-bound estimate exceeds ``max_cost``.
        """
        self._require("invoke")
        started = self._start_invocation(
            requests,
            hyperparameters,
            _WaitOptions(
                interval=status_check_interval,
                max_interval=max_status_check_interval,
                max_iterations=max_iterations,
                timeout=timeout,
                cancel_on_timeout=cancel_on_timeout,
                on_progress=on_progress,
            ),
            resubmit=resubmit,
            reuse=reuse,
            on_submitted=on_submitted,
            max_cost=max_cost,
            policy=_OutcomePolicy.of(retry_on, treat_as_error, on_resubmit),
        )
        job = started.job
        with (
            deadline_scope(started.deadline),
            requests_at_hand(self, job.job_id, started.replan(requests, hyperparameters)),
        ):
            return await self._complete_job(
                job,
                started.waiting,
                started.rounds,
                on_submitted=started.announce,
                policy=started.policy,
            )

    def _start_invocation(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        waiting: _WaitOptions,
        *,
        resubmit: int | bool,
        reuse: bool | float,
        on_submitted: Callable[[str, bool], None] | None,
        max_cost: float | Decimal | str | None,
        policy: _OutcomePolicy,
    ) -> _Invocation:
        """Record (or re-attach to) the job of an ``invoke``-style call."""
        deadline = Deadline.after(waiting.timeout) if waiting.timeout is not None else None
        budget = parse_max_cost(max_cost)
        params, plan = self._prepare(requests, hyperparameters)
        try:
            checked = self._check_budget(requests, params, budget)
            job, created = self._record_job(plan, params, reuse_within=_reuse_window(reuse))
        finally:
            plan.cleanup()
        self._keep_budget(job, params, budget, checked)
        if not created:
            logger.info("re-attaching to job %s (same requests and settings)", job.job_id)
        if deadline is not None:
            deadline.target = job.job_id  # until the batch id is known
        rounds = (
            (DEFAULT_RESUBMIT_ROUNDS if resubmit else 0) if isinstance(resubmit, bool) else resubmit
        )
        announce = None
        if on_submitted is not None:
            callback = on_submitted

            def announce(handle: str) -> None:
                callback(handle, created)

        return _Invocation(self, job, waiting, rounds, announce, deadline, policy)

    async def _complete_job(
        self,
        job: JobRecord,
        waiting: _WaitOptions,
        resubmit_rounds: int,
        on_submitted: Callable[[str], None] | None = None,
        policy: _OutcomePolicy | None = None,
    ) -> dict[str, LMOutput]:
        """Submit what is left of ``job``, wait, collect, resubmit what is worth it.

        The collected twin of :meth:`_iter_complete_job` (one implementation of the
        rounds, so ``invoke`` and ``invoke_iter`` cannot drift apart).
        """
        return {
            key: output
            async for key, output in self._iter_complete_job(
                job, waiting, resubmit_rounds, on_submitted=on_submitted, policy=policy
            )
        }

    async def _run_job(
        self,
        job: JobRecord,
        waiting: _WaitOptions,
        on_submitted: Callable[[str], None] | None = None,
    ) -> tuple[JobRecord, str]:
        """Submit what is left of ``job`` and wait until it ends; return it and its handle.

        A batch found after an interrupted create is checked against its chunk's request
        ids once it ends; one that is not the chunk's is dropped and the chunk sent again.
        """
        while True:
            job = await submit_pending(self, job, waiting)
            handle = self._handle(job)
            if on_submitted is not None:
                on_submitted(handle)
                on_submitted = None
            await self._wait(handle, waiting)
            if not await settle_adopted(self, job):
                return job, handle

    def _job_family(self, job: JobRecord) -> builtins.list[JobRecord]:
        family = [job]
        while children := self.store.child_jobs(family[-1].job_id):
            family.append(children[0])
        return family

    def _child_job(self, parent: JobRecord, retry_keys: set[str]) -> JobRecord | None:
        """The job resubmitting ``retry_keys`` of ``parent`` (existing, or made now)."""
        existing = self.store.child_jobs(parent.job_id)
        if existing:
            return existing[0]
        if not retry_keys:
            return None
        # Only the keys resubmitted: the whole job's key map is a million entries at scale.
        keymap = {cid: key for cid, key in self.store.iter_keys(parent.job_id) if key in retry_keys}
        wanted = set(keymap)
        # Checked against the checksums recorded when spooled; rebuilt from the caller's
        # requests if damaged, or SpoolDamagedError: damaged input is never resubmitted.
        sources = sound_sources(self, parent)
        if sources is None:
            logger.warning("job %s: input no longer spooled; cannot resubmit", parent.job_id)
            return None
        budget = ResubmissionBudget(self, parent)

        def select(record: dict[str, Any]) -> str | None:
            custom_id = _selected(self._record_custom_id(record), wanted)
            if custom_id is not None:
                budget.add(record)
            return custom_id

        parent_tag = self.store.job_tag(parent.job_id)
        plan = replan_records(
            sources,
            select,
            keymap,
            limits=self.limits,
            fingerprint_salt=f"{parent.fingerprint}\x00round{parent.round + 1}",
            spool_root=self.store.spool_dir(),
            # The resubmission's ids carry its own tag: its batches are never the parent's.
            retag=(parent_tag, new_job_tag(self.limits) if parent_tag else ""),
        )
        refusal = budget.refusal()
        if refusal is not None:
            plan.cleanup()
            logger.warning("job %s: %s", parent.job_id, refusal)
            return None
        try:
            job_id, created = self.store.create_job(
                job_id="lmbjob_" + uuid.uuid4().hex,
                provider=self.name,
                model=parent.model,
                fingerprint=plan.fingerprint,
                request_count=plan.request_count,
                context=parent.context,
                chunk_sizes=plan.chunk_sizes,
                keys=plan.keys,
                parent_job_id=parent.job_id,
                round=parent.round + 1,
                endpoint=parent.endpoint,
                connection=parent.connection,
                tag=plan.tag,
            )
            child = self.store.get_job(job_id)
            assert child is not None
            self._spool_or_forget(child, plan, created)
        finally:
            plan.cleanup()
        if parent.job_id in self._response_models:
            self._response_models[child.job_id] = self._response_models[parent.job_id]
        return child

    def _record_custom_id(self, record: dict[str, Any]) -> str:
        """The request id inside one encoded record (override if not ``custom_id``)."""
        return str(record["custom_id"])

    # ------------------------------------------------------------------ internals

    def _require(self, method: str) -> None:
        if method not in self.supported_methods:
            raise OperationUnsupportedError(
                f"provider {self.name!r} does not support {method}() "
                f"(it supports: {', '.join(sorted(self.supported_methods))})"
            )

    async def _call(self, awaitable: Awaitable[_T]) -> _T:
        """Await a primitive; anything that is not an lmbatch error becomes one.

        Under a caller's deadline (see :mod:`lmbatch._deadline`) the call gets only the
        time left, and running out raises :class:`BatchTimeoutError`.
        """
        deadline = current_deadline()
        if deadline is None:
            return await self._mapped(awaitable)
        left = deadline.remaining()
        if left <= 0:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise deadline.error()
        scope = asyncio.timeout(left)
        try:
            async with scope:
                return await self._mapped(awaitable)
        except TimeoutError:
            if scope.expired():
                raise deadline.error() from None
            raise

    async def _mapped(self, awaitable: Awaitable[_T]) -> _T:
        try:
            return await awaitable
        except (LMBatchError, StopAsyncIteration):
            raise
        except Exception as exc:
            raise ProviderError(
                f"unexpected {type(exc).__name__} from provider {self.name!r}: {exc}",
                provider=self.name,
            ) from exc

    def _prepare(
        self, requests: Mapping[str, LMInput], hyperparameters: dict[str, Any] | None
    ) -> tuple[Hyperparameters, BatchPlan]:
        self.check_ready()  # before anything is validated, recorded or sent
        if not isinstance(requests, Mapping):
            raise ValidationError(
                f"requests must be a dict of key → input, not {type(requests).__name__}"
            )
        if not requests:
            raise ValidationError("requests is empty: nothing to submit")
        for key in requests:
            if not isinstance(key, str):
                raise ValidationError(f"keys must be strings, got {type(key).__name__} {key!r}")
        params = self._checked_hyperparameters(hyperparameters)
        # A fresh tag on every request id: a batch holding them is this job's and no other's.
        tag = new_job_tag(self.limits)
        plan = plan_batches(
            requests,
            CustomIdMapper(requests.keys(), self.limits, tag),
            params,
            limits=self.limits,
            encode=self.encode_request,
            check=self.validate_request,
            # Settings are part of the identity even where an encoding would drop them.
            fingerprint_salt="\x00".join(
                [
                    self.name,
                    str(self.settings.model),
                    json.dumps(params.fingerprint_data(), sort_keys=True, default=str),
                ]
            ),
            spool_root=self.store.spool_dir(),
            tag=tag,
        )
        return params, plan

    def _record_job(
        self,
        plan: BatchPlan,
        params: Hyperparameters,
        *,
        reuse_within: float | None = None,
        parent: JobRecord | None = None,
    ) -> tuple[JobRecord, bool]:
        """Record the job's intent and spool its input; return ``(job, created)``.

        With ``reuse_within`` (seconds), a job of the same requests and settings created
        that recently is returned instead, so a re-run re-attaches rather than pays twice.
        """
        context = dict(self.batch_context(params))
        if params.response_schema is not None:
            context["response_schema"] = params.response_schema.json_schema
            context["response_model"] = params.response_schema.model_path
        job_id, created = self.store.create_job(
            job_id="lmbjob_" + uuid.uuid4().hex,
            provider=self.name,
            model=self.settings.model,
            fingerprint=plan.fingerprint,
            request_count=plan.request_count,
            context=context,
            chunk_sizes=plan.chunk_sizes,
            keys=plan.keys,
            reuse_after=time.time() - reuse_within if reuse_within is not None else None,
            parent_job_id=parent.job_id if parent is not None else None,
            round=parent.round + 1 if parent is not None else 1,
            endpoint=self.endpoint_identity,
            connection=self.connection,
            tag=plan.tag,
        )
        if params.response_schema is not None and params.response_schema.model is not None:
            self._response_models[job_id] = params.response_schema.model
        job = self.store.get_job(job_id)
        assert job is not None
        self._spool_or_forget(job, plan, created)
        return job, created

    def _spool_or_forget(self, job: JobRecord, plan: BatchPlan, created: bool) -> None:
        """Spool the plan; if that fails (a full disk...), forget a job made just now.

        A job on record without its input would be a half-written job: nothing could
        submit it, and ``create`` would leave it behind on every failed try.
        """
        try:
            self._spool_plan(job, plan)
        except OSError as exc:
            if created and self.store.forget_unsubmitted_job(job.job_id):
                discard_spool(self, job.job_id)
            raise spool_error(self.store.spool_dir(), exc) from exc

    def _spool_plan(self, job: JobRecord, plan: BatchPlan) -> None:
        """Move the plan's files into the job's spool, for chunks not yet submitted.

        A job recorded by an earlier run (re-attached, or made by a concurrent process)
        may lack spooled input; a plan of the same requests has the same bytes and the
        same chunking, so it can stand in.
        """
        spool = self.store.spool_dir(job.job_id)
        make_private_dir(spool)
        if plan.chunk_sizes != [chunk.request_count for chunk in job.chunks]:
            return
        for chunk in job.chunks:
            if chunk.batch_id is None:
                # Checksummed; replaces a spooled file only if it is missing or damaged.
                adopt_plan_chunk(
                    self.store, job.job_id, chunk.index, plan_chunk_file(plan, job, chunk.index)
                )

    @staticmethod
    def _handle(job: JobRecord) -> str:
        """The id handed to callers: the vendor batch id for a one-batch job."""
        if len(job.chunks) == 1 and job.chunks[0].batch_id is not None:
            return job.chunks[0].batch_id
        return job.job_id

    def _resolve(self, batch_id: str) -> _Target:
        if not isinstance(batch_id, str) or not batch_id:
            raise ValidationError(f"batch id must be a non-empty string, got {batch_id!r}")
        job = self.store.get_job(batch_id)
        if job is not None:
            if job.provider != self.name:
                raise BatchNotFoundError(
                    f"{batch_id} is a job of provider {job.provider!r}, not {self.name!r}",
                    provider=self.name,
                )
            self._check_job_endpoint(job)
            return _Target(id=batch_id, job=job, chunk_index=None)
        found = self._recorded_batch(batch_id)
        if found is not None:
            return _Target(id=batch_id, job=found[0], chunk_index=found[1])
        disowned = self.store.disowned_record(batch_id) if found is None else None
        if disowned is not None:
            job_id, chunk_index, reason = disowned
            raise BatchNotFoundError(
                f"batch {batch_id} was once taken for chunk {chunk_index} of job {job_id} "
                f"and then proven not to be it ({reason}); use the job id {job_id}",
                provider=self.name,
            )
        return _Target(id=batch_id, job=None, chunk_index=None)

    def _recorded_batch(self, batch_id: str) -> tuple[JobRecord, int] | None:
        """This provider's recorded batch ``batch_id`` on this endpoint, or None.

        Raises:
            EndpointMismatchError: The store holds the id only on other endpoints (these
                operations' options are explicit: nothing is read from the wrong one).
        """
        here = self.endpoint_identity
        matches = self.store.find_batches(batch_id, provider=self.name)
        found = select_recorded(
            batch_id,
            matches,
            endpoint_of=lambda _: here,
            classes=lambda _: type(self.settings),
            explicit=True,
        )
        if found is None:
            return None
        job, index = found
        assert index is not None
        return job, index

    def _check_job_endpoint(self, job: JobRecord) -> None:
        """Refuse to work on a job recorded on another endpoint than these options name."""
        if job.connection is None or job.endpoint == self.endpoint_identity:
            return
        raise endpoint_mismatch(
            job.job_id, [(job, None)], self.name, self.endpoint_identity, type(self.settings)
        )

    async def _fetch(self, batch_id: str) -> BatchInfo:
        info = await self._call(self.fetch_batch(batch_id))
        if info["status"] is BatchStatus.UNKNOWN:
            self._log_unknown_status(batch_id, info["provider_status"])
        found = self.store.find_batch(batch_id, provider=self.name, endpoint=self.endpoint_identity)
        if found is not None:
            info["metadata"] = {**info["metadata"], JOB_ID_METADATA_KEY: found[0].job_id}
        return info

    def _log_unknown_status(self, batch_id: str, provider_status: str) -> None:
        """Say once per batch and word that the vendor used a status lmbatch does not know."""
        if (batch_id, provider_status) in self._unknown_statuses:
            return
        self._unknown_statuses.add((batch_id, provider_status))
        logger.warning(
            "batch %s: provider %r reports the status %r, which lmbatch does not know; "
            "treating it as still running (waiting stops once the batch is overdue, or "
            "at the timeout)",
            batch_id,
            self.name,
            provider_status,
        )

    async def _job_info(self, job: JobRecord) -> BatchInfo:
        infos = [await self._fetch(batch_id) for batch_id in job.batch_ids]
        unsubmitted = sum(c.request_count for c in job.chunks if c.batch_id is None)
        counts = empty_counts(job.request_count)
        for info in infos:
            for name in ("succeeded", "errored", "processing", "expired", "cancelled"):
                counts[name] += info["request_counts"][name]
        counts["processing"] += unsubmitted
        status = _aggregate_status([info["status"] for info in infos], unsubmitted > 0)
        return BatchInfo(
            id=job.job_id,
            provider=self.name,
            status=status,
            provider_status=",".join(info["provider_status"] for info in infos) or "unsubmitted",
            created_at=datetime.fromtimestamp(job.created_at, tz=UTC),
            request_counts=counts,
            model=job.model,
            metadata={JOB_ID_METADATA_KEY: job.job_id},
            errors=[error for info in infos for error in info["errors"]],
            raw={"job_id": job.job_id, "chunks": len(job.chunks), "unsubmitted": unsubmitted},
            batches=infos,
        )

    async def _terminal_parts(self, target: _Target) -> _BatchParts:
        """Infos of the batches behind ``target``, all terminal, or raise."""
        if target.is_job:
            assert target.job is not None
            job = target.job
            if any(chunk.batch_id is None for chunk in job.chunks):
                raise BatchNotFinishedError(
                    f"job {job.job_id} has batches that were never submitted; "
                    f"run lmbatch.resume({job.job_id!r})",
                    batch_id=job.job_id,
                    status=BatchStatus.IN_PROGRESS,
                )
            ids = [(chunk.batch_id, chunk.index) for chunk in job.chunks if chunk.batch_id]
            parts: _BatchParts = [(await self._fetch(bid), job, index) for bid, index in ids]
        else:
            parts = [(await self._fetch(target.id), target.job, target.chunk_index)]
        for info, _, _ in parts:
            if not info["status"].is_terminal:
                raise BatchNotFinishedError(
                    f"batch {info['id']} is {info['status'].value} "
                    f"({info['provider_status']}); results are available once it ends",
                    batch_id=target.id,
                    status=info["status"],
                )
        return parts

    async def _iter_batch_results(
        self, info: BatchInfo, job: JobRecord | None, chunk_index: int | None
    ) -> AsyncIterator[tuple[str, LMOutput]]:
        context = job.context if job is not None else {}
        keymap = dict(self.store.iter_keys(job.job_id, chunk_index)) if job is not None else None
        model = self._response_models.get(job.job_id) if job is not None else None
        validator = StructuredOutputValidator.from_context(context, model)
        keep_raw = self.settings.keep_raw
        # Retried and checked against the vendor's counts: raises rather than leave
        # requests the vendor finished "missing" (which would be resubmitted, paid twice).
        download = ResultDownload(
            self, info, context, keymap, job.job_id if job is not None else None
        )
        pricer = batch_pricer(self, job, info)  # one price lookup per batch
        tally = CostTally()
        async for record in download.records():
            custom_id, output = record
            assert custom_id is not None  # unreadable lines are counted, not yielded
            if validator is not None:
                output = validator.check(output)
            if output.error is None and not keep_raw:
                output.raw = None  # the payload is mostly what outputs already hold
            if pricer is not None:
                output.cost = pricer.cost_of(output)
            tally.add(output.cost)
            key = keymap[custom_id] if keymap is not None else strip_job_tag(custom_id)
            yield key, output
        if keymap is not None:
            for custom_id, key in keymap.items():
                if custom_id not in download.seen:
                    missing = self._unanswered(info, download.unreadable)
                    if pricer is not None:
                        missing.cost = pricer.cost_of(missing)
                    tally.add(missing.cost)
                    yield key, missing
        if job is not None and chunk_index is not None:
            # Every result was read: the batch's line in the ledger (replaced, not
            # added to, when the results are read again).
            tally.record(self, job, chunk_index, info["id"])
        try:
            await self._call(self.after_results(info, context))
        except LMBatchError as exc:
            # Housekeeping (deleting uploaded files...) must never cost the caller results
            # that were all read.
            logger.warning("batch %s: clean-up after reading results failed: %s", info["id"], exc)

    async def _stream_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        iterator = self.iter_result_records(info, context).__aiter__()
        while True:
            try:
                record = await self._call(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield record

    def _unanswered(self, info: BatchInfo, unreadable: int) -> LMOutput:
        """The outcome of a submitted request the vendor returned nothing for."""
        if info["status"] is BatchStatus.FAILED:
            first = info["errors"][0] if info["errors"] else None
            return LMOutput.failure(
                "errored",
                first["message"] if first else "the batch failed",
                code=first["code"] if first else "batch_failed",
                provider=self.name,
                transient=first.get("transient", False) if first else False,
            )
        message = "the provider returned no result for this request"
        if unreadable:
            message += f" ({unreadable} result line(s) of the batch could not be read)"
        return LMOutput.failure(
            "invalid_response" if unreadable else "missing",
            message,
            code="unreadable_result" if unreadable else "missing_result",
            provider=self.name,
        )

    async def _wait(self, batch_id: str, options: _WaitOptions) -> BatchInfo:
        """Poll until terminal; transient errors retry the poll only.

        Bounded three ways: ``max_iterations``, the caller's deadline (the one in force,
        else ``options.timeout`` from now; every status check gets only the time left),
        and the vendor's completion window (:class:`BatchOverdueError`).
        """
        deadline = current_deadline()
        if deadline is None and options.timeout is not None:
            deadline = Deadline.after(options.timeout)
        if deadline is not None:
            deadline.target = batch_id
        with deadline_scope(deadline):
            try:
                return await self._poll(batch_id, options, deadline)
            except BatchTimeoutError:
                if options.cancel_on_timeout:
                    with suspended_deadline():  # the cancel must still go out
                        await self.cancel(batch_id)
                raise

    async def _poll(
        self, batch_id: str, options: _WaitOptions, deadline: Deadline | None
    ) -> BatchInfo:
        delay = max(0.0, options.interval)
        iterations = 0
        while True:
            iterations += 1
            try:
                info = await self.info(batch_id)
            except ProviderError as exc:
                if not exc.is_transient:
                    raise
                logger.warning("status check of %s failed (%s); will retry", batch_id, exc)
            else:
                if options.on_progress is not None:
                    options.on_progress(info)
                if info["status"].is_terminal:
                    return info
                self._check_overdue(batch_id, info)
            out_of_iterations = (
                options.max_iterations is not None and iterations >= options.max_iterations
            )
            out_of_time = deadline is not None and deadline.remaining() < delay
            if out_of_iterations or out_of_time:
                why = (
                    f"{iterations} status checks"
                    if out_of_iterations or deadline is None
                    else f"{deadline.timeout:g} s"
                )
                raise BatchTimeoutError(
                    f"batch {batch_id} did not finish within {why}; it is "
                    + ("being cancelled" if options.cancel_on_timeout else "still running")
                    + f"; retrieve it later with retrieve({batch_id!r})",
                    batch_id=batch_id,
                )
            await asyncio.sleep(delay)
            floor = 0.001 if options.interval > 0 else 0.0
            delay = min(max(delay * 1.5, floor), options.max_interval)

    def _check_overdue(self, batch_id: str, info: BatchInfo) -> None:
        """Raise :class:`BatchOverdueError` if a running batch is long past its window."""
        now = time.time()
        for part in info.get("batches") or [info]:
            if part["status"].is_terminal:
                continue
            ends = self._window_end(part)
            if ends is None or now < ends + OVERDUE_MARGIN_SECONDS:
                continue
            since = datetime.fromtimestamp(ends, tz=UTC).isoformat(timespec="seconds")
            raise BatchOverdueError(
                f"batch {part['id']} is still {part['provider_status']!r} although its "
                f"completion window ended at {since} (more than "
                f"{OVERDUE_MARGIN_SECONDS / 3600:g} h ago); the provider should have ended "
                f"it, so lmbatch stopped waiting for {batch_id}. It was left as it is: "
                f"cancel({part['id']!r}) it, then retrieve({batch_id!r}) what finished",
                batch_id=batch_id,
                overdue_batch_id=part["id"],
                provider_status=part["provider_status"],
            )

    def _window_end(self, info: BatchInfo) -> float | None:
        """Unix time by which the vendor should have ended a batch, when known."""
        expires = info.get("expires_at")
        if expires is not None:
            return expires.timestamp()
        created = info["created_at"]
        if created is None or self.completion_window is None:
            return None
        return created.timestamp() + self.completion_window


@dataclass(frozen=True)
class _Invocation:
    """An ``invoke``-style call's job, and how to wait for it and resubmit."""

    ops: BatchOperations
    job: JobRecord
    waiting: _WaitOptions
    rounds: int
    announce: Callable[[str], None] | None
    deadline: Deadline | None
    policy: _OutcomePolicy

    def replan(
        self, requests: Mapping[str, LMInput], hyperparameters: dict[str, Any] | None
    ) -> Callable[[], BatchPlan]:
        """A fresh plan of the caller's requests, to rebuild damaged spool files."""
        return lambda: self.ops._prepare(requests, hyperparameters)[1]


@dataclass(frozen=True)
class _WaitOptions:
    interval: float = 30.0
    max_interval: float = 300.0
    max_iterations: int | None = None
    timeout: float | None = None
    cancel_on_timeout: bool = False
    on_progress: Callable[[BatchInfo], None] | None = None


def _reuse_window(reuse: bool | float) -> float | None:
    if reuse is True:
        return REUSE_WINDOW_SECONDS
    if reuse is False:
        return None
    if reuse < 0:
        raise ValidationError(f"reuse must be True, False or a number of seconds >= 0, not {reuse}")
    return float(reuse)


def _selected(custom_id: str, wanted: set[str]) -> str | None:
    return custom_id if custom_id in wanted else None


def should_resubmit(output: LMOutput, retry_on: Collection[str] = ()) -> bool:
    """Whether a request's outcome is worth submitting again in a new batch.

    Args:
        output: The outcome.
        retry_on: Finish reasons (``length``, ``content_filter``...) for which an ok
            answer is resubmitted too (see ``retry_on`` of :meth:`BatchOperations.invoke`).
    """
    error = output.error
    if error is None:
        return output.finish_reason is not None and output.finish_reason in retry_on
    if error.kind in ("expired", "missing"):
        return True
    if error.kind != "errored":
        return False  # cancelled on purpose, or answered (and billed) but unreadable
    # Set by the provider's decoder, for its vendor's codes and the HTTP status.
    return error.transient


def resubmit_reason(output: LMOutput) -> str:
    """Why an outcome is resubmitted, in a word or two (for progress and ``--json``)."""
    error = output.error
    if error is None:
        return f"finish_reason {output.finish_reason}"
    if error.kind == "errored":
        return f"errored ({error.code or error.status_code or 'transient'})"
    return error.kind


class ResubmissionRound(TypedDict):
    """A resubmission round about to be sent (``on_resubmit`` of ``invoke``).

    Attributes:
        round: The round's number (2 for the first resubmission).
        job_id: The round's job id.
        parent_job_id: The job (round) whose outcomes it resubmits.
        requests: How many requests it resubmits.
        reasons: How many for each reason (``expired``, ``errored (rate_limit_exceeded)``,
            ``finish_reason length``...).
    """

    round: int
    job_id: str
    parent_job_id: str
    requests: int
    reasons: dict[str, int]


@dataclass(frozen=True)
class _OutcomePolicy:
    """What ``invoke`` does with outcomes beyond the defaults: ``retry_on``,
    ``treat_as_error``, and who is told of each resubmission round."""

    retry_on: frozenset[str] = frozenset()
    treat_as_error: frozenset[str] = frozenset()
    on_resubmit: Callable[[ResubmissionRound], None] | None = None

    @classmethod
    def of(
        cls,
        retry_on: Collection[str] | str,
        treat_as_error: Collection[str] | str,
        on_resubmit: Callable[[ResubmissionRound], None] | None,
    ) -> _OutcomePolicy:
        return cls(
            _finish_reasons("retry_on", retry_on),
            _finish_reasons("treat_as_error", treat_as_error),
            on_resubmit,
        )

    def final(self, output: LMOutput, provider: str) -> LMOutput:
        """``output`` as handed to the caller: an error if its finish reason says so."""
        reason = output.finish_reason
        if output.error is not None or reason is None or reason not in self.treat_as_error:
            return output
        error = LMError(
            kind="errored",
            code=f"finish_reason_{reason}",
            message=f"generation stopped with finish_reason {reason!r}, counted as an "
            "error (treat_as_error)",
            provider=provider,
        )
        return output.model_copy(update={"error": error})

    def announce(self, parent: JobRecord, child: JobRecord, reasons: Counter[str]) -> None:
        if self.on_resubmit is None:
            return
        self.on_resubmit(
            ResubmissionRound(
                round=child.round,
                job_id=child.job_id,
                parent_job_id=parent.job_id,
                requests=child.request_count,
                reasons=dict(reasons.most_common()),
            )
        )


def _finish_reasons(name: str, value: Collection[str] | str) -> frozenset[str]:
    """``retry_on``/``treat_as_error`` checked: finish reasons (a word or several)."""
    words = frozenset([value] if isinstance(value, str) else value)
    unknown = sorted(words - FINISH_REASONS)
    if unknown:
        raise ValidationError(
            f"{name}: unknown finish reason(s) {unknown}; choose among "
            f"{', '.join(sorted(FINISH_REASONS))}"
        )
    return words


def _aggregate_status(statuses: list[BatchStatus], has_unsubmitted: bool) -> BatchStatus:
    if has_unsubmitted or any(
        not s.is_terminal and s is not BatchStatus.CANCELING for s in statuses
    ):
        return BatchStatus.IN_PROGRESS
    if any(s is BatchStatus.CANCELING for s in statuses):
        return BatchStatus.CANCELING
    if statuses and all(s is BatchStatus.FAILED for s in statuses):
        return BatchStatus.FAILED
    if any(s is BatchStatus.CANCELLED for s in statuses):
        return BatchStatus.CANCELLED
    if any(s is BatchStatus.EXPIRED for s in statuses):
        return BatchStatus.EXPIRED
    return BatchStatus.FINISHED
