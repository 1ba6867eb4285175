"""Errors: SDK exceptions become lmbatch errors in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest
from lmbatch_anthropic._errors import map_error

from lmbatch import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
)
from lmbatch.provider import PreparedBatch, create_failure

REQUEST = httpx2.Request("POST", "https://api.anthropic.com/v1/messages/batches")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    529: "overloaded_error",
}


def status_error(status: int) -> anthropic.APIStatusError:
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": ERROR_TYPES[status], "message": f"failure {status}"},
        "request_id": "req_42",
    }
    response = httpx2.Response(status, json=body, headers={"request-id": "req_42"}, request=REQUEST)
    client = anthropic.Anthropic(api_key="test")
    return client._make_status_error_from_response(response)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ProviderRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, BatchNotFoundError),
        (413, ProviderRequestError),
        (429, RateLimitError),
        (500, ProviderServerError),
        (503, ProviderServerError),
        (529, ProviderServerError),
    ],
)
def test_status_errors(status: int, expected: type[ProviderError]) -> None:
    mapped = map_error(status_error(status), "anthropic")
    assert type(mapped) is expected
    assert mapped.provider == "anthropic"
    assert mapped.status_code == status
    assert mapped.request_id == "req_42"
    assert mapped.code == ERROR_TYPES[status]
    assert f"failure {status}" in str(mapped)


def test_connection_and_timeout_errors() -> None:
    timeout = map_error(anthropic.APITimeoutError(request=REQUEST), "anthropic")
    assert isinstance(timeout, ProviderConnectionError)
    assert timeout.is_transient
    lost = map_error(anthropic.APIConnectionError(request=REQUEST), "anthropic")
    assert isinstance(lost, ProviderConnectionError)


def submission_error(exc: anthropic.AnthropicError, details: dict[str, str]) -> ProviderError:
    """What the provider raises for a create call that failed with ``exc``."""
    batch = PreparedBatch(
        job_id="j", chunk_index=0, path=Path("chunk.jsonl"), request_count=1, byte_size=2
    )
    mapped = map_error(exc, "anthropic", base_url="https://api.anthropic.com")
    return create_failure(batch, mapped, provider="anthropic", details=details)


@pytest.mark.parametrize("status", [500, 529])
def test_uncertain_create(status: int) -> None:
    error = submission_error(status_error(status), {"request_count": "1"})
    assert isinstance(error, SubmissionUncertainError)
    assert error.details == {"job_id": "j", "chunk": "0", "request_count": "1"}
    assert error.provider == "anthropic"
    assert error.status_code == status
    assert error.request_id == "req_42"


def test_uncertain_create_on_timeout() -> None:
    error = submission_error(anthropic.APITimeoutError(request=REQUEST), {})
    assert isinstance(error, SubmissionUncertainError)


@pytest.mark.parametrize(
    ("status", "expected"), [(400, ProviderRequestError), (429, RateLimitError)]
)
def test_definite_create_refusal(status: int, expected: type[ProviderError]) -> None:
    error = submission_error(status_error(status), {})
    assert type(error) is expected
