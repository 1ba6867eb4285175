"""Running the emulator: context managers, ASGI use, the module entry point, cleanup."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings, EmulatorState, create_app

from .conftest import jsonl, responses_line


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sync_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with Emulator(EmulatorSettings(spill_dir=str(tmp_path))) as emu:
        port = emu.port
        assert emu.base_url == f"http://127.0.0.1:{port}"
        assert emu.openai_base_url.endswith("/v1")
        assert emu.anthropic_base_url == emu.base_url
        response = httpx.get(
            emu.openai_base_url + "/batches", headers={"Authorization": "Bearer k"}
        )
        assert response.status_code == 200
        assert any(tmp_path.iterdir())  # storage lives on disk under the spill dir
    assert not _port_open(port)
    assert not any(tmp_path.iterdir())  # and is removed on stop
    with pytest.raises(RuntimeError):
        _ = emu.base_url


async def test_async_context_manager_starts_and_stops() -> None:
    async with Emulator() as emu:
        port = emu.port
        async with httpx.AsyncClient() as client:
            response = await client.get(
                emu.base_url + "/v1/messages/batches",
                headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            )
        assert response.json() == {"data": [], "has_more": False, "first_id": None, "last_id": None}
    assert not _port_open(port)


async def test_create_app_in_process_with_asgi_transport() -> None:
    app = create_app(EmulatorSettings(mode="manual", require_auth=False))
    state: EmulatorState = app.state.emulator
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            uploaded = await client.post(
                "/v1/files",
                files={"file": ("in.jsonl", jsonl([responses_line("a", "x")]))},
                data={"purpose": "batch"},
            )
            created = await client.post(
                "/v1/batches",
                json={
                    "input_file_id": uploaded.json()["id"],
                    "endpoint": "/v1/responses",
                    "completion_window": "24h",
                },
            )
            state.finish()
            batch = (await client.get(f"/v1/batches/{created.json()['id']}")).json()
            content = await client.get(f"/v1/files/{batch['output_file_id']}/content")
            anthropic_batch = await client.post(
                "/v1/messages/batches",
                headers={"anthropic-version": "2023-06-01"},
                json={
                    "requests": [
                        {
                            "custom_id": "a",
                            "params": {"model": "m", "max_tokens": 9, "messages": []},
                        }
                    ]
                },
            )
            state.finish()
            ended = (
                await client.get(
                    f"/v1/messages/batches/{anthropic_batch.json()['id']}",
                    headers={"anthropic-version": "2023-06-01"},
                )
            ).json()
    finally:
        state.close()
    assert batch["status"] == "completed"
    assert '"custom_id":"a"' in content.text
    assert ended["results_url"].startswith("http://emulator/v1/messages/batches/")


def test_module_entry_point_serves_and_stops() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lmbatch.testing.emulator", "--port", str(port), "--mode", "manual"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not _port_open(port):
            assert proc.poll() is None, "emulator exited"
            assert time.monotonic() < deadline, "emulator did not start"
            time.sleep(0.05)
        response = httpx.get(
            f"http://127.0.0.1:{port}/v1/batches", headers={"Authorization": "Bearer k"}
        )
        assert response.status_code == 200
        assert response.json()["object"] == "list"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="mode"):
        EmulatorSettings(mode="turbo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fraction"):
        EmulatorSettings(cancel_finished_fraction=2)
