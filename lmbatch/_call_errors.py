"""What a failed vendor call means, decided once for every provider.

A provider extracts from its SDK's exception what the vendor said (the HTTP status, the
message, the request id, the error code); core decides what it means:

=========================  ==============================================================
the vendor answered        lmbatch error (:func:`error_for_status`)
=========================  ==============================================================
401, 403                   :class:`AuthenticationError`
404                        :class:`BatchNotFoundError`; for a call that names no batch (an
                           upload, a create: ``base_url`` given) a
                           :class:`ProviderRequestError` naming the base URL
429                        :class:`RateLimitError`
5xx                        :class:`ProviderServerError`
other 4xx                  :class:`ProviderRequestError` (408 and 409 are transient)
nothing (``None``)         :class:`ProviderConnectionError` (connection refused or lost,
                           timeout)
=========================  ==============================================================

The call that creates a batch is special: only a definite answer of the vendor
(:func:`is_definite_refusal`: a 4xx) proves that no batch was made. A 5xx, a timeout, a
lost connection or an unreadable answer may have come after the vendor made the batch
(and billed it): :func:`create_failure` turns those into :class:`SubmissionUncertainError`
(built by :func:`create_uncertain`), which core reconciles with the vendor before anything
is sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from lmbatch._errors import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
)

if TYPE_CHECKING:
    from lmbatch._planning import PreparedBatch

__all__ = ["create_failure", "create_uncertain", "error_for_status", "is_definite_refusal"]


def error_for_status(
    status_code: int | None,
    message: str,
    *,
    provider: str,
    request_id: str | None = None,
    code: str | None = None,
    base_url: str | None = None,
    base_url_env: str | None = None,
) -> ProviderError:
    """The lmbatch error for a vendor call that failed (see the table above).

    Args:
        status_code: The HTTP status the vendor answered with; None when no answer came
            (the connection was refused or lost, the call timed out).
        message: What went wrong, in words (the vendor's message, with what was being
            done); the error's text.
        provider: The provider's name (``self.name``).
        request_id: The vendor's request id, when it gave one.
        code: The vendor's error code or type, when it gave one.
        base_url: Give it for a call that names no batch (an upload, a create, a list):
            a 404 there means nothing answers at this base URL (a wrong ``base_url``),
            not that a batch is unknown, and the error says so.
        base_url_env: The environment variable that sets the base URL, named in that
            message.
    """
    if status_code is None:
        return ProviderConnectionError(message, provider=provider, code=code)
    error_class: type[ProviderError]
    if status_code == 404 and base_url is not None:
        error_class = ProviderRequestError
        where = f" (or {base_url_env})" if base_url_env else ""
        message = (
            f"{message}; not found at base URL {base_url} (HTTP 404): check the configured "
            f"base_url{where}"
        )
    elif status_code in (401, 403):
        error_class = AuthenticationError
    elif status_code == 404:
        error_class = BatchNotFoundError
    elif status_code == 429:
        error_class = RateLimitError
    elif status_code >= 500:
        error_class = ProviderServerError
    elif 400 <= status_code < 500:
        error_class = ProviderRequestError
    else:
        error_class = ProviderError
    return error_class(
        message, provider=provider, status_code=status_code, request_id=request_id, code=code
    )


def is_definite_refusal(error: BaseException) -> bool:
    """Whether a create call that raised ``error`` certainly made no batch.

    Only a vendor's 4xx answer is: it refused the call. Anything else (a 5xx, a lost
    connection, a timeout, an unreadable answer, an interruption) may have come after the
    vendor made the batch.
    """
    return (
        isinstance(error, ProviderError)
        and not isinstance(error, SubmissionUncertainError)
        and error.status_code is not None
        and 400 <= error.status_code < 500
    )


def create_uncertain(
    batch: PreparedBatch,
    what: str,
    *,
    provider: str,
    cause: ProviderError | None = None,
    details: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> SubmissionUncertainError:
    """The error for a create call of ``batch`` whose outcome is unknown.

    The chunk stays uncertain: nothing is sent again until core has asked the vendor
    whether the batch exists (the same call run again, or :func:`lmbatch.resume`).

    Args:
        batch: The batch whose create call failed.
        what: How the call ended, completing "the create call of chunk N of job J ..."
            (``"answered without a batch id"``).
        provider: The provider's name (``self.name``).
        cause: The lmbatch error the call failed with, if any: its status, request id
            and code are kept.
        details: What else is known of the attempt (an uploaded file id...): kept in
            ``details`` with the job id and chunk, and named in the message.
        request_id: The vendor's request id of the call, when known and there is no
            ``cause`` carrying it (an answer that could not be read).
    """
    extra = dict(details or {})
    named = f" Known: {', '.join(f'{k}={v}' for k, v in extra.items())}." if extra else ""
    return SubmissionUncertainError(
        f"the create call of chunk {batch.chunk_index} of job {batch.job_id} {what}. The "
        f"batch may or may not exist; it was not sent again.{named} Running the same call "
        f"again (or lmbatch.resume({batch.job_id!r})) asks {provider} before sending anything",
        details={"job_id": batch.job_id, "chunk": str(batch.chunk_index), **extra},
        provider=provider,
        status_code=cause.status_code if cause is not None else None,
        request_id=cause.request_id if cause is not None else request_id,
        code=cause.code if cause is not None else None,
    )


def create_failure(
    batch: PreparedBatch,
    error: ProviderError,
    *,
    provider: str,
    details: Mapping[str, str] | None = None,
) -> ProviderError:
    """The error to raise when the create call of ``batch`` failed with ``error``.

    ``error`` itself when it is a definite refusal (:func:`is_definite_refusal`: nothing
    was made, the chunk is sent again later); otherwise :func:`create_uncertain`.
    """
    if is_definite_refusal(error) or isinstance(error, SubmissionUncertainError):
        return error
    # The cause's own words: its status, code and request id are carried over anyway.
    words = Exception.__str__(error)
    return create_uncertain(
        batch, f"failed ({words})", provider=provider, cause=error, details=details
    )
