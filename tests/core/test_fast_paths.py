"""The fast paths behind the benchmarks keep lmbatch's behaviour exactly.

Covered: orjson lines with the standard library's rules as fallback, models built without
validation, successful answers' ``raw`` dropped unless ``keep_raw``, and the JSON schema
checked once per batch rather than once per answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import lmbatch._unchecked
from lmbatch import LMOutput, TextOutput, TokenUsage
from lmbatch._json import dump_line, load_line
from lmbatch._keys import strip_job_tag
from lmbatch._results import StructuredOutputValidator
from lmbatch._unchecked import build_unchecked
from lmbatch.testing import FakeBackend, FakeBatchOperations

# ---------------------------------------------------------------------------- JSON lines


@pytest.mark.parametrize(
    "record",
    [
        {"custom_id": "a", "body": {"text": "naïve café 東京 \u2028", "t": 0.2, "n": None}},
        {"nested": [1, 2.5, True, {"x": []}], "empty": ""},
        {"escape": 'quote " backslash \\ newline \n tab \t nul \x00'},
    ],
)
def test_dump_line_writes_what_the_standard_library_would(record: dict[str, Any]) -> None:
    expected = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    assert dump_line(record) == expected.encode()


def test_dump_line_falls_back_for_what_orjson_refuses() -> None:
    # Integers beyond 64 bits and non-string keys: orjson raises, the standard library
    # writes them, so a request that worked before still works.
    assert dump_line({"seed": 2**70, 1: "x"}) == b'{"seed":1180591620717411303424,"1":"x"}\n'


def test_dump_line_still_refuses_what_json_cannot_carry() -> None:
    with pytest.raises(TypeError):
        dump_line({"when": object()})


def test_load_line_reads_what_orjson_refuses() -> None:
    assert load_line('{"text": "\\ud800 lone", "x": NaN}')["text"] == "\ud800 lone"
    with pytest.raises(ValueError, match="Expecting property name"):
        load_line("{not json")


# ------------------------------------------------------------------- unchecked models


def test_build_unchecked_equals_the_validated_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lmbatch._unchecked, "validate_unchecked", False)
    text = build_unchecked(TextOutput, {"type": "text", "text": "hi"})
    usage = build_unchecked(
        TokenUsage,
        {"input_tokens": 3, "output_tokens": 2, "cached_input_tokens": 1, "reasoning_tokens": 0},
    )
    fields = {
        "outputs": [text],
        "token_usage": usage,
        "finish_details": {"stop_reason": "stop"},
        "error": None,
        "raw": None,
        "cost": None,
        "finish_reason": "stop",
    }
    output = build_unchecked(LMOutput, fields)
    validated = LMOutput(
        outputs=[TextOutput(text="hi")],
        token_usage=TokenUsage(input_tokens=3, output_tokens=2, cached_input_tokens=1),
        finish_details={"stop_reason": "stop"},
        finish_reason="stop",
    )
    assert output == validated
    assert output.model_dump() == validated.model_dump()
    assert output.text == "hi"
    assert usage + usage == TokenUsage(input_tokens=6, output_tokens=4, cached_input_tokens=2)
    # Assigning a field (LMOutput is not frozen) touches only this instance.
    other = build_unchecked(LMOutput, {**fields, "finish_details": {}})
    output.raw = {"kept": True}
    assert other.raw is None
    assert output.model_fields_set == set(LMOutput.model_fields)


def test_build_unchecked_checks_everything_in_the_test_suite() -> None:
    # tests/conftest.py turns validation on, so a decoder handing over a wrong value
    # or forgetting a field fails every test that decodes.
    assert lmbatch._unchecked.validate_unchecked
    with pytest.raises(TypeError, match="needs exactly its fields"):
        build_unchecked(TextOutput, {"text": "no type"})
    with pytest.raises(ValueError, match="text"):
        build_unchecked(TextOutput, {"type": "text", "text": 42})


# --------------------------------------------------------------------------- keep_raw


def _ops(**options: Any) -> FakeBatchOperations:
    ops = FakeBatchOperations(backend=FakeBackend(), store=":memory:", **options)
    answer = ops._answer

    def answer_or_refuse(record: dict[str, Any], script: Any) -> LMOutput:
        if strip_job_tag(record["custom_id"]) == "bad":
            return LMOutput.failure("errored", "no", code="invalid", raw={"vendor": "said no"})
        return answer(record, script)

    ops._answer = answer_or_refuse  # type: ignore[method-assign]
    return ops


async def test_successful_answers_drop_raw_unless_asked() -> None:
    requests = {"ok": "fine", "bad": "x"}
    results = await _ops().invoke(requests, status_check_interval=0, resubmit=False)
    assert results["ok"].ok
    assert results["ok"].raw is None
    assert results["bad"].raw == {"vendor": "said no"}  # failures keep theirs

    results = await _ops(keep_raw=True).invoke(requests, status_check_interval=0)
    assert results["ok"].raw is not None
    assert strip_job_tag(results["ok"].raw["custom_id"]) == "ok"


# ------------------------------------------------------------------ schema validation


def test_schema_is_checked_once_per_batch_not_per_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import jsonschema.validators

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    validator_class = jsonschema.validators.validator_for(schema)
    checks: list[Any] = []
    original = validator_class.check_schema
    monkeypatch.setattr(
        validator_class,
        "check_schema",
        classmethod(lambda cls, s: (checks.append(s), original(s))[1]),
    )
    checker = StructuredOutputValidator(schema)
    good = LMOutput(outputs=[lmbatch.StructuredOutput(data={"n": 1})])
    bad = LMOutput(outputs=[lmbatch.StructuredOutput(data={"n": "one"})])
    for _ in range(3):
        assert checker.check(good).ok
    problem = checker.check(bad).error
    assert problem is not None
    assert (
        problem.message
        == "structured output does not match the schema: 'one' is not of type 'integer'"
    )
    assert len(checks) == 1


# ------------------------------------------------------------------- derived settings


def test_derived_values_are_built_once_per_settings_object() -> None:
    from lmbatch import Hyperparameters

    params = Hyperparameters.from_mapping({"max_tokens": 5})
    calls: list[int] = []

    def build(p: Hyperparameters) -> int:
        calls.append(1)
        return (p.max_tokens or 0) * 2

    assert params.derived("double", build) == 10
    assert params.derived("double", build) == 10
    assert len(calls) == 1
    # A copy with other values never sees the original's derived values.
    copy = params.model_copy(update={"max_tokens": 7})
    assert copy.derived("double", build) == 14


def test_text_only_messages_take_the_fast_path_and_equal_validated_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lmbatch import Attachment, Message, MessageRole

    monkeypatch.setattr(lmbatch._unchecked, "validate_unchecked", False)
    fast = Message.user("hi", "there", cache_control="5m")
    assert fast == Message(
        role=MessageRole.USER, contents=["hi", "there"], metadata={"cache_control": "5m"}
    )
    assert fast.text == "hi\n\nthere"
    # Anything but plain text is validated as before.
    image = Attachment.from_url("https://example.com/a.png")
    assert Message.user("look", image).contents[1] == image
    with pytest.raises(ValueError, match="contents"):
        Message.user({"type": "nonsense"})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- planning


def test_planning_keeps_one_chunk_file_open_and_the_key_map_on_disk(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lmbatch._planning as planning
    from lmbatch import Hyperparameters, ProviderLimits

    opened: list[Any] = []
    open_chunk = planning._open_chunk

    def recording_open(directory: Any, index: int) -> Any:
        # Every earlier chunk must be closed (its write buffer released) by now.
        assert all(chunk.handle.closed for chunk in opened)
        chunk = open_chunk(directory, index)
        opened.append(chunk)
        return chunk

    monkeypatch.setattr(planning, "_open_chunk", recording_open)
    limits = ProviderLimits(
        max_requests_per_batch=3, max_bytes_per_batch=10**6, custom_id_pattern=r"^[\w-]{1,64}$"
    )
    requests = {f"key {i}": f"prompt {i}" for i in range(10)}
    plan = planning.plan_batches(
        requests,
        lambda key: key.replace(" ", "-"),
        Hyperparameters(),
        limits=limits,
        encode=lambda cid, messages, params: {"custom_id": cid, "text": messages[0].text},
        check=lambda key, messages, params: None,
        fingerprint_salt="t",
        spool_root=tmp_path,
    )
    assert len(opened) == len(plan.chunk_paths) > 2
    assert list(plan.keys) == [
        (f"key-{i}", f"key {i}", i // plan.chunk_sizes[0]) for i in range(10)
    ]
    assert list(plan.keys) == list(plan.keys)  # read again from disk, same answer
    plan.cleanup()
