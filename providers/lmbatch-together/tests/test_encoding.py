"""Requests become Together input lines: ``{custom_id, body}`` with a Chat Completions body."""

from __future__ import annotations

import pytest
from lmbatch_together import TogetherBatchOperations

from lmbatch.provider import Hyperparameters, Message, MissingCredentialsError, ValidationError

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@pytest.fixture
def ops() -> TogetherBatchOperations:
    return TogetherBatchOperations(model=MODEL, api_key="test", store=":memory:")


def test_a_line_is_custom_id_and_body_only(ops: TogetherBatchOperations) -> None:
    line = ops.encode_request("k1", [Message.user("Hi")], Hyperparameters.from_mapping({}))
    assert set(line) == {"custom_id", "body"}  # no method, no url
    assert line["custom_id"] == "k1"
    assert line["body"]["model"] == MODEL
    assert line["body"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]}
    ]


def test_max_tokens_keeps_together_s_name(ops: TogetherBatchOperations) -> None:
    params = Hyperparameters.from_mapping({"max_tokens": 20, "top_k": 5})
    body = ops.encode_request("k1", [Message.user("Hi")], params)["body"]
    assert body["max_tokens"] == 20
    assert "max_completion_tokens" not in body
    assert body["top_k"] == 5  # a Together field passes through


def test_custom_ids_are_at_most_64_characters() -> None:
    limits = TogetherBatchOperations.limits
    assert limits.accepts_custom_id("a" * 64)
    assert not limits.accepts_custom_id("a" * 65)


async def test_an_unknown_field_is_refused_before_anything_is_sent(
    ops: TogetherBatchOperations,
) -> None:
    with pytest.raises(ValidationError, match="top_kk"):
        await ops.estimate({"q": "Hi"}, {"top_kk": 5})


def test_the_key_comes_from_together_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    ops = TogetherBatchOperations(model=MODEL, store=":memory:")
    with pytest.raises(MissingCredentialsError, match="TOGETHER_API_KEY"):
        ops.check_ready()
    monkeypatch.setenv("TOGETHER_API_KEY", "from-env")
    ops.check_ready()
