"""The orchestrator: everything behind one :class:`BatchOperations`'s user API.

Each ``BatchOperations`` instance makes one :class:`Orchestrator` the first time a user
method runs, and delegates every user method to it (``create``, ``status``, ``info``,
``retrieve``, ``iter_results``, ``list``, ``cancel``, ``invoke``, ``invoke_iter``,
``estimate``). The orchestrator holds the state of the jobs it runs and calls only the
provider interface (the public methods and attributes a provider declares); providers
inherit none of it. The work itself is done by the modules of :mod:`lmbatch._jobs`, one
job each; this class is their common handle and the error boundary around every call
to the provider.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from lmbatch._attempts import JOB_ID_METADATA_KEY
from lmbatch._errors import LMBatchError, OperationUnsupportedError, ProviderError
from lmbatch._estimate import CountTokens, Estimate
from lmbatch._jobs import _batches, _budget, _invocation, _latest, _waiting
from lmbatch._jobs._deadline import current_deadline
from lmbatch._jobs._queue import release_ended
from lmbatch._jobs._recording import create
from lmbatch._status import BatchInfo, BatchStatus

if TYPE_CHECKING:
    import pydantic

    from lmbatch._jobs._invocation import InvokeArguments
    from lmbatch._jobs._options import JobOptions
    from lmbatch._jobs._poll_policy import Waiting
    from lmbatch._messages import LMInput
    from lmbatch._operations import BatchOperations, ResultRecord
    from lmbatch._outputs import LMOutput
    from lmbatch._planning import BatchPlan
    from lmbatch._store_contract import Store

__all__ = ["Orchestrator"]

logger = logging.getLogger("lmbatch")

_T = TypeVar("_T")


class Orchestrator:
    """The jobs of one provider instance, and the user API that runs them.

    Args:
        provider: The provider whose interface every call goes through.
    """

    def __init__(self, provider: BatchOperations) -> None:
        self.provider = provider
        # Response models given to create() in this process, by job id: used to parse
        # structured output into the caller's own class.
        self.response_models: dict[str, type[pydantic.BaseModel]] = {}
        # Fresh plans of the caller's requests, by job id, while a create() or invoke()
        # call holds them: damaged spool files of the job are rebuilt from them.
        self.spool_sources: dict[str, Callable[[], BatchPlan]] = {}
        # (batch id, vendor status) pairs already logged as unknown: logged once each.
        self.unknown_statuses: set[tuple[str, str]] = set()
        # (vendor clock minus ours, monotonic time read), see lmbatch._jobs._reconcile.
        self.vendor_clock: tuple[float, float] | None = None

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.provider.name

    @property
    def store(self) -> Store:
        """The job store the provider instance records in."""
        return self.provider.store

    @property
    def options(self) -> JobOptions:
        """The orchestration's settings (part of the provider's settings)."""
        return self.provider.settings

    # ------------------------------------------------------------------ the user API

    async def create(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        *,
        reuse: bool | float,
        on_submitted: Callable[[str, bool], None] | None,
        max_cost: float | Decimal | str | None,
        detach: bool = False,
    ) -> str:
        """See :meth:`BatchOperations.create`."""
        self.require("create")
        return await create(
            self,
            requests,
            hyperparameters,
            reuse=reuse,
            on_submitted=on_submitted,
            max_cost=max_cost,
            detach=detach,
        )

    async def estimate(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        *,
        typical_output_tokens: int | None,
        count_tokens: CountTokens,
        count_sample: int,
    ) -> Estimate:
        """See :meth:`BatchOperations.estimate`."""
        return await _budget.estimate(
            self,
            requests,
            hyperparameters,
            typical_output_tokens=typical_output_tokens,
            count_tokens=count_tokens,
            count_sample=count_sample,
        )

    async def status(self, batch_id: str) -> BatchStatus:
        """See :meth:`BatchOperations.status`."""
        self.require("status")
        return (await self.info(batch_id))["status"]

    async def info(self, batch_id: str) -> BatchInfo:
        """See :meth:`BatchOperations.info`."""
        self.require("info")
        return await _batches.info(self, batch_id)

    async def retrieve(self, batch_id: str) -> dict[str, LMOutput]:
        """See :meth:`BatchOperations.retrieve`."""
        self.require("retrieve")
        return await _latest.retrieve(self, batch_id)

    def iter_results(self, batch_id: str) -> AsyncIterator[tuple[str, LMOutput]]:
        """See :meth:`BatchOperations.iter_results` (checks run at the first step)."""
        return _latest.iter_latest(self, batch_id)

    async def list(self) -> list[dict[str, Any]]:
        """See :meth:`BatchOperations.list`."""
        self.require("list")
        return await _batches.list_all(self)

    async def cancel(self, batch_id: str) -> None:
        """See :meth:`BatchOperations.cancel`."""
        self.require("cancel")
        await _batches.cancel(self, batch_id)

    async def invoke(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        arguments: InvokeArguments,
    ) -> dict[str, LMOutput]:
        """See :meth:`BatchOperations.invoke`."""
        return await _invocation.invoke(self, requests, hyperparameters, arguments)

    def invoke_iter(
        self,
        requests: Mapping[str, LMInput],
        hyperparameters: dict[str, Any] | None,
        arguments: InvokeArguments,
    ) -> AsyncIterator[tuple[str, LMOutput]]:
        """See :meth:`BatchOperations.invoke_iter` (checks run at the first step)."""
        return _invocation.invoke_iter(self, requests, hyperparameters, arguments)

    async def wait(self, batch_id: str, waiting: Waiting) -> BatchInfo:
        """Poll a batch or job until it ends (see :func:`lmbatch.wait`)."""
        return await _waiting.wait(self, batch_id, waiting)

    # ----------------------------------------------- calls to the provider, guarded

    def require(self, method: str) -> None:
        """Refuse a user method the provider does not offer."""
        supported = self.provider.supported_methods
        if method not in supported:
            raise OperationUnsupportedError(
                f"provider {self.name!r} does not support {method}() "
                f"(it supports: {', '.join(sorted(supported))})"
            )

    async def call(self, awaitable: Awaitable[_T]) -> _T:
        """Await a primitive; anything that is not an lmbatch error becomes one.

        Under a caller's deadline (see :mod:`lmbatch._jobs._deadline`) the call gets only
        the time left, and running out raises :class:`BatchTimeoutError`.
        """
        deadline = current_deadline()
        if deadline is None:
            return await self._mapped(awaitable)
        left = deadline.remaining()
        if left <= 0:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()  # never awaited: no "coroutine was never awaited" warning
            raise deadline.error()
        scope = asyncio.timeout(left)
        try:
            async with scope:
                return await self._mapped(awaitable)
        except TimeoutError:
            if scope.expired():
                raise deadline.error() from None
            raise

    async def _mapped(self, awaitable: Awaitable[_T]) -> _T:
        try:
            return await awaitable
        except (LMBatchError, StopAsyncIteration):
            raise
        except Exception as exc:
            raise ProviderError(
                f"unexpected {type(exc).__name__} from provider {self.name!r}: {exc}",
                provider=self.name,
            ) from exc

    async def fetch(self, batch_id: str) -> BatchInfo:
        """The vendor's view of one batch, with the lmbatch job it belongs to."""
        info = await self.call(self.provider.fetch_batch(batch_id))
        if info["status"] is BatchStatus.UNKNOWN:
            self._log_unknown_status(batch_id, info["provider_status"])
        found = self.store.find_batch(
            batch_id, provider=self.name, endpoint=self.provider.endpoint_identity
        )
        if found is not None:
            info["metadata"] = {**info["metadata"], JOB_ID_METADATA_KEY: found[0].job_id}
            if info["status"].is_terminal:  # its room in the vendor's queue is free
                release_ended(self, found[0], found[1], batch_id)
        return info

    def _log_unknown_status(self, batch_id: str, provider_status: str) -> None:
        """Say once per batch and word that the vendor used a status lmbatch does not know."""
        if (batch_id, provider_status) in self.unknown_statuses:
            return
        self.unknown_statuses.add((batch_id, provider_status))
        logger.warning(
            "batch %s: provider %r reports the status %r, which lmbatch does not know; "
            "treating it as still running (waiting stops once the batch is overdue, or "
            "at the timeout)",
            batch_id,
            self.name,
            provider_status,
        )

    async def stream_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        """Every decoded result line of a terminal batch, each read guarded by :meth:`call`."""
        iterator = self.provider.iter_result_records(info, context).__aiter__()
        while True:
            try:
                record = await self.call(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield record
