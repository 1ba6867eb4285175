"""Running one provider call from a synchronous command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from lmbatch import wait
from lmbatch._operations import BatchOperations
from lmbatch._status import BatchInfo

__all__ = ["MAX_POLL_INTERVAL", "run_with", "wait_until_done"]

_T = TypeVar("_T")
#: The slowest status-check pace while waiting (seconds).
MAX_POLL_INTERVAL = 300.0


def run_with(ops: BatchOperations, call: Callable[[BatchOperations], Awaitable[_T]]) -> _T:
    """Run ``call(ops)`` in a fresh event loop and close the provider's clients after."""

    async def session() -> _T:
        async with ops:
            return await call(ops)

    return asyncio.run(session())


async def wait_until_done(
    ops: BatchOperations,
    batch_id: str,
    *,
    interval: float,
    max_interval: float = MAX_POLL_INTERVAL,
    timeout: float | None = None,
    on_progress: Callable[[BatchInfo], None] | None = None,
) -> BatchInfo:
    """Poll ``batch_id`` until it ends, with core's polling policy (retries, back-off).

    Raises:
        BatchTimeoutError: ``timeout`` seconds passed; the batch keeps running.
    """
    return await wait(
        ops,
        batch_id,
        status_check_interval=interval,
        max_status_check_interval=max(interval, max_interval),
        timeout=timeout,
        on_progress=on_progress,
    )
