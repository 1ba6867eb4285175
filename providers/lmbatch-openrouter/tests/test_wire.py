"""OpenRouter's wire facts and quirks, each handled (tests fail without the handling)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from lmbatch_openrouter import OpenRouterBatchOperations
from lmbatch_openrouter._body import CreateBody, create_head
from lmbatch_openrouter._http import status_error
from lmbatch_openrouter._status import batch_info, decode_item

import lmbatch
from lmbatch.provider import (
    Attachment,
    AuthenticationError,
    BatchNotFoundError,
    BatchStatus,
    ConfigError,
    MissingCredentialsError,
    OperationUnsupportedError,
    ProviderRequestError,
    ProviderServerError,
    RateLimitError,
    SubmissionUncertainError,
    ValidationError,
)


def _ops(emulator: Any, **options: Any) -> OpenRouterBatchOperations:
    settings: dict[str, Any] = {"model": "openai/gpt-4.1-mini", "api_key": "test"}
    settings.update(base_url=emulator.openrouter_base_url, max_retries=0, store=":memory:")
    return OpenRouterBatchOperations(**{**settings, **options})


# -- the create body ---------------------------------------------------------------------


def test_create_body_puts_endpoint_and_model_before_requests(tmp_path: Any) -> None:
    chunk = tmp_path / "chunk.jsonl"
    chunk.write_text('{"custom_id":"a","body":{}}\n\n{"custom_id":"b","body":{}}\n')
    head = create_head("/v1/chat/completions", "m", {"only": ["openai"]})
    body = CreateBody(chunk, head)

    async def collect() -> bytes:
        return b"".join([block async for block in body])

    import asyncio

    sent = asyncio.run(collect())
    keys = [key for key, _ in json.loads(sent, object_pairs_hook=list)]
    assert keys == ["endpoint", "model", "completion_window", "provider", "requests"]
    assert len(sent) == body.length
    assert [r["custom_id"] for r in json.loads(sent)["requests"]] == ["a", "b"]


async def test_the_emulator_refuses_requests_before_endpoint_as_openrouter_does(
    emulator: Any,
) -> None:
    body = (
        b'{"requests":[{"custom_id":"a","body":{}}],"endpoint":"/v1/chat/completions","model":"m"}'
    )
    async with httpx.AsyncClient(base_url=emulator.openrouter_base_url) as client:
        answer = await client.post("/batches", content=body, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 400
    assert "before 'requests'" in answer.json()["error"]["message"]


async def test_create_answers_202_with_a_validating_batch(
    emulator: Any, ops: OpenRouterBatchOperations
) -> None:
    batch_id = await ops.create({"a": "one"})
    batch = emulator.state.openrouter_batches[batch_id]
    assert batch.endpoint == "/v1/chat/completions"
    assert batch.model == "openai/gpt-4.1-mini"
    assert batch.requests[0]["body"]["model"] == "openai/gpt-4.1-mini"
    assert batch_info(batch.to_json(results=False), "openrouter")["provider_status"] == "validating"


# -- endpoints, options, credentials -----------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/v1/responses", "/v1/messages", "/v1/embeddings"])
def test_endpoints_lmbatch_does_not_encode_are_refused_with_the_reason(endpoint: str) -> None:
    with pytest.raises(ConfigError, match=r"/v1/chat/completions only"):
        OpenRouterBatchOperations(model="m", endpoint=endpoint, store=":memory:")


async def test_a_missing_key_names_the_variable(emulator: Any) -> None:
    ops = OpenRouterBatchOperations(
        model="m", base_url=emulator.openrouter_base_url, store=":memory:"
    )
    with pytest.raises(MissingCredentialsError) as caught:
        await ops.create({"a": "one"})
    assert caught.value.env_var == "OPENROUTER_API_KEY"


async def test_the_key_comes_from_the_environment(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "from-env")
    ops = lmbatch.get_batch_operations(
        "openrouter", model="m", base_url=emulator.openrouter_base_url, store=":memory:"
    )
    assert await ops.create({"a": "one"})
    await ops.aclose()


async def test_routing_preferences_and_app_headers_are_sent(emulator: Any) -> None:
    ops = _ops(emulator, providers=["openai"], allow_fallbacks=False, app_title="t", app_url="u")
    assert ops.api.client.headers["X-OpenRouter-Title"] == "t"
    assert ops.api.client.headers["HTTP-Referer"] == "u"
    head = create_head("/v1/chat/completions", "m", {"only": ["openai"], "allow_fallbacks": False})
    assert json.loads(head + b"]}")["provider"] == {"only": ["openai"], "allow_fallbacks": False}
    await ops.aclose()


def test_inline_attachment_data_is_refused_before_sending() -> None:
    ops = OpenRouterBatchOperations(model="m", api_key="k", store=":memory:")
    picture = Attachment.from_bytes(b"\x89PNG", "image/png")
    with pytest.raises(ValidationError, match="by URL only"):
        ops.validate_request("k1", [lmbatch.Message.user(picture, "what?")], None)  # type: ignore[arg-type]
    url = Attachment.from_url("https://example.com/a.png", "image/png")
    ops.validate_request("k1", [lmbatch.Message.user(url, "what?")], None)  # type: ignore[arg-type]


# -- limits ------------------------------------------------------------------------------


def test_limits_are_5000_requests_and_200_mb() -> None:
    limits = OpenRouterBatchOperations.limits
    assert limits.max_requests_per_batch == 5_000
    assert limits.max_bytes_per_batch == 200 * 1024 * 1024


async def test_more_than_5000_requests_are_split_over_batches(
    emulator: Any, ops: OpenRouterBatchOperations
) -> None:
    job_id = await ops.create({f"k{i}": "x" for i in range(5_001)})
    sizes = sorted(len(batch.requests) for batch in emulator.state.openrouter_batches.values())
    assert len(sizes) == 2
    assert sum(sizes) == 5_001
    assert max(sizes) <= 5_000
    assert job_id not in emulator.state.openrouter_batches  # a job id over both batches


# -- no cancel, delete only when ended -----------------------------------------------------


async def test_there_is_no_cancel(ops: OpenRouterBatchOperations) -> None:
    assert "cancel" not in ops.supported_methods
    batch_id = await ops.create({"a": "one"})
    with pytest.raises(OperationUnsupportedError):
        await ops.cancel(batch_id)


async def test_delete_is_refused_while_running_and_works_once_ended(
    emulator: Any, ops: OpenRouterBatchOperations
) -> None:
    batch_id = await ops.create({"a": "one"})
    with pytest.raises(ProviderRequestError) as caught:
        await ops.delete(batch_id)
    assert caught.value.status_code == 409
    emulator.finish()
    await ops.delete(batch_id)
    with pytest.raises(BatchNotFoundError):
        await ops.status(batch_id)


# -- list ----------------------------------------------------------------------------------


async def test_list_follows_after_cursors_page_by_page(emulator: Any) -> None:
    ops = _ops(emulator, list_page_size=1)
    created = [await ops.create({"a": f"list {i}"}) for i in range(3)]
    listed = [info["id"] for info in await ops.list()]
    assert listed == list(reversed(created))  # newest first, across three pages
    assert all(info["raw"]["results"] is None for info in await ops.list())
    await ops.aclose()


async def test_list_filters_by_status(emulator: Any, ops: OpenRouterBatchOperations) -> None:
    running = await ops.create({"a": "one"})
    done = await ops.create({"a": "two"})
    emulator.finish()
    emulator.state.openrouter_batches[running].status = "in_progress"
    assert [i["id"] for i in await ops.list_by_status("completed")] == [done]
    assert [i["id"] for i in await ops.list_by_status("in_progress", "completed")] == [
        done,
        running,
    ]


# -- results and outcomes ------------------------------------------------------------------


async def test_results_come_inline_or_by_cursor_pages(
    emulator: Any, ops: OpenRouterBatchOperations
) -> None:
    requests = {f"k{i}": f"question {i}" for i in range(5)}
    results = await ops.invoke(requests, status_check_interval=0)
    assert {key: out.text for key, out in results.items()} == {
        key: f"echo: {text}" for key, text in requests.items()
    }
    (batch,) = emulator.state.openrouter_batches.values()
    info = await ops.info(batch.id)
    # Inline: the terminal batch carries them; paged: they are null, 3 pages of 2 did.
    inline = emulator.state.openrouter_options.inline_results
    assert (info["raw"]["results"] is not None) is inline


async def test_per_request_faults_become_outcomes(ops: OpenRouterBatchOperations) -> None:
    results = await ops.invoke(
        {
            "ok": "fine",
            "limited": "x [[lmbatch:error=429]]",
            "broken": "y [[lmbatch:malformed]]",
        },
        status_check_interval=0,
        resubmit=False,
    )
    assert results["ok"].ok
    assert results["limited"].error is not None
    # An error item with the canonical error_type of the upstream's 429.
    limited = results["limited"].error
    assert (limited.kind, limited.code, limited.transient) == (
        "errored",
        "rate_limit_exceeded",
        True,
    )
    assert results["broken"].error is not None
    assert results["broken"].error.kind == "invalid_response"


async def test_an_expired_batch_keeps_what_finished(ops: OpenRouterBatchOperations) -> None:
    batch_id = await ops.create({"ok": "fine", "late": "slow [[lmbatch:expire]]"})
    for _ in range(10):
        if (await ops.status(batch_id)).is_terminal:
            break
    info = await ops.info(batch_id)
    assert info["status"] is BatchStatus.EXPIRED
    results = await ops.retrieve(batch_id)
    assert results["ok"].ok
    assert results["late"].error is not None
    assert results["late"].error.kind == "expired"


def test_decoding_reads_usage_cost_and_error_types() -> None:
    body = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "cost": 0.001},
        "provider": "OpenAI",
    }
    item = {"custom_id": "a", "response": {"status_code": 200, "request_id": "r", "body": body}}
    record = decode_item(item, False, "openrouter")
    assert record.custom_id == "a"
    assert record.output.text == "hi"
    assert record.output.finish_reason == "length"
    assert record.output.token_usage is not None
    assert record.output.token_usage.input_tokens == 3
    assert record.output.finish_details["cost"] == 0.001
    failed = decode_item(
        {"custom_id": "b", "error": {"type": "server_error", "message": "m"}}, False, "openrouter"
    )
    assert failed.output.error is not None
    assert failed.output.error.kind == "errored"
    assert failed.output.error.transient  # a server error: resubmitted by invoke
    assert decode_item("nonsense", False, "openrouter").output.error is not None


def test_an_unrun_request_is_expired_whatever_its_canonical_error_type() -> None:
    # The official SDK's ResultError: {message, param, type, error_type?}; error_type is one
    # of the canonical APIErrorType words, none of which means "expired".
    error = {"type": "batch_expired", "error_type": "timeout", "message": "m", "param": None}
    record = decode_item({"custom_id": "a", "response": None, "error": error}, False, "openrouter")
    assert record.output.error is not None
    assert record.output.error.kind == "expired"


@pytest.mark.parametrize("error_type", ["provider_overloaded", "provider_unavailable", "server"])
def test_canonical_upstream_failures_are_transient(error_type: str) -> None:
    error = {"type": "upstream_error", "error_type": error_type, "message": "m", "param": None}
    record = decode_item({"custom_id": "a", "response": None, "error": error}, False, "openrouter")
    assert record.output.error is not None
    assert (record.output.error.kind, record.output.error.code) == ("errored", error_type)
    assert record.output.error.transient


# -- HTTP errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, AuthenticationError),
        (402, ProviderRequestError),
        (404, BatchNotFoundError),
        (409, ProviderRequestError),
        (410, BatchNotFoundError),
        (429, RateLimitError),
        (503, ProviderServerError),
    ],
)
def test_http_statuses_map_to_lmbatch_errors(status: int, expected: type[Exception]) -> None:
    response = httpx.Response(status, json={"error": {"code": status, "message": "why"}})
    error = status_error(response, "a call", "openrouter")
    assert type(error) is expected
    assert error.status_code == status
    assert "why" in str(error)


async def test_a_failed_create_is_uncertain_and_never_retried(emulator: Any) -> None:
    from lmbatch.testing.emulator import EndpointFault

    emulator.faults.add(EndpointFault("create", status=500, after_effect=True))
    ops = _ops(emulator, max_retries=3)
    with pytest.raises(SubmissionUncertainError):
        await ops.create({"a": "one"}, reuse=False)
    assert emulator.create_calls == 1
    await ops.aclose()


async def test_a_refused_create_is_definite(emulator: Any) -> None:
    from lmbatch.testing.emulator import EndpointFault

    emulator.faults.add(EndpointFault("create", status=400))
    ops = _ops(emulator)
    with pytest.raises(ProviderRequestError) as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, SubmissionUncertainError)
    await ops.aclose()


@pytest.mark.parametrize(
    ("item", "transient"),
    [
        ({"error": {"type": "server_error", "message": "m"}}, True),
        ({"error": {"type": "invalid_request_error", "message": "m"}}, False),
        ({"response": {"status_code": 429, "body": {"error": {"code": 429}}}}, True),
        ({"response": {"status_code": 400, "body": {"error": {"type": "bad"}}}}, False),
        ({"response": {"status_code": 400, "body": {"error": {"type": "api_error"}}}}, True),
    ],
)
def test_failed_requests_say_whether_they_are_worth_resubmitting(
    item: dict[str, Any], transient: bool
) -> None:
    output = decode_item({"custom_id": "a", **item}, False, "openrouter").output
    assert output.error is not None
    assert output.error.transient is transient


async def test_a_create_at_a_wrong_base_url_names_it_and_is_definite(emulator: Any) -> None:
    ops = _ops(emulator, base_url=emulator.base_url + "/nothing/here")
    with pytest.raises(ProviderRequestError, match="OPENROUTER_BASE_URL") as caught:
        await ops.create({"a": "one"})
    assert not isinstance(caught.value, SubmissionUncertainError)
    assert caught.value.status_code == 404
    await ops.aclose()
