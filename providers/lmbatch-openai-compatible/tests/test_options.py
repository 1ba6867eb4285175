"""The provider is configured entirely by options; several servers are named instances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lmbatch_openai_compatible import OpenAICompatibleServerBatchOperations

import lmbatch
from lmbatch.provider import ConfigError, MissingCredentialsError

MODEL = "meta-llama/Llama-3.3-70B-Instruct"


def test_base_url_is_required() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        OpenAICompatibleServerBatchOperations(model=MODEL, api_key="k")


def test_the_key_comes_from_the_variable_api_key_env_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "an-openai-key")  # never sent elsewhere
    ops = OpenAICompatibleServerBatchOperations(
        model=MODEL,
        base_url="https://nebius.example/v1",
        api_key_env="NEBIUS_API_KEY",
        store=":memory:",
    )
    with pytest.raises(MissingCredentialsError, match="NEBIUS_API_KEY") as missing:
        ops.check_ready()
    assert missing.value.env_var == "NEBIUS_API_KEY"
    monkeypatch.setenv("NEBIUS_API_KEY", "a-nebius-key")
    ops.check_ready()
    assert ops.api_key() == "a-nebius-key"
    assert ops.connection == {
        "base_url": "https://nebius.example/v1",
        "api_key_env": "NEBIUS_API_KEY",
        "endpoint": "/v1/chat/completions",
    }


def test_a_server_without_keys_needs_none() -> None:
    ops = OpenAICompatibleServerBatchOperations(
        model=MODEL, base_url="http://127.0.0.1:8000/v1", api_key_env="", store=":memory:"
    )
    ops.check_ready()


def test_limits_and_endpoints_are_options() -> None:
    ops = OpenAICompatibleServerBatchOperations(
        model=MODEL,
        base_url="https://x.example/v1",
        api_key="k",
        max_requests_per_batch=5_000_000,
        max_bytes_per_batch=10_000_000_000,
        endpoints=("/v1/chat/completions", "/v1/responses"),
        endpoint="/v1/responses",
        store=":memory:",
    )
    assert ops.limits.max_requests_per_batch == 5_000_000
    assert ops.limits.max_bytes_per_batch == 10_000_000_000
    assert ops.endpoint == "/v1/responses"
    with pytest.raises(ConfigError, match="not among the server's endpoints"):
        OpenAICompatibleServerBatchOperations(
            model=MODEL, base_url="https://x.example/v1", api_key="k", endpoint="/v1/responses"
        )


async def test_two_named_servers_in_lmbatch_toml_swap_by_provider_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: Any, server_url: str
) -> None:
    """``[providers.<name>] type = "openai-compatible"``: one script, two servers."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", "1")  # the file names the servers' URLs
    monkeypatch.setenv("NEBIUS_API_KEY", "key-one")
    monkeypatch.setenv("CEREBRAS_API_KEY", "key-two")
    servers = (
        f'[providers.nebius]\ntype = "openai-compatible"\nmodel = "{MODEL}"\n'
        f'base_url = "{server_url}"\napi_key_env = "NEBIUS_API_KEY"\n'
        f'[providers.cerebras]\ntype = "openai-compatible"\nmodel = "llama-3.3-70b"\n'
        f'base_url = "{server_url}"\napi_key_env = "CEREBRAS_API_KEY"\n'
        "max_requests_per_batch = 1\n"
    )

    async def user_script() -> tuple[str, str | None, int]:
        ops = lmbatch.get_batch_operations(store=":memory:")
        async with ops:
            results = await ops.invoke({"a": "one", "b": "two"}, status_check_interval=0)
        return ops.model or "", results["a"].text, ops.limits.max_requests_per_batch

    (tmp_path / "lmbatch.toml").write_text('provider = "nebius"\n' + servers)
    assert await user_script() == (MODEL, "echo: one", 50_000)
    (tmp_path / "lmbatch.toml").write_text('provider = "cerebras"\n' + servers)
    assert await user_script() == ("llama-3.3-70b", "echo: one", 1)  # split in two batches
