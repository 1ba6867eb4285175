"""A process that imports lmbatch once, then forks one ``invoke`` per command and reports.

Usage: python _zygote.py   (commands on stdin, one JSON object a line; reports on stdout)

Starting a Python process that imports lmbatch, both SDKs and the emulator takes seconds;
forking this one takes milliseconds, so the kill -9 loop can run dozens of real processes
in a test. Each command::

    {"vendor": "anthropic", "base_url": "...", "store": "...", "requests": {...},
     "chunk_size": 2, "concurrency": 4, "kill_at_create": 2, "kill_after": 0.07}

forks a child that runs ``invoke`` and SIGKILLs itself ``kill_after`` seconds after its
``kill_at_create``-th create call started (creates are slow in the emulator, so the kill
lands while batches are being made). The zygote reaps the child (so its pid is dead for
whoever looks at the job store next) and answers ``{"pid": ..., "killed": bool, "code": n}``.
The zygote never starts a thread or an event loop itself, so forking it is safe.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from lmbatch import BatchOperations, ProviderLimits
from tests.faults._harness import VENDORS, make_operations


def small_chunks(ops: BatchOperations, chunk_size: int) -> BatchOperations:
    """``ops`` with at most ``chunk_size`` requests a batch, so a job has several."""
    limits = ops.limits
    ops.limits = ProviderLimits(
        max_requests_per_batch=chunk_size,
        max_bytes_per_batch=limits.max_bytes_per_batch,
        custom_id_pattern=limits.custom_id_pattern,
        custom_id_max_length=limits.custom_id_max_length,
    )
    return ops


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def _child(command: dict[str, Any]) -> None:
    vendor = next(v for v in VENDORS if v.name == command["vendor"])
    ops = make_operations(
        vendor,
        command["base_url"],
        command["store"],
        max_concurrent_submissions=command["concurrency"],
    )
    small_chunks(ops, command["chunk_size"])
    original = ops.submit_batch
    calls = [0]

    async def submit(batch: Any) -> str:
        calls[0] += 1
        if calls[0] == command["kill_at_create"]:
            threading.Timer(command["kill_after"], _die).start()
        return await original(batch)

    ops.submit_batch = submit  # type: ignore[method-assign]
    async with ops:
        await ops.invoke(command["requests"], status_check_interval=0, max_iterations=500)


def _warm_up() -> None:
    """Import now what every child would otherwise import again (the SDKs, the plugins)."""
    import anthropic.resources.messages.batches  # noqa: F401
    import openai.resources.batches
    import openai.resources.files  # noqa: F401

    from lmbatch._plugins import registry

    for vendor in VENDORS:
        registry.get(vendor.name)


def main() -> None:
    _warm_up()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: run, and die on cue
            code = 0
            try:
                asyncio.run(_child(command))
            except BaseException as exc:
                print(f"child {os.getpid()}: {exc!r}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        print(json.dumps({"pid": pid, "killed": killed, "code": code}), flush=True)


if __name__ == "__main__":
    main()
