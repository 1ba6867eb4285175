"""The plugin's emulator routes are served by ``lmbatch emulator`` beside the other vendors."""

from __future__ import annotations

import httpx
import pytest

from lmbatch.testing import emulator as emulator_module
from lmbatch.testing.emulator import Emulator, EmulatorSettings


def test_lmbatch_emulator_serves_mistral_beside_openai(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("typer")
    from lmbatch.cli import main

    served: list[EmulatorSettings] = []
    monkeypatch.setattr(emulator_module, "serve", lambda **kw: served.append(kw["settings"]))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["emulator", "--port", "8089"]) == 0
    banner = " ".join(capsys.readouterr().err.split())
    assert "Mistral base_url http://127.0.0.1:8089/mistral" in banner
    assert "OpenAI base_url http://127.0.0.1:8089/v1" in banner
    # Both vendors have a /v1/files: Mistral's live under /mistral, each in its own shape.
    auth = {"Authorization": "Bearer k"}
    with Emulator(served[0]) as emu:
        mistral = httpx.get(emu.mistral_base_url + "/v1/files/nope/content", headers=auth)
        openai = httpx.get(emu.openai_base_url + "/files/nope/content", headers=auth)
        unknown = httpx.get(emu.mistral_base_url + "/v1/nothing", headers=auth)
    assert mistral.status_code == openai.status_code == unknown.status_code == 404
    assert mistral.json()["object"] == "error"
    assert unknown.json()["object"] == "error"
    assert "error" in openai.json()
