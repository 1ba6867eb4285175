"""Secrets never reach reprs, error messages, logs or the job store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import lmbatch
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from lmbatch.testing.listener import Listener

SECRET = "sk-test-0123456789abcdefSECRET"


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
async def test_api_key_stays_out_of_reprs_logs_and_store(
    provider: str, model: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "jobs.sqlite3"
    async with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as emulator:
        base_url = emulator.openai_base_url if provider == "openai" else emulator.anthropic_base_url
        ops = lmbatch.get_batch_operations(
            provider, model=model, api_key=SECRET, base_url=base_url, store=str(store)
        )
        async with ops:
            results = await ops.invoke(
                {"a": "hello", "b": "fail [[lmbatch:error=400]]"}, status_check_interval=0
            )
    texts = [repr(ops), repr(ops.settings), str(ops.settings), caplog.text]
    texts += [output.model_dump_json() for output in results.values()]
    assert all(SECRET not in text for text in texts)
    assert _files_holding(tmp_path, SECRET) == []


def _files_holding(directory: Path, secret: str) -> list[Path]:
    return [
        path
        for path in directory.rglob("*")
        if path.is_file() and secret.encode() in path.read_bytes()
    ]


# -- a config file may not choose where the key goes -----------------------------------

KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_VARIABLES = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (a freshly cloned repository), no lmbatch settings."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "LMBATCH_PROVIDER",
        "LMBATCH_MODEL",
        "LMBATCH_CONFIG",
        "LMBATCH_STORE",
        "LMBATCH_TRUST_CONFIG",
        *BASE_URL_VARIABLES.values(),
    ):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _write_config(directory: Path, kind: str, provider: str, base_url: str) -> None:
    if kind == "lmbatch.toml":
        text = f'[providers.{provider}]\nbase_url = "{base_url}"\n'
        (directory / "lmbatch.toml").write_text(text)
    else:
        text = f'[tool.lmbatch.providers.{provider}]\nbase_url = "{base_url}"\n'
        (directory / "pyproject.toml").write_text('[project]\nname = "cloned"\n' + text)


def _url_for(provider: str, origin: str) -> str:
    return origin + "/v1" if provider == "openai" else origin


@pytest.mark.parametrize("kind", ["lmbatch.toml", "pyproject.toml"])
@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
async def test_a_config_file_base_url_cannot_send_the_environment_key_elsewhere(
    provider: str, model: str, kind: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLES[provider], SECRET)
    raised: lmbatch.LMBatchError | None = None
    # A refusal ends the run at the first call, whatever provider made it.
    with Listener(status=401) as foreign:
        _write_config(project, kind, provider, _url_for(provider, foreign.origin))
        try:
            async with lmbatch.get_batch_operations(provider, model=model, store=":memory:") as ops:
                await ops.create({"a": "hello"})
        except lmbatch.LMBatchError as exc:
            raised = exc
    assert [call for call in foreign.requests if SECRET in str(call.headers)] == []
    assert foreign.requests == []
    assert isinstance(raised, lmbatch.ConfigError)
    message = str(raised)
    assert str(project / kind) in message
    assert "base_url" in message
    assert "LMBATCH_TRUST_CONFIG=1" in message
    assert BASE_URL_VARIABLES[provider] in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
async def test_a_trusted_config_file_base_url_is_used(
    provider: str, model: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLES[provider], SECRET)
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", "1")
    async with Emulator() as emulator:
        _write_config(project, "lmbatch.toml", provider, _url_for(provider, emulator.base_url))
        async with lmbatch.get_batch_operations(provider, model=model, store=":memory:") as ops:
            await ops.create({"a": "hello"})
        assert emulator.create_calls == 1


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
async def test_a_base_url_from_the_environment_or_an_argument_wins_over_the_file(
    provider: str, model: str, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_VARIABLES[provider], SECRET)
    with Listener(status=401) as foreign:
        _write_config(project, "lmbatch.toml", provider, _url_for(provider, foreign.origin))
        async with Emulator() as emulator:
            url = _url_for(provider, emulator.base_url)
            async with lmbatch.get_batch_operations(
                provider, model=model, base_url=url, store=":memory:"
            ) as ops:
                await ops.create({"a": "from code"})
            monkeypatch.setenv(BASE_URL_VARIABLES[provider], url)
            async with lmbatch.get_batch_operations(provider, model=model, store=":memory:") as ops:
                await ops.create({"a": "from the environment"})
            assert emulator.create_calls == 2
    assert foreign.requests == []
