"""The behavioural tests every provider must pass.

Subclass :class:`BatchOperationsContract` in your provider's test suite and override the
``batch_operations`` fixture::

    import pytest
    from lmbatch.testing.contract import BatchOperationsContract

    class TestMyVendorContract(BatchOperationsContract):
        @pytest.fixture
        def batch_operations(self):
            return MyVendorBatchOperations(model="m", api_key="test", store=":memory:")

What the fixture must give: a ready provider instance with a fresh job store, talking to
a backend (an emulator, a mock, or a fake) where

* a batch just created is not yet terminal at its first status check, and ends within
  :attr:`BatchOperationsContract.max_status_checks` checks;
* a prompt containing ``[[lmbatch:error=429]]`` comes back as an errored request (set
  :attr:`BatchOperationsContract.supports_fault_directives` to False if the backend cannot).

Every test is async and needs pytest-asyncio (``asyncio_mode = "auto"``).

Each test runs twice: once on the production path users get (decoders build outputs
without validating them, see :func:`lmbatch.provider.build_unchecked`) and once with every
such output validated, so a decoder that hands over a malformed value fails the
``validating`` run while the ``production`` run proves what users actually receive.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel

import lmbatch._unchecked
from lmbatch._errors import (
    BatchNotFinishedError,
    BatchNotFoundError,
    BatchTimeoutError,
    LMBatchError,
    OperationUnsupportedError,
    ProviderError,
    ProviderServerError,
    ValidationError,
)
from lmbatch._messages import Attachment, Message
from lmbatch._operations import ALL_METHODS, BatchOperations
from lmbatch._outputs import LMOutput
from lmbatch._planning import PreparedBatch
from lmbatch._status import BatchStatus

__all__ = ["BatchOperationsContract"]


class _ContractAnswer(BaseModel):
    """Structured output used by the contract's schema test."""

    title: str
    score: int


def _method_calls(method: str) -> dict[str, Any]:
    calls: dict[str, dict[str, Any]] = {
        "create": {"requests": {"k": "hi"}},
        "status": {"batch_id": "b"},
        "info": {"batch_id": "b"},
        "retrieve": {"batch_id": "b"},
        "list": {},
        "cancel": {"batch_id": "b"},
        "invoke": {"requests": {"k": "hi"}},
    }
    return calls[method]


