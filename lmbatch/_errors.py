"""The lmbatch error tree.

Every error lmbatch raises derives from :class:`LMBatchError`; vendor SDK exceptions never
cross the library boundary, providers translate them into this tree::

    LMBatchError
    ├── ConfigError
    │   ├── UnknownProviderError
    │   ├── MissingCredentialsError
    │   ├── PriceUnknownError          (no price for a model, and a cost was needed)
    │   ├── EndpointMismatchError      (options name another endpoint than a job's)
    │   └── AmbiguousBatchError        (a bare batch id recorded on several endpoints)
    ├── ValidationError                (also a ValueError)
    │   └── BudgetExceededError        (the upper-bound estimate exceeds max_cost)
    ├── ProviderError                  (provider, status_code, request_id, code)
    │   ├── AuthenticationError        (401, 403)
    │   ├── RateLimitError             (429)
    │   ├── BatchNotFoundError         (404, or an id the provider does not know)
    │   ├── ProviderServerError        (5xx)
    │   ├── ProviderConnectionError    (network failures, timeouts talking to the vendor)
    │   ├── ProviderRequestError       (any other 4xx)
    │   ├── SubmissionUncertainError   (a create call may or may not have reached the vendor)
    │   │   └── SubmissionAmbiguousError (lmbatch cannot prove which batch, if any, it made)
    │   ├── UntrustedURLError          (a vendor link points off the configured API host)
    │   └── ResultsIncompleteError     (a results download stayed short of the vendor's counts)
    ├── StoreError                     (the job store or its spool cannot be read or written)
    │   └── SpoolDamagedError          (a job's spooled input is not what was written)
    ├── BatchNotFinishedError          (retrieve before a terminal state)
    ├── BatchTimeoutError              (also a TimeoutError; carries batch_id)
    │   └── BatchOverdueError          (the vendor kept a batch past its window)
    ├── JobStateError                  (the job store holds a state lmbatch cannot continue)
    │   └── RetryInputMissingError     (a job's input is gone: retry needs the requests)
    ├── OperationUnsupportedError
    └── ProviderConflictError          (two plugins claim one provider name)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousBatchError",
    "AuthenticationError",
    "BatchNotFinishedError",
    "BatchNotFoundError",
    "BatchOverdueError",
    "BatchTimeoutError",
    "BudgetExceededError",
    "ConfigError",
    "EndpointMismatchError",
    "JobStateError",
    "LMBatchError",
    "MissingCredentialsError",
    "OperationUnsupportedError",
    "PriceUnknownError",
    "ProviderConflictError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderRequestError",
    "ProviderServerError",
    "RateLimitError",
    "ResultsIncompleteError",
    "RetryInputMissingError",
    "SpoolDamagedError",
    "StoreError",
    "SubmissionAmbiguousError",
    "SubmissionUncertainError",
    "UnknownProviderError",
    "UntrustedURLError",
    "ValidationError",
    "is_transient_status",
]

#: HTTP statuses that mean "try again later" rather than "this call is wrong": request
#: timeout, conflict (a resource busy), rate limit, and every server error.
_TRANSIENT_4XX = frozenset({408, 409, 429})


def is_transient_status(status_code: int | None) -> bool:
    """Whether an HTTP status says the same call (or request) may succeed later.

    408, 409, 429 and every 5xx. The one definition lmbatch uses, for failed calls
    (:attr:`ProviderError.is_transient`) and for failed requests (``LMError.transient``).
    """
    return status_code is not None and (status_code in _TRANSIENT_4XX or status_code >= 500)


class LMBatchError(Exception):
    """Base class of every error raised by lmbatch."""


class ConfigError(LMBatchError):
    """The configuration (arguments, environment, config files) is invalid or incomplete."""


class UnknownProviderError(ConfigError):
    """No installed provider has the requested name.

    Attributes:
        provider: The name that was asked for.
        available: Names of the providers that are installed and working.
    """

    def __init__(self, message: str, *, provider: str, available: list[str]) -> None:
        super().__init__(message)
        self.provider = provider
        self.available = available


class MissingCredentialsError(ConfigError):
    """A provider needs a credential (an API key) that was not given.

    Attributes:
        env_var: The environment variable the credential is read from (the first one,
            when several are).
        env_vars: Every environment variable the credential is read from, in order.
    """

    def __init__(
        self,
        message: str,
        *,
        env_var: str | None = None,
        env_vars: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(message)
        if env_vars is None:
            env_vars = (env_var,) if env_var is not None else ()
        self.env_var = env_var if env_var is not None else next(iter(env_vars), None)
        self.env_vars = tuple(env_vars)


class EndpointMismatchError(ConfigError):
    """The options in use name another endpoint than the one a job was created on.

    Reading a batch id through another endpoint would read another batch (ids are only
    unique per endpoint), so lmbatch refuses; nothing was sent. The message says which
    options the job was created with.

    Attributes:
        batch_id: The batch or job id asked for.
        recorded: The endpoint identities the store holds it on ("": the default one).
        current: The endpoint identity of the options in use.
    """

    def __init__(self, message: str, *, batch_id: str, recorded: list[str], current: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.recorded = recorded
        self.current = current


class AmbiguousBatchError(ConfigError):
    """A bare batch id is recorded on several endpoints (or providers) in the job store.

    lmbatch never guesses which one was meant; the message lists them and the options
    that pick one (``--provider``, ``-O base_url=...``, or the lmbatch job id).

    Attributes:
        batch_id: The id asked for.
        candidates: ``{"provider", "endpoint", "job_id"}`` of each batch holding it.
    """

    def __init__(self, message: str, *, batch_id: str, candidates: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.candidates = candidates


class ValidationError(LMBatchError, ValueError):
    """Input was refused before anything was sent to a provider.

    Attributes:
        key: The request key at fault, when the problem belongs to one request.
        reason: What was wrong, in words.
    """

    def __init__(self, reason: str, *, key: str | None = None) -> None:
        message = f"request {key!r}: {reason}" if key is not None else reason
        super().__init__(message)
        self.key = key
        self.reason = reason


class PriceUnknownError(ConfigError):
    """No price is known for a model, and a cost was needed (a budget, an estimate).

    Attributes:
        provider: The lmbatch provider name.
        model: The model with no price.
    """

    def __init__(self, message: str, *, provider: str, model: str | None) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class BudgetExceededError(ValidationError):
    """What would be submitted may cost more than ``max_cost`` allows; nothing was sent.

    Attributes:
        max_cost: The budget, in USD.
        spent: What the job had already cost (earlier rounds), in USD.
        upper_bound: The upper-bound estimate of what would be submitted, in USD.
    """

    def __init__(self, reason: str, *, max_cost: Any, spent: Any, upper_bound: Any) -> None:
        super().__init__(reason)
        self.max_cost = max_cost
        self.spent = spent
        self.upper_bound = upper_bound


class ProviderError(LMBatchError):
    """The provider's API returned an error or could not be reached.

    Attributes:
        provider: Name of the lmbatch provider that made the call.
        status_code: HTTP status of the failed call, when there was one.
        request_id: The vendor's request id, when known (quote it to vendor support).
        code: The vendor's error code or type, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.request_id = request_id
        self.code = code

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("provider", self.provider),
                ("status", self.status_code),
                ("code", self.code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        base = super().__str__()
        return f"{base} ({', '.join(details)})" if details else base

    @property
    def is_transient(self) -> bool:
        """Whether retrying the same call later may succeed."""
        return False


class AuthenticationError(ProviderError):
    """The provider refused the credentials (HTTP 401 or 403)."""


class RateLimitError(ProviderError):
    """The provider rate-limited the call (HTTP 429)."""

    @property
    def is_transient(self) -> bool:
        return True


class BatchNotFoundError(ProviderError):
    """The provider (or the job store) does not know this batch id."""


class ProviderServerError(ProviderError):
    """The provider failed on its side (HTTP 5xx or an overload signal)."""

    @property
    def is_transient(self) -> bool:
        return True


class ProviderConnectionError(ProviderError):
    """The provider could not be reached, or the call timed out."""

    @property
    def is_transient(self) -> bool:
        return True


class ProviderRequestError(ProviderError):
    """The provider rejected the call (a 4xx other than 401/403/404/429)."""

    @property
    def is_transient(self) -> bool:
        return is_transient_status(self.status_code)  # 408, 409


class SubmissionUncertainError(ProviderError):
    """A batch-creating call failed in a way that leaves unknown whether the batch exists.

    lmbatch never repeats such a call blindly, because a repeat may be billed twice.

    Attributes:
        details: What is known of the attempt (uploaded file id, lmbatch job id...).
    """

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, str] | None = None,
        provider: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            status_code=status_code,
            request_id=request_id,
            code=code,
        )
        self.details = dict(details or {})


