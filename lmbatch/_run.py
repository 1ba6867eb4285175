"""``lmbatch.run``: :meth:`BatchOperations.invoke` for code that is not async.

Scripts call it like any function. Notebooks (Jupyter runs an event loop in the thread
that runs the cells) cannot call ``asyncio.run`` there, so inside a running loop the
job runs on a loop of its own in a worker thread, and the cell blocks until it ends.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from lmbatch._messages import LMInput
    from lmbatch._operations import BatchOperations
    from lmbatch._outputs import LMOutput
    from lmbatch._store_contract import Store

__all__ = ["run", "run_coroutine"]

T = TypeVar("T")


def run(
    requests: Mapping[str, LMInput],
    *,
    provider: str | None = None,
    model: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    operations: BatchOperations | None = None,
    progress: bool = False,
    **options: Any,
) -> dict[str, LMOutput]:
    """Submit ``requests`` as a batch job, wait for it, and return one outcome per key.

    The synchronous twin of :meth:`BatchOperations.invoke`, for scripts and notebooks:
    it works from plain code and from inside a running event loop (Jupyter), where the
    job runs in a worker thread while the caller blocks.

    Args:
        requests: The requests, by key.
        provider: Provider name (default: configured, see :func:`get_batch_operations`).
        model: Model name (default: configured).
        hyperparameters: Generation settings (``max_tokens``, ``temperature``...).
        store: Job store (default: ``$LMBATCH_STORE``, config, user data dir).
        operations: A :class:`BatchOperations` to use instead of ``provider``, ``model``
            and ``store`` (it is entered and closed here).
        progress: Show progress on stderr while the job runs: a bar (counts, status,
            elapsed, ETA) when rich is installed (the ``cli`` extra), else a plain line
            per change; each resubmission round is announced.
        **options: The keyword arguments of :meth:`BatchOperations.invoke`
            (``timeout``, ``resubmit``, ``max_cost``, ``on_progress``...); the rest are
            provider options (``api_key``, ``base_url``...).

    Returns:
        Every key's outcome, as :meth:`BatchOperations.invoke` returns them.

    Raises:
        ValidationError: A request or option is invalid; nothing was sent.
        ConfigError: No provider selected, or a provider option is unknown or invalid.
        BatchTimeoutError: ``timeout`` was reached.
    """
    invoke_options, provider_options = _split_options(options)
    if operations is None:
        from lmbatch._config import get_batch_operations

        if model is not None:
            provider_options["model"] = model
        operations = get_batch_operations(provider, store=store, **provider_options)
    elif provider_options or model is not None or provider is not None or store is not None:
        raise TypeError(
            "lmbatch.run: with operations=..., give no provider, model, store or provider "
            f"options (got {sorted({*provider_options, 'provider', 'model', 'store'})})"
        )
    ops = operations

    async def invoke() -> dict[str, LMOutput]:
        async with ops:
            return await ops.invoke(requests, hyperparameters, progress=progress, **invoke_options)

    return run_coroutine(invoke())


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end and return its result, from any synchronous code.

    With no event loop running in this thread, ``asyncio.run``. Inside a running loop
    (a notebook cell), the coroutine runs on a new loop in a worker thread: blocking
    the caller's loop meanwhile is what a synchronous call means.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(asyncio.run(coroutine))
        except BaseException as exc:  # handed to the caller's thread as it is
            failure.append(exc)

    worker = threading.Thread(target=work, name="lmbatch-run", daemon=True)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    return outcome[0]


def _split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` split into ``invoke``'s keyword arguments and provider options."""
    from lmbatch._operations import BatchOperations

    parameters = inspect.signature(BatchOperations.invoke).parameters
    named = {
        name
        for name, parameter in parameters.items()
        if name not in ("self", "requests", "hyperparameters", "progress")
        and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }
    invoke_options = {k: v for k, v in options.items() if k in named}
    provider_options = {k: v for k, v in options.items() if k not in named}
    return invoke_options, provider_options
