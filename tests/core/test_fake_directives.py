"""The fake provider reads the emulator's directive grammar and answers with its sampler."""

from __future__ import annotations

import pytest

from lmbatch.testing import FakeBackend, FakeBatchOperations, sample_from_schema
from lmbatch.testing._directives import KeyFault, faults_in_text, parse_fault_spec


def make_ops() -> FakeBatchOperations:
    return FakeBatchOperations(backend=FakeBackend(), store=":memory:")


async def test_comma_separated_directives_work_in_the_fake_as_in_the_emulator() -> None:
    # The fake once read one word per bracket: "error=429,duplicate" crashed on int().
    results = await make_ops().invoke(
        {"both": "x [[lmbatch:error=429,duplicate]]", "ok": "fine"}, status_check_interval=0
    )
    assert results["both"].error is not None
    assert results["both"].error.status_code == 429
    assert results["ok"].ok


async def test_a_mistyped_directive_is_ignored_by_the_fake() -> None:
    results = await make_ops().invoke({"typo": "x [[lmbatch:error=abc]]"}, status_check_interval=0)
    assert results["typo"].ok
    assert results["typo"].text == "echo: x [[lmbatch:error=abc]]"


async def test_finish_directive_still_sets_the_fakes_finish_reason() -> None:
    results = await make_ops().invoke(
        {"cut": "long [[lmbatch:finish=length, duplicate]]"}, status_check_interval=0
    )
    assert results["cut"].finish_reason == "length"


def test_one_grammar() -> None:
    assert parse_fault_spec("error=503, expire,finish=length") == KeyFault(
        error_status=503, expire=True, finish_reason="length"
    )
    assert faults_in_text("a [[lmbatch:omit]] b [[lmbatch:nonsense]]") == KeyFault(omit=True)
    with pytest.raises(ValueError, match="must be a number"):
        parse_fault_spec("error=abc")


async def test_the_fake_answers_schemas_with_the_one_sampler() -> None:
    # Bounds the fake's old sampler ignored ("sample ..." strings broke maxLength).
    schema = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "maxLength": 3},
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        },
        "required": ["code", "when", "tags"],
    }
    results = await make_ops().invoke(
        {"p": "hello"}, {"response_schema": schema}, status_check_interval=0
    )
    assert results["p"].ok, results["p"].error
    assert results["p"].structured_output == sample_from_schema(schema, "hello")
    assert results["p"].structured_output["when"] == "2024-01-01"
