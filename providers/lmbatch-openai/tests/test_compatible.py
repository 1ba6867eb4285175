"""An OpenAI-compatible vendor is a small subclass: a throwaway one passes the contract.

``AcmeBatchOperations`` below is the whole provider. The local emulator's OpenAI routes
play Acme's API, reached through Acme's own base-URL variable.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from lmbatch_openai import OpenAICompatibleBatchOperations, OpenAICompatibleSettings

from lmbatch.provider import ConfigError, MissingCredentialsError, ProviderLimits
from lmbatch.testing.contract import BatchOperationsContract


class AcmeBatchOperations(OpenAICompatibleBatchOperations):
    """Acme batches (provider name ``acme``), an OpenAI-compatible vendor."""

    name = "acme"
    api_key_env = ("ACME_API_KEY",)
    default_base_url = "https://api.acme.invalid/v1"
    base_url_env = "ACME_BASE_URL"
    endpoints = ("/v1/chat/completions",)
    limits = ProviderLimits(max_requests_per_batch=10_000, max_bytes_per_batch=50 * 1024 * 1024)
    batch_discount = 0.5


MODEL = "acme-large"


@pytest.fixture
def acme_env(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Acme's key and base URL (the emulator) set; OpenAI's key set too, as a decoy."""
    monkeypatch.setenv("ACME_API_KEY", "acme-test-key")
    monkeypatch.setenv("ACME_BASE_URL", emulator.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-be-used")


class TestAcmeContract(BatchOperationsContract):
    """The provider contract, on the emulator."""

    @pytest.fixture
    async def batch_operations(self, acme_env: None) -> AsyncIterator[AcmeBatchOperations]:
        ops = AcmeBatchOperations(model=MODEL, max_retries=0, store=":memory:")
        yield ops
        await ops.aclose()


def test_the_vendor_class_is_small() -> None:
    assert len(inspect.getsource(AcmeBatchOperations).splitlines()) <= 30


async def test_batches_and_outcomes_are_acme_s(acme_env: None) -> None:
    ops = AcmeBatchOperations(model=MODEL, max_retries=0, store=":memory:")
    results = await ops.invoke(
        {"good": "hello", "bad": "no [[lmbatch:error=400]]"}, status_check_interval=0
    )
    assert results["good"].ok
    assert results["bad"].error is not None
    assert results["bad"].error.provider == "acme"
    (job,) = ops.store.list_jobs()
    assert job.provider == "acme"
    info = await ops.info(job.job_id)
    assert info["provider"] == "acme"
    assert all(part["provider"] == "acme" for part in info.get("batches") or [info])
    assert {item["provider"] for item in await ops.list()} == {"acme"}
    await ops.aclose()


async def test_acme_wants_its_own_key_not_openai_s(
    emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-be-used")
    monkeypatch.delenv("ACME_API_KEY", raising=False)
    monkeypatch.setenv("ACME_BASE_URL", emulator.openai_base_url)
    ops = AcmeBatchOperations(model=MODEL, store=":memory:")
    with pytest.raises(MissingCredentialsError) as caught:
        await ops.create({"a": "hi"})
    assert caught.value.env_var == "ACME_API_KEY"
    assert "ACME_API_KEY" in str(caught.value)
    assert "OPENAI" not in str(caught.value)
    assert ops.store.list_jobs() == []
    assert emulator.calls == []


async def test_nothing_of_openai_s_reaches_acme(
    acme_env: None,
    emulator: Any,
    hostile_proxy: Callable[[str | None], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-openai")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-openai")
    proxy = hostile_proxy(emulator.base_url)
    ops = AcmeBatchOperations(
        model=MODEL, base_url=proxy.openai_base_url, max_retries=0, store=":memory:"
    )
    await ops.create({"a": "hi"})
    await ops.aclose()
    assert proxy.calls
    for call in proxy.calls:
        assert call.headers["authorization"] == "Bearer acme-test-key"
        assert "openai-organization" not in call.headers
        assert "openai-project" not in call.headers


def test_the_settings_follow_the_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACME_BASE_URL", raising=False)
    settings_class = AcmeBatchOperations.settings_class
    assert settings_class.__name__ == "AcmeSettings"
    assert issubclass(settings_class, OpenAICompatibleSettings)
    base_url = settings_class.endpoint_options()["base_url"]
    assert base_url.env_var == "ACME_BASE_URL"
    assert base_url.default == "https://api.acme.invalid/v1"
    ops = AcmeBatchOperations(model=MODEL, api_key="k", store=":memory:")
    assert ops.endpoint == "/v1/chat/completions"  # the only endpoint is the default
    assert ops.base_url() == "https://api.acme.invalid/v1"
    assert ops.endpoint_identity == ""
    with pytest.raises(ConfigError, match="endpoint"):
        AcmeBatchOperations(model=MODEL, endpoint="/v1/responses", store=":memory:")


def test_an_endpoint_lmbatch_cannot_speak_is_refused() -> None:
    with pytest.raises(TypeError, match="endpoints"):

        class Embedder(OpenAICompatibleBatchOperations):  # pragma: no cover - refused
            name = "embedder"
            endpoints = ("/v1/embeddings",)
