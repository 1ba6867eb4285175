"""The echo provider is found through its entry point, like any installed plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from lmbatch_echo import EchoBatchOperations

import lmbatch
from lmbatch.provider import ProviderRequestError, ValidationError


def test_registered_under_its_name() -> None:
    names = {entry.name: entry for entry in lmbatch.available_providers()}
    assert names["echo"].status == "ok"
    assert names["echo"].distribution == "lmbatch-echo"


async def test_round_trip_through_get_batch_operations(tmp_path: Path) -> None:
    ops = lmbatch.get_batch_operations(
        "echo", directory=str(tmp_path / "vendor"), store=tmp_path / "jobs.sqlite3"
    )
    assert isinstance(ops, EchoBatchOperations)
    results = await ops.invoke({"q": "Hello"}, status_check_interval=0)
    assert results["q"].text == "echo: Hello"


async def test_tools_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    ops = EchoBatchOperations(directory=str(vendor), store=":memory:")
    tool = {"name": "lookup", "parameters": {"type": "object", "properties": {}}}
    with pytest.raises(ValidationError, match="cannot call tools"):
        await ops.create({"q": "Hello"}, {"tools": [tool]})
    assert list(vendor.glob("echo_*.json")) == []


def test_the_batch_context_says_whether_answers_are_json(tmp_path: Path) -> None:
    ops = EchoBatchOperations(directory=str(tmp_path / "vendor"), store=":memory:")
    line = {"custom_id": "a", "answer": '{"score": 3}'}
    as_text = ops.decode_record(line, {})
    assert as_text.output.text == '{"score": 3}'
    structured = ops.decode_record(line, {"structured": True})
    assert structured.output.structured_output == {"score": 3}
    broken = ops.decode_record({"custom_id": "b", "answer": "echo: hi"}, {"structured": True})
    assert broken.custom_id == "b"
    assert broken.output.error is not None
    assert broken.output.error.kind == "invalid_response"


async def test_vendor_errors_become_lmbatch_errors(tmp_path: Path) -> None:
    ops = EchoBatchOperations(directory=str(tmp_path / "vendor"), store=":memory:")
    batch_id = await ops.create({"q": "Hello"})
    await ops.status(batch_id)  # the batch ends
    with pytest.raises(ProviderRequestError) as caught:
        await ops.cancel(batch_id)
    assert caught.value.status_code == 409
