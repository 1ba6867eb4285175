"""`lmbatch resume` on a really interrupted job, and `lmbatch emulator` really serving."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmbatch import ProviderRequestError
from lmbatch.testing import default_backend

from .conftest import Invoke


def test_resume_finishes_a_job_whose_submission_was_interrupted(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    # Three requests, one per batch; the vendor refuses the first submission.
    default_backend.fail_next(
        "submit", ProviderRequestError("quota", provider="fake", status_code=400)
    )
    failed = lmbatch(
        "submit",
        str(prompts),
        "-p",
        "fake",
        "-O",
        "max_requests_per_batch=1",
        "-O",
        "max_concurrent_submissions=1",
    )
    assert failed.exit_code != 0
    assert "lmbatch.resume(" in failed.stderr or "quota" in failed.stderr
    job_id = next(iter(_job_ids(tmp_path)))
    out = tmp_path / "out.jsonl"
    resumed = lmbatch("resume", job_id, "-o", str(out), "--poll-interval", "0")
    assert resumed.exit_code == 0, resumed.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["key"] for line in lines) == ["a", "b", "c"]
    assert sorted(default_backend.submissions.values()) == [1, 1, 1]


def test_resume_of_an_unknown_job_is_one_line(lmbatch: Invoke) -> None:
    outcome = lmbatch("resume", "lmbjob_nope")
    assert outcome.exit_code != 0
    assert len(outcome.error_lines) == 1
    assert "lmbjob_nope" in outcome.stderr


def _job_ids(tmp_path: Path) -> list[str]:
    from lmbatch import JobStore

    store = JobStore(tmp_path / "store" / "jobs.sqlite3")
    try:
        return [job.job_id for job in store.list_jobs()]
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_emulator_command_serves_the_openai_api_on_localhost() -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lmbatch", "emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/v1/batches",
                    headers={"Authorization": "Bearer test"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert answer.status_code == 200
        assert answer.json()["object"] == "list"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_real_sigint_during_run_leaves_the_batch_and_says_how_to_resume(
    prompts: Path, tmp_path: Path
) -> None:
    import signal

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmbatch",
            "run",
            str(prompts),
            "-p",
            "fake",
            "-O",
            "polls_until_done=100000",
            "--poll-interval",
            "0.05",
            "--on-interrupt",
            "leave",
            "-o",
            str(tmp_path / "out.jsonl"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # "submitted 3 requests ... batch <id>"
        assert "submitted 3 requests" in first
        time.sleep(0.3)  # let it poll a few times
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "is still running" in rest
    assert "lmbatch wait" in rest


# -- issue 15 item 15: `lmbatch emulator` takes fault directives ------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Capture what `lmbatch emulator` would serve, instead of serving it."""
    emulator = pytest.importorskip("lmbatch.testing.emulator")
    calls: list[Any] = []
    monkeypatch.setattr(emulator, "serve", lambda **kwargs: calls.append(kwargs["settings"]))
    return calls


def test_emulator_takes_faults_from_the_command_line(lmbatch: Invoke, served: list[Any]) -> None:
    from lmbatch.testing.emulator import EndpointFault

    outcome = lmbatch(
        "emulator",
        "--fault", "create=500",
        "--fault", "retrieve=429,nth=2,provider=openai",
        "--fault", "create=503,after-effect,provider=anthropic",
        "--key-fault", "q1=error=429",
        "--key-fault", "q2=expire,duplicate",
        "--polls-per-step", "3",
        "--no-auth",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    (settings,) = served
    assert settings.endpoint_faults == [
        EndpointFault("create", 500),
        EndpointFault("retrieve", 429, nth=2, provider="openai"),
        EndpointFault("create", 503, provider="anthropic", after_effect=True),
    ]
    assert settings.key_faults == {"q1": "error=429", "q2": "expire,duplicate"}
    assert settings.polls_per_step == 3
    assert settings.require_auth is False
    assert "faults: create=500" in outcome.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--fault", "nope=500"], "--fault 'nope=500': unknown operation 'nope'"),
        (["--fault", "create"], "--fault 'create': expected OPERATION=STATUS"),
        (["--fault", "create=abc"], "--fault 'create=abc': the status must be a number"),
        (["--fault", "create=200"], "4xx or 5xx"),
        (["--fault", "create=500,nth=0"], "nth"),
        (["--fault", "create=500,when=later"], "unknown word 'when=later'"),
        (["--fault", "create=500,provider=google"], "unknown provider 'google'"),
        (["--key-fault", "q1"], "--key-fault 'q1': expected CUSTOM_ID=FAULTS"),
        (["--key-fault", "q1=explode"], "--key-fault 'q1=explode': unknown lmbatch fault"),
    ],
)
def test_emulator_refuses_a_bad_fault_naming_the_option(
    lmbatch: Invoke, served: list[Any], args: list[str], fragment: str
) -> None:
    outcome = lmbatch("emulator", *args)
    assert outcome.exit_code == 2
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert fragment in outcome.error_lines[0]
    assert served == []


