"""The plugin's emulator routes are served by ``lmbatch emulator`` beside the other vendors."""

from __future__ import annotations

from typing import Any

import pytest
from lmbatch_openrouter import OpenRouterBatchOperations

from lmbatch.provider import ProviderServerError
from lmbatch.testing import emulator as emulator_module
from lmbatch.testing.emulator import Emulator, EmulatorSettings, EndpointFault


async def test_lmbatch_emulator_serves_openrouter(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("typer")
    from lmbatch.cli import main

    served: list[EmulatorSettings] = []
    monkeypatch.setattr(emulator_module, "serve", lambda **kw: served.append(kw["settings"]))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["emulator", "--port", "8089", "--fault", "list=503,provider=openrouter"]) == 0
    banner = " ".join(capsys.readouterr().err.split())
    assert "OpenRouter base_url http://127.0.0.1:8089/openrouter/api/v1" in banner
    assert "OpenAI base_url http://127.0.0.1:8089/v1" in banner
    assert served[0].endpoint_faults == [EndpointFault("list", 503, provider="openrouter")]
    # What the command serves: OpenRouter's routes, with the fault aimed at them.
    async with Emulator(served[0]) as emu:
        options: dict[str, Any] = {"model": "m", "api_key": "k", "store": ":memory:"}
        ops = OpenRouterBatchOperations(base_url=emu.openrouter_base_url, max_retries=0, **options)
        with pytest.raises(ProviderServerError):
            await ops.list()
        await ops.aclose()
        assert [(call.provider, call.status) for call in emu.calls] == [("openrouter", 503)]
