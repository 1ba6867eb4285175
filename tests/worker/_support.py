"""Shared pieces of the worker tests: detached jobs on the emulator, worker processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from lmbatch.testing.emulator import Emulator
from tests.faults._harness import OPENAI, make_operations
from tests.faults._zygote import small_chunks

#: Options every worker gets: an interrupted create settles fast on the emulator, and
#: the jobs' recorded server (the emulator on 127.0.0.1) is trusted.
WORKER_OPTIONS = ("-O", "create_settle_seconds=0.5", "--trust-store-endpoints")


def detach_job(
    emulator: Emulator, store: str, count: int, chunk_size: int, prefix: str = "k"
) -> str:
    """Record ``count`` requests as one detached OpenAI job of ``chunk_size``-request
    chunks on the emulator; its job id (nothing is sent)."""
    ops = small_chunks(make_operations(OPENAI, OPENAI.base_url(emulator), store), chunk_size)
    requests = {f"{prefix}{i}": f"Question {prefix}{i}?" for i in range(count)}

    async def create() -> str:
        async with ops:
            return await ops.create(requests, detach=True)

    return asyncio.run(create())


def machine_env(url: str, machine: Path) -> dict[str, str]:
    """The environment of a worker on its own "machine": its own HOME and TMPDIR."""
    machine.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "LMBATCH_STORE": url,
        "OPENAI_API_KEY": "test-key",
        "TMPDIR": str(machine),
        "HOME": str(machine),
        "XDG_DATA_HOME": str(machine / "data"),
    }


def spawn_worker(url: str, machine: Path, *args: str) -> subprocess.Popen[str]:
    """``lmbatch worker --json ARGS`` in a new process on its own machine folder."""
    return subprocess.Popen(
        [sys.executable, "-m", "lmbatch", "worker", "--json", *WORKER_OPTIONS, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=machine_env(url, machine),
    )
