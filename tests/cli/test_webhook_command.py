"""``lmbatch webhook serve``: the webhook endpoint as a command, on a real port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lmbatch import open_store
from tests.cli.conftest import Invoke
from tests.core.test_webhooks import OPENAI_SECRET, openai_event, sign


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_webhook_serve_takes_signed_deliveries_and_refuses_forged_ones(tmp_path: Path) -> None:
    store = tmp_path / "jobs.sqlite3"
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMBATCH_")}
    env.pop("OPENAI_WEBHOOK_SECRET", None)
    env["HOOK_SECRET"] = OPENAI_SECRET
    command = [
        *(sys.executable, "-m", "lmbatch", "webhook", "serve"),
        *("--port", str(port), "--store", str(store), "--secret-env", "openai=HOOK_SECRET"),
    ]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(url + "/", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "the endpoint did not come up"
                time.sleep(0.1)
        assert health.json() == {"providers": ["openai"]}
        body = openai_event("batch_cli")
        good = httpx.post(url + "/openai", content=body, headers=sign(OPENAI_SECRET, body))
        assert good.status_code == 200, good.text
        forged = sign("whsec_" + "QUJDRA==", body)
        assert httpx.post(url + "/openai", content=body, headers=forged).status_code == 401
    finally:
        process.terminate()  # the process this test started, by its handle
        process.wait(timeout=30)
    opened = open_store(str(store))
    try:
        assert opened.wake_counts("openai", "", ["batch_cli"]) == {"batch_cli": 1}
    finally:
        opened.close()


def test_webhook_serve_refuses_a_bad_secret_env_and_a_missing_secret(
    lmbatch: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = lmbatch("webhook", "serve", "--secret-env", "openai")
    assert bad.exit_code == 2
    assert "PROVIDER=VARIABLE" in bad.stderr
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("GEMINI_WEBHOOK_SECRET", raising=False)
    missing = lmbatch("webhook", "serve", "--provider", "openai")
    assert missing.exit_code == 2
    assert "OPENAI_WEBHOOK_SECRET" in missing.stderr