def test_status_after_submit_uses_the_base_url_the_job_was_created_with(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 5: `submit -O base_url=...`, then `status ID` with no option."""
    from lmbatch.testing.emulator import Emulator, EmulatorSettings

    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with Emulator(EmulatorSettings(mode="polls", sequential_ids=True)) as emulator:
        url = emulator.openai_base_url
        submitted = lmbatch(
            "submit", str(prompts), "-p", "openai", "-m", "gpt-4.1-mini", "-O", f"base_url={url}"
        )
        assert submitted.exit_code == 0, submitted.stderr
        batch_id = submitted.stdout.strip()
        status = lmbatch("status", batch_id, "--json")
        assert status.exit_code == 0, status.stderr
        assert status.json()["id"] == batch_id
        out = tmp_path / "out.jsonl"
        waited = lmbatch("wait", batch_id, "-o", str(out), "--poll-interval", "0")
        assert waited.exit_code == 0, waited.stderr
        assert sorted(json.loads(line)["key"] for line in out.read_text().splitlines()) == [
            "a",
            "b",
            "c",
        ]
        # Another endpoint named explicitly would read another batch of that id: refused.
        other = lmbatch("status", batch_id, "-O", "base_url=http://127.0.0.1:9/v1")
        assert other.exit_code != 0
        assert "another endpoint" in other.stderr
        assert f"-O base_url={url}" in other.stderr


def test_a_store_named_by_a_config_file_cannot_send_the_key_to_its_recorded_base_url(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cloned repository may ship a config file naming a store of its own, with a job
    recorded on a host of its choosing: commands on that job must not send the key there.
    """
    import sqlite3

    from lmbatch.testing.emulator import Emulator, EmulatorSettings
    from lmbatch.testing.listener import Listener

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("LMBATCH_TRUST_CONFIG", raising=False)
    shipped = tmp_path / "repo" / "jobs.sqlite3"
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        emulator_origin = emulator.openai_base_url.rsplit("/v1", 1)[0]
        submitted = lmbatch(
            "submit",
            str(prompts),
            "-p",
            "openai",
            "-m",
            "gpt-4.1-mini",
            "--store",
            str(shipped),
            "-O",
            f"base_url={emulator.openai_base_url}",
        )
        assert submitted.exit_code == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    with Listener() as hostile:
        # What the file's author would ship: the job recorded on their own host.
        db = sqlite3.connect(shipped)
        swap = (emulator_origin, hostile.origin)
        db.execute(
            "UPDATE job_connections SET options = replace(options, ?, ?), "
            "endpoint = replace(endpoint, ?, ?)",
            swap + swap,
        )
        db.execute("UPDATE chunks SET endpoint = replace(endpoint, ?, ?)", swap)
        db.commit()
        db.close()
        monkeypatch.delenv("LMBATCH_STORE")
        (tmp_path / "lmbatch.toml").write_text(f'store = "{shipped}"\n')
        refused = lmbatch("status", batch_id)
        assert refused.exit_code != 0
        assert "LMBATCH_TRUST_CONFIG" in refused.stderr
        assert "lmbatch.toml" in refused.stderr
        assert hostile.requests == []
        # Naming the store yourself is trusting it.
        monkeypatch.setenv("LMBATCH_STORE", str(shipped))
        trusted = lmbatch("status", batch_id)
        assert len(hostile.requests) >= 1, trusted.stderr
