"""Gemini's HTTP errors become lmbatch's typed errors."""

from __future__ import annotations

import json

import pytest
from lmbatch_gemini._errors import http_error

from lmbatch.provider import (
    AuthenticationError,
    BatchNotFoundError,
    ProviderError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
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
        base_url="https://proxy.example",
        base_url_env="GOOGLE_GEMINI_BASE_URL",
    )
    assert type(error) is ProviderRequestError
    assert "models/nope is not found" in str(error)
    assert "check the model and api_version too" in str(error)
    assert "https://proxy.example" in str(error)
    assert "GOOGLE_GEMINI_BASE_URL" in str(error)


def test_errors_carry_the_providers_name() -> None:
    error = http_error(500, envelope(500, "INTERNAL"), "x", provider="gemini-eu")
    assert error.provider == "gemini-eu"


def test_a_body_that_is_not_an_envelope() -> None:
    error = http_error(502, b"<html>Bad Gateway</html>", "listing batches")
    assert isinstance(error, ProviderServerError)
    assert "Bad Gateway" in str(error)
    listed = json.dumps([{"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}}])
    assert http_error(429, listed.encode(), "x").code == "RESOURCE_EXHAUSTED"
