"""The orchestration is core's, not the provider's: one poll policy, one home per setting."""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
import types
from pathlib import Path
from typing import Any

import pydantic
import pytest

import lmbatch
from lmbatch import BatchOperations, BatchTimeoutError, JobStore, PollPolicy, ValidationError
from lmbatch._errors import ProviderRequestError, is_transient_status
from lmbatch._jobs import _waiting
from lmbatch._jobs._resubmit_policy import should_resubmit
from lmbatch.testing import FakeBackend, FakeBatchOperations

REQUESTS = {"a": "one", "b": "two"}

#: The user API: each method only hands its arguments to the orchestrator.
USER_METHODS = [
    "create",
    "estimate",
    "status",
    "info",
    "retrieve",
    "iter_results",
    "list",
    "cancel",
    "invoke",
    "invoke_iter",
]


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def ops(backend: FakeBackend, tmp_path: Path) -> FakeBatchOperations:
    return FakeBatchOperations(backend=backend, store=JobStore(tmp_path / "jobs.sqlite3"))


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the polling loop takes (taken at once, not slept)."""
    taken: list[float] = []

    async def sleep(delay: float, result: Any = None) -> Any:
        taken.append(delay)
        return await asyncio.sleep(0, result)

    fast = types.SimpleNamespace(sleep=sleep)
    monkeypatch.setattr(_waiting, "asyncio", fast)
    return taken


# -- the poll policy --------------------------------------------------------------------


async def test_a_poll_policy_sets_the_pauses_between_status_checks(
    backend: FakeBackend, ops: FakeBatchOperations, pauses: list[float]
) -> None:
    backend.script_next_batch(polls_until_done=4)  # running at the first 4 checks
    batch_id = await ops.create(REQUESTS)
    policy = PollPolicy(interval=1, max_interval=3, backoff=2)
    info = await lmbatch.wait(ops, batch_id, poll=policy)
    assert info["status"].is_terminal
    assert pauses == [1, 2, 3, 3]


async def test_the_classic_arguments_make_the_same_policy(
    backend: FakeBackend, ops: FakeBatchOperations, pauses: list[float]
) -> None:
    backend.script_next_batch(polls_until_done=3)
    results = await ops.invoke(REQUESTS, status_check_interval=2, max_status_check_interval=4)
    assert set(results) == set(REQUESTS)
    assert pauses == [2, 3, 4]  # grows 1.5 times, up to the maximum


async def test_a_poll_policys_max_iterations_bounds_the_wait(
    backend: FakeBackend, ops: FakeBatchOperations, pauses: list[float]
) -> None:
    backend.script_next_batch(polls_until_done=100)
    batch_id = await ops.create(REQUESTS)
    with pytest.raises(BatchTimeoutError, match="3 status checks"):
        await lmbatch.wait(ops, batch_id, poll=PollPolicy(interval=0, max_iterations=3))
    assert len(pauses) == 2


async def test_invoke_iter_and_resume_take_a_poll_policy(
    backend: FakeBackend,
    ops: FakeBatchOperations,
    pauses: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("lmbatch.testing._fake.default_backend", backend)  # for resume
    backend.script_next_batch(polls_until_done=2)
    policy = PollPolicy(interval=5, backoff=1)
    pairs = [pair async for pair in ops.invoke_iter(REQUESTS, poll=policy)]
    assert sorted(key for key, _ in pairs) == sorted(REQUESTS)
    assert pauses == [5, 5]
    job = ops.store.list_jobs()[0]
    results = await lmbatch.resume(job.job_id, store=ops.store, poll=policy)
    assert set(results) == set(REQUESTS)


async def test_a_poll_policy_and_the_classic_arguments_together_are_refused(
    backend: FakeBackend, ops: FakeBatchOperations
) -> None:
    with pytest.raises(ValidationError, match="either poll="):
        await ops.invoke(REQUESTS, status_check_interval=1, poll=PollPolicy())
    with pytest.raises(ValidationError, match="either poll="):
        async for _ in ops.invoke_iter(REQUESTS, max_iterations=3, poll=PollPolicy()):
            pass
    assert ops.store.list_jobs() == []  # refused before anything was recorded
    assert backend.calls["submit"] == 0


def test_a_poll_policy_that_would_shrink_its_pauses_is_refused() -> None:
    with pytest.raises(ValidationError, match="backoff must be at least 1"):
        PollPolicy(backoff=0.5)


@pytest.mark.parametrize(
    "waiting", [BatchOperations.invoke, BatchOperations.invoke_iter, lmbatch.wait, lmbatch.resume]
)
def test_every_waiting_call_takes_a_poll_policy(waiting: Any) -> None:
    parameter = inspect.signature(waiting).parameters["poll"]
    assert parameter.default is None
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


# -- settings ---------------------------------------------------------------------------


def test_job_options_are_provider_options_set_the_usual_ways(tmp_path: Path) -> None:
    assert set(lmbatch.JobOptions.model_fields) < set(lmbatch.ProviderSettings.model_fields)
    ops = lmbatch.get_batch_operations(
        "fake", store=":memory:", keep_raw=True, max_concurrent_submissions=2
    )
    assert isinstance(ops.settings, lmbatch.JobOptions)
    assert ops._jobs.options.keep_raw is True
    assert ops._jobs.options.max_concurrent_submissions == 2
    with pytest.raises(pydantic.ValidationError):
        lmbatch.JobOptions(max_batches_in_flight=0)
    with pytest.raises(pydantic.ValidationError):  # a vendor's option is not one of these
        lmbatch.JobOptions(model="m")  # type: ignore[call-arg]


def test_transient_is_one_rule_for_errors_and_outcomes() -> None:
    for status in range(400, 600):
        output = lmbatch.LMOutput.failure("errored", "failed", status_code=status)
        assert should_resubmit(output) is is_transient_status(status), status
        if status < 500 and status != 429:
            error = ProviderRequestError("failed", status_code=status)
            assert error.is_transient is is_transient_status(status), status


# -- the split itself -------------------------------------------------------------------


def test_the_provider_class_holds_no_orchestration() -> None:
    # Private names left on the class that providers inherit: the link to the
    # orchestrator and the provider-facing helpers, nothing of the job machinery.
    private = {
        name
        for name in vars(BatchOperations)
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
    }
    assert private <= {
        "_abc_impl",
        "_jobs",
        "_check_model_name",
        "_checked_hyperparameters",
        "_record_custom_id",
    }


@pytest.mark.parametrize("name", USER_METHODS)
def test_each_user_method_is_a_delegation(name: str) -> None:
    source = textwrap.dedent(inspect.getsource(getattr(BatchOperations, name)))
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    body = function.body[1:]  # after the docstring
    calls = [
        node.func
        for statement in body
        for node in ast.walk(statement)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    ]
    assert len(body) <= 2, ast.unparse(function)
    assert any(
        isinstance(call.value, ast.Attribute) and call.value.attr == "_jobs" for call in calls
    ), ast.unparse(function)
