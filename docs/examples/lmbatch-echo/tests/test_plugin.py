"""The echo provider is found through its entry point, like any installed plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from lmbatch_echo import EchoBatchOperations

import lmbatch
from lmbatch.provider import ValidationError


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