class BatchOperationsContract:
    """Tests of the promises core makes for every provider."""

    #: Seconds between status checks in these tests.
    status_check_interval: ClassVar[float] = 0.0
    #: Most status checks a small batch may take to end.
    max_status_checks: ClassVar[int] = 50
    #: Whether the backend honours ``[[lmbatch:...]]`` prompt directives.
    supports_fault_directives: ClassVar[bool] = True

    @pytest.fixture(autouse=True, params=["production", "validating"])
    def decoding(self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
        """Run each test on the unvalidated production path and on the validating one."""
        mode = str(request.param)
        monkeypatch.setattr(lmbatch._unchecked, "validate_unchecked", mode == "validating")
        return mode

    @pytest.fixture
    def batch_operations(self) -> BatchOperations:
        """Override: a ready provider instance (see the module docstring)."""
        raise NotImplementedError("override the batch_operations fixture")

    @pytest.fixture
    def submissions(
        self, batch_operations: BatchOperations, monkeypatch: pytest.MonkeyPatch
    ) -> list[PreparedBatch]:
        """Every batch the provider submits during the test."""
        seen: list[PreparedBatch] = []
        original = batch_operations.submit_batch

        async def spy(batch: PreparedBatch) -> str:
            seen.append(batch)
            return await original(batch)

        monkeypatch.setattr(batch_operations, "submit_batch", spy)
        return seen

    async def _run(
        self, ops: BatchOperations, requests: dict[str, Any], **kwargs: Any
    ) -> dict[str, LMOutput]:
        return await ops.invoke(
            requests,
            kwargs.pop("hyperparameters", None),
            status_check_interval=self.status_check_interval,
            max_iterations=self.max_status_checks,
            **kwargs,
        )

    # -- the round trip ---------------------------------------------------------------

    async def test_invoke_returns_exactly_one_output_per_key(
        self, batch_operations: BatchOperations, submissions: list[PreparedBatch]
    ) -> None:
        requests: dict[str, Any] = {
            "plain": "Say hello",
            "parts": ["First part.", "Second part."],
            "conversation": [Message.system("Be brief."), Message.user("What is 2 + 2?")],
        }
        results = await self._run(batch_operations, requests)
        assert set(results) == set(requests)
        assert all(isinstance(output, LMOutput) for output in results.values())
        assert all(output.ok for output in results.values()), results
        assert all(output.text for output in results.values())
        assert len(submissions) == 1

    async def test_invoke_iter_yields_each_key_once_with_its_final_outcome(
        self, batch_operations: BatchOperations, submissions: list[PreparedBatch]
    ) -> None:
        faulty = self.supports_fault_directives
        requests: dict[str, Any] = {
            "plain": "Say hello",
            "again": "Say goodbye" + (" [[lmbatch:error=503]]" if faulty else ""),
        }
        pairs = [
            pair
            async for pair in batch_operations.invoke_iter(
                requests,
                status_check_interval=self.status_check_interval,
                max_iterations=self.max_status_checks,
                resubmit=1,
            )
        ]
        assert sorted(key for key, _ in pairs) == sorted(requests)
        outputs = dict(pairs)
        assert outputs["plain"].ok
        if faulty:  # failed twice: the outcome of the second (last) round
            assert outputs["again"].error is not None
            assert outputs["again"].finish_details["lmbatch_round"] == 2
            assert len(submissions) == 2

    async def test_keys_the_vendor_refuses_come_back_unchanged(
        self, batch_operations: BatchOperations
    ) -> None:
        keys = ["doc/7 — ünïcode", "x" * 200, "with space", "ok-key_1"]
        results = await self._run(
            batch_operations, {key: f"echo {i}" for i, key in enumerate(keys)}
        )
        assert sorted(results) == sorted(keys)
        assert all(output.ok for output in results.values())

    async def test_status_and_info_describe_the_batch(
        self, batch_operations: BatchOperations
    ) -> None:
        batch_id = await batch_operations.create({"a": "one", "b": "two"})
        status = await batch_operations.status(batch_id)
        assert isinstance(status, BatchStatus)
        info = await batch_operations.info(batch_id)
        assert info["id"] == batch_id
        assert info["provider"] == batch_operations.name
        assert isinstance(info["status"], BatchStatus)
        assert isinstance(info["provider_status"], str)
        assert info["created_at"] is not None
        assert info["created_at"].tzinfo is not None
        assert set(info["request_counts"]) >= {"total", "succeeded", "errored", "processing"}
        assert isinstance(info["errors"], list)

    async def test_retrieve_before_the_end_raises_batch_not_finished(
        self, batch_operations: BatchOperations
    ) -> None:
        batch_id = await batch_operations.create({"a": "one"})
        with pytest.raises(BatchNotFinishedError) as caught:
            await batch_operations.retrieve(batch_id)
        assert caught.value.batch_id == batch_id

    async def test_structured_output_round_trips(self, batch_operations: BatchOperations) -> None:
        results = await self._run(
            batch_operations,
            {"s": "Rate this title: Batch APIs"},
            hyperparameters={"response_schema": _ContractAnswer},
        )
        output = results["s"]
        assert output.ok, output.error
        assert isinstance(output.parse(_ContractAnswer), _ContractAnswer)
        assert LMOutput.model_validate_json(output.model_dump_json()) == output

    async def test_failed_request_is_an_output_not_an_exception(
        self, batch_operations: BatchOperations
    ) -> None:
        if not self.supports_fault_directives:
            pytest.skip("backend does not honour fault directives")
        results = await self._run(
            batch_operations, {"good": "fine", "bad": "fail please [[lmbatch:error=429]]"}
        )
        assert results["good"].ok
        assert results["bad"].error is not None
        assert results["bad"].error.kind == "errored"

    # -- bad input, refused before anything is sent -------------------------------------

    @pytest.mark.parametrize(
        ("requests", "hyperparameters"),
        [
            pytest.param({}, None, id="empty-requests"),
            pytest.param({1: "x"}, None, id="non-string-key"),
            pytest.param({"k": ""}, None, id="empty-prompt"),
            pytest.param({"k": []}, None, id="empty-parts"),
            pytest.param({"k": 42}, None, id="not-an-input"),
            pytest.param({"k": [Message.system("only system")]}, None, id="system-only"),
            pytest.param(
                {"k": [Attachment.from_bytes(b"PK", "application/zip"), "look"]},
                None,
                id="unsupported-attachment",
            ),
            pytest.param({"k": "x"}, {"temperature": 9}, id="temperature-out-of-range"),
            pytest.param({"k": "x"}, {"max_tokens": 0}, id="max-tokens-zero"),
            pytest.param(
                {"k": "x"}, {"response_schema": {"type": "array"}}, id="non-object-schema"
            ),
            pytest.param({"k": "x"}, {"tool_choice": "nope"}, id="tool-choice-unknown"),
        ],
    )
    async def test_bad_input_is_refused_before_sending(
        self,
        batch_operations: BatchOperations,
        submissions: list[PreparedBatch],
        requests: dict[Any, Any],
        hyperparameters: dict[str, Any] | None,
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            await batch_operations.create(requests, hyperparameters)
        assert str(caught.value)
        assert isinstance(caught.value, ValueError)
        assert submissions == []

    async def test_validation_error_names_the_key(
        self, batch_operations: BatchOperations, submissions: list[PreparedBatch]
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            await batch_operations.create({"fine": "ok", "broken one": ""})
        assert caught.value.key == "broken one"
        assert "broken one" in str(caught.value)
        assert submissions == []

    # -- waiting, errors, ids -----------------------------------------------------------

    async def test_transient_status_error_retries_the_poll_not_the_batch(
        self,
        batch_operations: BatchOperations,
        submissions: list[PreparedBatch],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        original = batch_operations.fetch_batch
        failures = {"left": 2}

        async def flaky(batch_id: str) -> Any:
            if failures["left"]:
                failures["left"] -= 1
                raise ProviderServerError(
                    "simulated 503", provider=batch_operations.name, status_code=503
                )
            return await original(batch_id)

        monkeypatch.setattr(batch_operations, "fetch_batch", flaky)
        results = await self._run(batch_operations, {"a": "one"})
        assert results["a"].ok
        assert failures["left"] == 0
        assert len(submissions) == 1

    async def test_foreign_exceptions_become_lmbatch_errors(
        self, batch_operations: BatchOperations, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        batch_id = await batch_operations.create({"a": "one"})

        async def broken(batch_id: str) -> Any:
            raise RuntimeError("boom from the SDK")

        monkeypatch.setattr(batch_operations, "fetch_batch", broken)
        with pytest.raises(ProviderError) as caught:
            await batch_operations.status(batch_id)
        assert isinstance(caught.value, LMBatchError)
        assert caught.value.provider == batch_operations.name

    async def test_timeout_carries_the_batch_id_and_leaves_it_running(
        self, batch_operations: BatchOperations, submissions: list[PreparedBatch]
    ) -> None:
        with pytest.raises(BatchTimeoutError) as caught:
            await batch_operations.invoke(
                {"a": "one"}, status_check_interval=self.status_check_interval, max_iterations=1
            )
        assert isinstance(caught.value, TimeoutError)
        assert caught.value.batch_id
        assert len(submissions) == 1
        status = await batch_operations.status(caught.value.batch_id)
        assert status is not BatchStatus.CANCELLED

    async def test_unknown_batch_id_raises_batch_not_found(
        self, batch_operations: BatchOperations
    ) -> None:
        with pytest.raises(BatchNotFoundError):
            await batch_operations.status("batch_doesnotexist000000000000000")

    async def test_list_shows_created_batches(self, batch_operations: BatchOperations) -> None:
        if "list" not in batch_operations.supported_methods:
            pytest.skip("provider does not list batches")
        created = {await batch_operations.create({"a": f"list {i}"}) for i in range(3)}
        listed = await batch_operations.list()
        assert created <= {item["id"] for item in listed}
        assert all(isinstance(item, dict) for item in listed)

    async def test_cancel_leaves_one_outcome_per_key(
        self, batch_operations: BatchOperations
    ) -> None:
        if "cancel" not in batch_operations.supported_methods:
            pytest.skip("provider does not cancel batches")
        requests = {f"k{i}": f"cancel me {i}" for i in range(4)}
        batch_id = await batch_operations.create(requests)
        await batch_operations.cancel(batch_id)
        for _ in range(self.max_status_checks):
            status = await batch_operations.status(batch_id)
            if status.is_terminal:
                break
        assert status in (BatchStatus.CANCELLED, BatchStatus.FINISHED)
        results = await batch_operations.retrieve(batch_id)
        assert set(results) == set(requests)
        for output in results.values():
            assert output.ok or (output.error is not None and output.error.kind == "cancelled")

    async def test_unsupported_methods_raise(self, batch_operations: BatchOperations) -> None:
        for method in sorted(ALL_METHODS - batch_operations.supported_methods):
            with pytest.raises(OperationUnsupportedError):
                await getattr(batch_operations, method)(**_method_calls(method))
