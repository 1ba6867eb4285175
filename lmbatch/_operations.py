"""`BatchOperations`: the provider interface, and the thin user API over it.

Providers subclass :class:`BatchOperations` and implement a handful of small primitives
(``encode_request``, ``submit_batch``, ``fetch_batch``, ``iter_result_records``,
``list_batches_page``, ``cancel_batch``) and declare their limits as data (the provider
interface, re-exported by :mod:`lmbatch.provider`). The user-facing methods (``create``,
``status``, ``info``, ``retrieve``, ``iter_results``, ``list``, ``cancel``, ``invoke``,
``invoke_iter``, ``estimate``) delegate to an orchestrator (:mod:`lmbatch._jobs`) that
owns everything users rely on: input validation, key mapping, splitting over limits,
the job store, polling, exactly one outcome per key, and the error boundary. Providers
inherit none of it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NamedTuple

from pydantic import SecretStr

from lmbatch._attempts import create_started
from lmbatch._errors import (
    MissingCredentialsError,
    OperationUnsupportedError,
    SubmissionUncertainError,
    ValidationError,
)
from lmbatch._estimate import VENDOR_COUNT_SAMPLE, CountTokens, Estimate
from lmbatch._hyperparameters import Hyperparameters, check_vendor_fields
from lmbatch._jobs._poll_policy import DEFAULT_TIMEOUT
from lmbatch._jobs._resubmit_policy import DEFAULT_RESUBMIT_ROUNDS
from lmbatch._json import load_line
from lmbatch._limits import ProviderLimits, QueueLimit
from lmbatch._messages import LMInput, Message
from lmbatch._outputs import LMOutput
from lmbatch._planning import PreparedBatch
from lmbatch._results import salvage_custom_id
from lmbatch._settings import (
    EndpointOption,
    ProviderSettings,
    derive_settings,
    validate_settings,
)
from lmbatch._status import BatchInfo, BatchStatus
from lmbatch._store_contract import Store, open_store
from lmbatch._wakes import WEBHOOK_TOLERANCE, WebhookEvent, verify_standard_webhook

if TYPE_CHECKING:
    from lmbatch._jobs._orchestrator import Orchestrator
    from lmbatch._jobs._poll_policy import PollPolicy
    from lmbatch._jobs._resubmit_policy import ResubmissionRound

__all__ = [
    "ALL_METHODS",
    "BatchOperations",
    "BatchPage",
    "PreparedBatch",
    "ResultRecord",
]

ALL_METHODS = frozenset({"create", "status", "info", "retrieve", "list", "cancel", "invoke"})
# Module-level alias: inside the class body `list` names the `list()` method.
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


class BatchOperations(ABC):
    """Create, watch and read batches of LLM requests on one provider.

    Get one with :func:`lmbatch.get_batch_operations`. Every public method is a
    coroutine; ids returned by :meth:`create` work with every other method.

    Attributes:
        name: The provider name users select (also the entry-point name).
        settings_class: The provider's :class:`ProviderSettings` subclass.
        limits: What one vendor batch may hold (:class:`ProviderLimits`).
        queue_limits: What the vendor lets wait in its batch queue at once
            (:class:`QueueLimit`), by model name; a key ending in ``*`` matches names
            starting with the rest (``"*"``: any model), the longest key wins. Empty:
            unknown. Users override it with the ``queue_limit_tokens`` and
            ``queue_limit_requests`` options.
        queue_full_codes: Batch error codes with which the vendor fails a whole batch,
            unrun, because its queue was full (OpenAI: ``token_limit_exceeded``): such a
            batch's chunk is sent again once there is room, instead of its requests
            failing.
        supported_methods: The public methods this provider offers.
        result_line_states: The request-count states the vendor writes result lines for.
        result_download_delays: Pauses (seconds) before reading a results download again
            after it failed or came back short; one more attempt than pauses.
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
        webhook_secret_env: The environment variable holding the signing secret of the
            vendor's batch webhooks; declaring it says the provider can be woken by them
            (:meth:`parse_webhook_event` reads their events). None: the vendor sends no
            batch webhooks lmbatch takes, and waiting only polls.

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
    queue_limits: ClassVar[Mapping[str, QueueLimit]] = {}
    queue_full_codes: ClassVar[frozenset[str]] = frozenset()
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
    webhook_secret_env: ClassVar[str | None] = None

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
        self._store_arg = store
        self._store: Store | None = store if isinstance(store, Store) else None
        # The jobs this instance runs (lmbatch._jobs), made by the first user call.
        self._orchestrator: Orchestrator | None = None

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
            from lmbatch._config import resolve_store  # the config file is read if needed

            configured = self._store_arg
            assert not isinstance(configured, Store)
            self._store = open_store(resolve_store(configured))
        return self._store

    @property
    def _jobs(self) -> Orchestrator:
        """The orchestrator behind the user API (see :mod:`lmbatch._jobs`)."""
        if self._orchestrator is None:
            from lmbatch._jobs._orchestrator import Orchestrator

            self._orchestrator = Orchestrator(self)
        return self._orchestrator

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

    # Webhooks: class methods, so the webhook endpoint needs no model, key or settings.

    @classmethod
    def verify_webhook(
        cls,
        body: bytes,
        headers: Mapping[str, str],
        secret: str,
        *,
        tolerance: int = WEBHOOK_TOLERANCE,
    ) -> None:
        """Check that a webhook delivery was signed by the vendor (optional).

        The default checks a `Standard Webhooks <https://www.standardwebhooks.com/>`_
        signature (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``; needs
        ``lmbatch[webhooks]``); a provider whose SDK checks its own signatures may use it
        instead.

        Args:
            body: The delivery's body, as received.
            headers: Its headers, names in lower case (the three above are present).
            secret: The signing secret (from :attr:`webhook_secret_env`).
            tolerance: Seconds the delivery's timestamp may be off this machine's clock.

        Raises:
            WebhookSignatureError: The signature does not match, or the timestamp is
                out of range.
        """
        verify_standard_webhook(body, headers, secret, tolerance=tolerance)

    @classmethod
    def parse_webhook_event(cls, event: Mapping[str, Any]) -> WebhookEvent | None:
        """The batch event in a verified webhook delivery (optional).

        Called only for providers that declare :attr:`webhook_secret_env`, with the
        delivery's JSON body.

        Returns:
            The batch and event type, or None for an event that is not about a batch
            (the delivery is acknowledged and ignored).
        """
        return None

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
        :mod:`lmbatch._jobs._reconcile`). An override returns the batch id, or None when no
        batch was made; core still refuses a batch the store holds and checks the
        results against the chunk's ids before using them.
        """
        raise SubmissionUncertainError(
            f"provider {self.name!r} cannot tell whether chunk {batch.chunk_index} of job "
            f"{batch.job_id} was created; check the vendor console",
            provider=self.name,
            details={"job_id": batch.job_id, "chunk": str(batch.chunk_index)},
        )

    def _record_custom_id(self, record: dict[str, Any]) -> str:
        """The request id inside one encoded record (override if not ``custom_id``)."""
        return str(record["custom_id"])

    # -------------------------------------------------------------- the user API
    # Each delegates to the orchestrator (lmbatch._jobs); providers never override them.

    async def create(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None = None,
        *,
        reuse: bool | float = False,
        on_submitted: Callable[[str, bool], None] | None = None,
        max_cost: float | Decimal | str | None = None,
        detach: bool = False,
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
            detach: Record the job (validated, planned, spooled) and return its lmbatch
                job id without calling the vendor: workers (``lmbatch worker``, see
                :mod:`lmbatch.worker`) sharing the job store submit it, wait for it and
                keep its results in the store. ``on_submitted`` is called once it is
                queued.

        Raises:
            ValidationError: Some input cannot be sent (nothing was sent).
            BudgetExceededError: The upper-bound estimate exceeds ``max_cost``.
            ProviderError: The vendor refused or failed the submission.
        """
        return await self._jobs.create(
            requests,
            hyperparameters,
            reuse=reuse,
            on_submitted=on_submitted,
            max_cost=max_cost,
            detach=detach,
        )

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
        return await self._jobs.estimate(
            requests,
            hyperparameters,
            typical_output_tokens=typical_output_tokens,
            count_tokens=count_tokens,
            count_sample=count_sample,
        )

    async def status(self, batch_id: str) -> BatchStatus:
        """The status of a batch or job."""
        return await self._jobs.status(batch_id)

    async def info(self, batch_id: str) -> BatchInfo:
        """Everything known of a batch or job: status, counts, errors, vendor payload."""
        return await self._jobs.info(batch_id)

    async def retrieve(self, batch_id: str, **kwargs: Any) -> dict[str, LMOutput]:
        """Results of a finished batch: exactly one :class:`LMOutput` per submitted key.

        Failed, expired, cancelled and missing requests come back as outputs whose
        ``error`` is set; one bad line never hides the others. For a whole job (its job
        id, or the batch id of a one-batch job) with later rounds (resubmission rounds,
        :func:`lmbatch.retry`), each key's outcome is its latest, from the last round
        that carried it.

        Raises:
            BatchNotFinishedError: The batch (or a later round) has not reached a
                terminal state.
            ResultsIncompleteError: The results download stayed short of what the vendor
                reports finished (after reading it again); retry later.
        """
        return await self._jobs.retrieve(batch_id)

    def iter_results(self, batch_id: str, **kwargs: Any) -> AsyncIterator[tuple[str, LMOutput]]:
        """Stream ``(key, LMOutput)`` pairs of a finished batch, one line at a time.

        The streaming twin of :meth:`retrieve`, for results too large to hold at once.
        A download that stays short raises :class:`ResultsIncompleteError` after the
        pairs that could be read; none is yielded twice.
        """
        return self._jobs.iter_results(batch_id)

    def invoke_iter(
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
        poll: PollPolicy | None = None,
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
        from lmbatch._jobs._invocation import InvokeArguments

        return self._jobs.invoke_iter(
            requests,
            hyperparameters,
            InvokeArguments(
                status_check_interval=status_check_interval,
                max_iterations=max_iterations,
                timeout=timeout,
                cancel_on_timeout=cancel_on_timeout,
                max_status_check_interval=max_status_check_interval,
                on_progress=on_progress,
                resubmit=resubmit,
                reuse=reuse,
                on_submitted=on_submitted,
                max_cost=max_cost,
                retry_on=retry_on,
                treat_as_error=treat_as_error,
                on_resubmit=on_resubmit,
                poll=poll,
            ),
        )

    async def list(self) -> _BatchDicts:
        """Every batch the provider shows for this account, following all pages."""
        return await self._jobs.list()

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to cancel a batch (or every running batch of a job).

        Requests that finished before the cancel took effect keep their results.
        """
        await self._jobs.cancel(batch_id)

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
        poll: PollPolicy | None = None,
        progress: bool = False,
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
            progress: Show progress on stderr while waiting: a bar (counts, status,
                elapsed, ETA) when rich is installed (the ``cli`` extra), else a plain
                line per change; each resubmission round is announced. ``on_progress``
                and ``on_resubmit`` are still called.

        Raises:
            BatchTimeoutError: ``max_iterations`` or ``timeout`` was reached; carries the
                batch id so the batch can be retrieved later.
            BatchOverdueError: A batch ran well past the vendor's completion window
                (its ``expires_at``) without ending; see :data:`OVERDUE_MARGIN_SECONDS`.
            BudgetExceededError: The upper-bound estimate exceeds ``max_cost``.
        """
        from lmbatch._jobs._invocation import InvokeArguments

        return await self._jobs.invoke(
            requests,
            hyperparameters,
            InvokeArguments(
                status_check_interval=status_check_interval,
                max_iterations=max_iterations,
                timeout=timeout,
                cancel_on_timeout=cancel_on_timeout,
                max_status_check_interval=max_status_check_interval,
                on_progress=on_progress,
                resubmit=resubmit,
                reuse=reuse,
                on_submitted=on_submitted,
                max_cost=max_cost,
                retry_on=retry_on,
                treat_as_error=treat_as_error,
                on_resubmit=on_resubmit,
                poll=poll,
                progress=progress,
            ),
        )