class UntrustedURLError(ProviderError):
    """The vendor named a download link on a host lmbatch does not send credentials to.

    Links are only followed on the configured base URL's host (or the vendor's own
    documented API host, read through the configured base URL); nothing was sent.

    Attributes:
        host: The host the link named (``host`` or ``host:port``).
    """

    def __init__(self, message: str, *, host: str, provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.host = host


class StoreError(LMBatchError):
    """The job store, or the spool folder beside it, cannot be read or written.

    The file is damaged or is not a job store, the disk is full, or permissions forbid
    it. Nothing was sent to the provider because of the failed operation; the message
    names the file or folder and what to do.

    Attributes:
        path: The store file or spool folder at fault.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class ResultsIncompleteError(ProviderError):
    """A batch's results download stayed short of what the vendor reports finished.

    Raised after the download was read again several times, instead of reporting the
    requests whose lines did not arrive as ``missing`` (which ``invoke`` would resubmit and
    pay for twice). Transient: the results stay with the vendor; retrieve them later.

    Attributes:
        batch_id: The vendor batch whose results came back short.
        expected: Result lines the vendor's request counts promise.
        read: Those of them that could be read.
    """

    def __init__(
        self,
        message: str,
        *,
        batch_id: str,
        expected: int,
        read: int,
        provider: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider)
        self.batch_id = batch_id
        self.expected = expected
        self.read = read

    @property
    def is_transient(self) -> bool:
        return True


class SpoolDamagedError(StoreError):
    """A job's spooled input (the encoded requests waiting to be sent) is damaged or gone.

    Every chunk file is checksummed when it is spooled and checked again before it is
    uploaded or read to resubmit requests, so nothing damaged is ever sent. When the call
    at hand holds the original requests (the same ``invoke`` run again), the file is
    rebuilt from them instead and this error is not raised.

    Attributes:
        job_id: The lmbatch job.
        chunk_index: The chunk whose file is damaged.
        path: The chunk file.
    """

    def __init__(self, message: str, *, job_id: str, chunk_index: int, path: str) -> None:
        super().__init__(message, path=path)
        self.job_id = job_id
        self.chunk_index = chunk_index


class SubmissionAmbiguousError(SubmissionUncertainError):
    """lmbatch cannot prove which batch, if any, an interrupted create of a chunk made.

    It never guesses: the message names the candidate batches and the commands that
    settle the question (``lmbatch resolve JOB_ID --chunk N --adopt BATCH_ID`` or
    ``--not-created``; :func:`lmbatch.resolve` from Python), or running the job again
    once the candidates have ended (their results tell them apart).

    Attributes:
        job_id: The lmbatch job.
        chunk_index: The chunk whose batch is in question.
        candidates: Vendor batch ids that could be the chunk's.
        commands: Command lines that resolve it.
    """

    def __init__(
        self,
        message: str,
        *,
        job_id: str,
        chunk_index: int,
        candidates: list[str],
        commands: list[str],
        provider: str | None = None,
    ) -> None:
        super().__init__(
            message,
            details={
                "job_id": job_id,
                "chunk": str(chunk_index),
                "candidates": ",".join(candidates),
            },
            provider=provider,
        )
        self.job_id = job_id
        self.chunk_index = chunk_index
        self.candidates = list(candidates)
        self.commands = list(commands)


class BatchNotFinishedError(LMBatchError):
    """Results were asked for before the batch reached a terminal state.

    Attributes:
        batch_id: The batch (or job) id.
        status: Its status when asked.
    """

    def __init__(self, message: str, *, batch_id: str, status: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id
        self.status = status


class BatchTimeoutError(LMBatchError, TimeoutError):
    """`invoke` stopped waiting (`max_iterations` or `timeout` reached).

    Attributes:
        batch_id: The batch (or job) that was being waited for; it is left running
            unless `cancel_on_timeout=True` was given.
    """

    def __init__(self, message: str, *, batch_id: str) -> None:
        super().__init__(message)
        self.batch_id = batch_id


class BatchOverdueError(BatchTimeoutError):
    """A batch is still not finished well past the vendor's completion window.

    Raised while waiting once a batch has run past its ``expires_at`` (or its creation
    time plus the provider's completion window) by more than a safety margin: the vendor
    should have ended it (as expired) by then, so lmbatch stops waiting instead of polling
    forever. The batch is left as it is; cancel it and retrieve what finished.

    Attributes:
        batch_id: The batch (or job) that was being waited for.
        overdue_batch_id: The vendor batch that is overdue (one chunk of a job).
        provider_status: The vendor's last status word for it.
    """

    def __init__(
        self, message: str, *, batch_id: str, overdue_batch_id: str, provider_status: str
    ) -> None:
        super().__init__(message, batch_id=batch_id)
        self.overdue_batch_id = overdue_batch_id
        self.provider_status = provider_status


class JobStateError(LMBatchError):
    """The job store holds a state lmbatch cannot continue from (nothing was sent).

    Attributes:
        job_id: The lmbatch job concerned.
    """

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class RetryInputMissingError(JobStateError):
    """A job's failed keys cannot be retried: its spooled input is gone (nothing was sent).

    lmbatch keeps a job's encoded input while some of its keys failed; a job finished
    by an older lmbatch, or whose input was discarded, has none. Pass the original
    requests (``requests=`` of :func:`lmbatch.retry`, ``--requests FILE`` of
    ``lmbatch retry``): they are checked against the job's fingerprint.

    Attributes:
        job_id: The lmbatch job concerned.
    """


class OperationUnsupportedError(LMBatchError):
    """The provider does not offer this operation."""


class ProviderConflictError(LMBatchError):
    """Two plugins registered providers under one name."""
