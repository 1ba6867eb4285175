"""Azure's differences from OpenAI, each end to end through the emulator."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lmbatch_azure import AzureBatchOperations

from lmbatch import BatchTimeoutError
from lmbatch.provider import (
    BatchStatus,
    ConfigError,
    MissingCredentialsError,
    PreparedBatch,
    RateLimitError,
)
from lmbatch.testing.emulator import Emulator, EmulatorSettings

MODEL = "gpt-4.1-mini"
DEPLOYMENT = "gpt-4-1-mini-batch"
API_VERSION = "2024-10-21"
MakeOps = Callable[..., AzureBatchOperations]


async def test_every_line_names_the_deployment_on_each_surface(
    ops: AzureBatchOperations, emulator: Any, surface: str
) -> None:
    emulator.state.vendors["azure"].options.deployments = (DEPLOYMENT,)
    requests = {f"k{i}": f"question {i}" for i in range(5)}
    batch_id = await ops.create(requests)
    batch = emulator.state.azure_batches[batch_id]
    lines = [json.loads(line) for line in batch.input_path.read_text().splitlines()]
    assert {line["body"]["model"] for line in lines} == {DEPLOYMENT}
    wire = "/chat/completions" if surface == "classic" else "/v1/chat/completions"
    assert {line["url"] for line in lines} == {wire}
    assert batch.endpoint == wire
    emulator.finish(batch_id)
    results = await ops.retrieve(batch_id)
    assert results["k3"].text == "echo: question 3"


async def test_the_model_name_alone_is_not_a_deployment(emulator: Any, make_ops: MakeOps) -> None:
    """Without ``deployment`` the model goes on the lines; Azure knows no such deployment."""
    emulator.state.vendors["azure"].options.deployments = (DEPLOYMENT,)
    ops = make_ops(emulator.base_url_for("azure"), deployment=None)
    results = await ops.invoke({"q": "Hi"}, status_check_interval=0, resubmit=0)
    error = results["q"].error
    assert error is not None
    assert (error.code, error.provider) == ("model_not_found", "azure")
    assert MODEL in error.message


async def test_uploads_set_an_expiry_so_the_resource_keeps_more_files(
    ops: AzureBatchOperations, emulator: Any
) -> None:
    vendor = emulator.state.vendors["azure"]
    vendor.options.max_files_without_expiry = 0  # an upload without expires_after fails
    batch_id = await ops.create({"q": "Hi"})
    record = vendor.files[emulator.state.azure_batches[batch_id].input_file_id]
    assert record.expires_at - record.created_at == 14 * 86400


async def test_a_file_starting_with_a_bom_is_sent_without_it(
    ops: AzureBatchOperations, emulator: Any, tmp_path: Path
) -> None:
    body = {"model": DEPLOYMENT, "messages": [{"role": "user", "content": "Hi"}]}
    wire = "/chat/completions" if ops.azure.api_version else "/v1/chat/completions"
    record = {"custom_id": "q", "method": "POST", "url": wire, "body": body}
    path = tmp_path / "chunk.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(record).encode() + b"\n")
    prepared = PreparedBatch(
        job_id="job",
        chunk_index=0,
        path=path,
        request_count=1,
        byte_size=path.stat().st_size,
        context={"endpoint": wire},
    )
    batch_id = await ops.submit_batch(prepared)
    batch = emulator.state.azure_batches[batch_id]
    assert not batch.check.errors  # Azure would fail it: "deployment '\ufeff...' not found"
    assert batch.input_path.read_bytes().startswith(b"{")


async def test_a_batch_past_24_hours_is_waited_for_not_called_overdue(make_ops: MakeOps) -> None:
    """Azure keeps late batches running: its ``expires_at`` is no deadline."""
    settings = EmulatorSettings(mode="manual", clock_offset=-30 * 3600)
    with Emulator(settings) as emulator:
        ops = make_ops(emulator.base_url_for("azure"))
        batch_id = await ops.create({"q": "Hi"})
        info = await ops.fetch_batch(batch_id)
        assert info["status"] is BatchStatus.IN_PROGRESS
        assert info["raw"]["expires_at"] < info["raw"]["created_at"] + 86400 + 1
        with pytest.raises(BatchTimeoutError) as waited:
            await ops.invoke({"q": "Hi"}, reuse=True, status_check_interval=0, max_iterations=2)
        assert type(waited.value) is BatchTimeoutError  # not BatchOverdueError
        emulator.finish(batch_id)
        assert (await ops.retrieve(batch_id))["q"].text == "echo: Hi"


async def test_a_batch_over_the_enqueued_token_quota_is_sent_again_once_there_is_room(
    emulator: Any, surface: str, make_ops: MakeOps
) -> None:
    """The vendor fails a batch over the deployment's quota: it is queued again, no round.

    lmbatch's own count (a generous ``queue_limit_tokens``) lets the batch go; Azure's
    quota is smaller. The failed batch costs neither a resubmission round nor a failed key:
    its chunk waits for the batch holding the quota to end, and is sent again.
    """
    ops = make_ops(
        emulator.base_url_for("azure"),
        surface,
        queue_limit_tokens=10_000_000,
        in_flight_check_interval=0,
    )
    vendor = emulator.state.vendors["azure"]
    first = await ops.create({"big": "x" * 400})
    # The first batch's tokens fill the deployment's quota: no room for another.
    held = emulator.state.azure_batches[first].input_path.stat().st_size // 4
    vendor.options.enqueued_token_limit = held + 1
    rounds: list[Any] = []
    results = await ops.invoke(
        {"q": "Hi"}, status_check_interval=0, on_resubmit=rounds.append, resubmit=1
    )
    assert results["q"].text == "echo: Hi"
    assert "lmbatch_round" not in results["q"].finish_details
    assert rounds == []
    refused = [b for b in emulator.state.azure_batches.values() if b.check.errors and b.id != first]
    assert [e["code"] for b in refused for e in b.check.errors] == ["token_limit_exceeded"]
    assert emulator.submissions["q"] == 1  # the refused batch ran nothing
    assert (await ops.status(first)).is_terminal  # polled while q waited


async def test_a_create_refused_for_the_quota_is_a_rate_limit(
    emulator: Any, make_ops: MakeOps
) -> None:
    from lmbatch.testing.proxy import HostileProxy

    refusal = {
        "error": {
            "code": "token_limit_exceeded",
            "message": "Enqueued token limit reached for gpt-4-1-mini-batch.",
            "type": "invalid_request_error",
            "param": None,
        }
    }
    with HostileProxy(emulator.base_url) as proxy:
        proxy.on("POST", "/azure/openai/v1/batches").respond(400, refusal, forward=False)
        ops = make_ops(proxy.url + "/azure")
        with pytest.raises(RateLimitError, match="enqueued-token quota") as raised:
            await ops.create({"q": "Hi"})
        assert (raised.value.code, raised.value.provider) == ("token_limit_exceeded", "azure")
        assert raised.value.is_transient
        assert emulator.state.vendors["azure"].files == {}  # the useless upload was deleted


async def test_the_key_goes_where_each_surface_wants_it(
    emulator: Any, surface: str, make_ops: MakeOps
) -> None:
    """Classic: an ``api-key`` header and ``?api-version=``; GA: a bearer token."""
    from lmbatch.testing.proxy import HostileProxy

    with HostileProxy(emulator.base_url) as proxy:
        ops = make_ops(proxy.url + "/azure", surface, api_key="azure-key")
        await ops.list()
        call = proxy.calls[-1]
        if surface == "classic":
            assert call.headers.get("api-key") == "azure-key"
            assert f"api-version={API_VERSION}" in call.query
            assert call.path == "/azure/openai/batches"
        else:
            assert call.headers.get("authorization") == "Bearer azure-key"
            assert call.path == "/azure/openai/v1/batches"


async def test_without_a_key_an_entra_token_is_used(
    emulator: Any, monkeypatch: pytest.MonkeyPatch, make_ops: MakeOps, surface: str
) -> None:
    """With azure-identity installed and no key, a bearer token from Entra ID is sent."""
    from lmbatch.testing.proxy import HostileProxy

    scopes: list[str] = []

    def get_bearer_token_provider(credential: object, scope: str) -> Any:
        scopes.append(scope)

        async def token() -> str:
            return "entra-token"

        return token

    aio = types.ModuleType("azure.identity.aio")
    aio.DefaultAzureCredential = lambda: object()  # type: ignore[attr-defined]
    aio.get_bearer_token_provider = get_bearer_token_provider  # type: ignore[attr-defined]
    identity = types.ModuleType("azure.identity")
    identity.aio = aio  # type: ignore[attr-defined]
    azure = types.ModuleType("azure")
    azure.identity = identity  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure", azure)
    monkeypatch.setitem(sys.modules, "azure.identity", identity)
    monkeypatch.setitem(sys.modules, "azure.identity.aio", aio)
    monkeypatch.setattr("lmbatch_azure._operations.entra_available", lambda: True)
    with HostileProxy(emulator.base_url) as proxy:
        ops = make_ops(proxy.url + "/azure", surface, api_key=None)
        await ops.list()
        headers = proxy.calls[-1].headers
        assert headers.get("authorization") == "Bearer entra-token"
        assert "api-key" not in headers
        assert scopes == ["https://cognitiveservices.azure.com/.default"]
        assert (await ops.status(await ops.create({"q": "Hi"}))).value == "in_progress"


def test_without_key_or_azure_identity_the_key_variable_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lmbatch_azure._operations.entra_available", lambda: False)
    ops = AzureBatchOperations(model=MODEL, endpoint="https://r.openai.azure.com")
    with pytest.raises(MissingCredentialsError, match=r"AZURE_OPENAI_API_KEY.*azure-identity"):
        ops.check_ready()


def test_the_endpoint_comes_from_azure_openai_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        AzureBatchOperations(model=MODEL, api_key="k")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com/")
    ops = AzureBatchOperations(model=MODEL, api_key="k", store=":memory:")
    assert ops.connection["endpoint"] == "https://res.openai.azure.com/"
    assert ops.base_url() == "https://res.openai.azure.com/openai/v1/"
