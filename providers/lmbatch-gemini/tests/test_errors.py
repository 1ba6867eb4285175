"""Gemini's HTTP errors become lmbatch's typed errors; a failed create, uncertain or not."""

from __future__ import annotations

import json

import pytest
from lmbatch_gemini._errors import create_error, http_error

from lmbatch.provider import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderConnectionError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
)


def envelope(code: int, status: str, message: str = "m", **extra: object) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "status": status, **extra}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "word", "expected"),
    [
        (400, "INVALID_ARGUMENT", ProviderRequestError),
        (401, "UNAUTHENTICATED", AuthenticationError),
        (403, "PERMISSION_DENIED", AuthenticationError),
        (404, "NOT_FOUND", BatchNotFoundError),
        (429, "RESOURCE_EXHAUSTED", RateLimitError),
        (500, "INTERNAL", ProviderServerError),
        (503, "UNAVAILABLE", ProviderServerError),
    ],
)
def test_statuses(status: int, word: str, expected: type[ProviderError]) -> None:
    error = http_error(status, envelope(status, word, "why"), "status check of batches/x")
    assert type(error) is expected
    assert error.status_code == status
    assert error.code == word
    assert error.provider == "gemini"
    assert "why" in str(error)


def test_a_429_is_transient_and_a_400_is_not() -> None:
    assert http_error(429, envelope(429, "RESOURCE_EXHAUSTED"), "x").is_transient
    assert not http_error(400, envelope(400, "INVALID_ARGUMENT"), "x").is_transient


def test_an_invalid_key_is_an_authentication_error_though_gemini_says_400() -> None:
    body = envelope(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        details=[
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ],
    )
    assert isinstance(http_error(400, body, "listing batches"), AuthenticationError)


def test_a_404_of_a_call_naming_nothing_points_at_the_configuration() -> None:
    error = http_error(
        404,
        envelope(404, "NOT_FOUND", "models/nope is not found for API version v1"),
        "batch creation",
        names_a_resource=False,
        where="https://generativelanguage.googleapis.com, v1, models/nope",
    )
    assert type(error) is ProviderRequestError
    assert "check base_url, api_version and model" in str(error)
    assert "models/nope" in str(error)


def test_a_body_that_is_not_an_envelope() -> None:
    error = http_error(502, b"<html>Bad Gateway</html>", "listing batches")
    assert isinstance(error, ProviderServerError)
    assert "Bad Gateway" in str(error)
    listed = json.dumps([{"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}}])
    assert http_error(429, listed.encode(), "x").code == "RESOURCE_EXHAUSTED"


def test_a_failed_create_is_uncertain_unless_refused() -> None:
    details = {"job_id": "j", "chunk": "0"}
    refused = http_error(400, envelope(400, "INVALID_ARGUMENT"), "batch creation")
    assert create_error(refused, details) is refused
    limited = http_error(429, envelope(429, "RESOURCE_EXHAUSTED"), "batch creation")
    assert create_error(limited, details) is limited  # nothing was made
    for error in (
        http_error(500, envelope(500, "INTERNAL"), "batch creation"),
        ProviderConnectionError("timed out", provider="gemini"),
    ):
        uncertain = create_error(error, details)
        assert isinstance(uncertain, SubmissionUncertainError)
        assert uncertain.details == details
