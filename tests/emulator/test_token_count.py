"""The token-count endpoints of both halves: counts that match the answers' usage."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml
from anthropic.types import MessageTokensCount
from lmbatch_anthropic._emulator._responder import message_body
from lmbatch_openai._emulator._responder import responses_body
from openai.types.responses import InputTokenCountResponse

from lmbatch.testing.emulator import Emulator, EndpointFault
from tests.specs import SPECS

from .conftest import CLAUDE, MODEL

HEADERS = {"x-api-key": "test", "anthropic-version": "2023-06-01"}


async def test_openai_input_token_count_matches_the_usage_of_the_answer(
    emu: Emulator, oai: openai.AsyncOpenAI
) -> None:
    items: Any = [{"role": "user", "content": "Count these words, please, all of them."}]
    counted = await oai.responses.input_tokens.count(
        model=MODEL, input=items, instructions="Be brief."
    )
    # What a batch line of the same body is answered with.
    usage = responses_body({"model": MODEL, "input": items, "instructions": "Be brief."})["usage"]
    assert counted.input_tokens > 0
    assert counted.input_tokens == usage["input_tokens"]
    assert emu.calls[0].operation == "count_tokens"


async def test_anthropic_token_count_matches_the_usage_of_the_answer(
    emu: Emulator, claude: anthropic.AsyncAnthropic
) -> None:
    messages: Any = [{"role": "user", "content": "Count these words, please, all of them."}]
    counted = await claude.messages.count_tokens(model=CLAUDE, messages=messages, system="Hi.")
    assert counted.input_tokens > 0
    usage = message_body(
        {"model": CLAUDE, "max_tokens": 50, "messages": messages, "system": "Hi."}
    )["usage"]
    assert counted.input_tokens == usage["input_tokens"]


def _vendor_shape(answer: dict[str, Any], model: type[Any]) -> None:
    """The answer has exactly the fields of the SDK's type (generated from the vendor spec)."""
    assert set(answer) == set(model.model_fields)
    model.model_validate(answer, strict=True)


@pytest.mark.parametrize(
    ("path", "body", "sdk_type", "spec_file", "spec_path"),
    [
        (
            "/v1/responses/input_tokens",
            {"model": MODEL, "input": "hello there"},
            InputTokenCountResponse,
            "openai-request-bodies.subset.yaml",
            "/responses/input_tokens",
        ),
        (
            "/v1/messages/count_tokens",
            {"model": CLAUDE, "messages": [{"role": "user", "content": "hello there"}]},
            MessageTokensCount,
            "anthropic-message-batches.subset.yaml",
            "/v1/messages/count_tokens",
        ),
    ],
)
def test_count_answers_have_the_vendors_shape(
    emu: Emulator,
    path: str,
    body: dict[str, Any],
    sdk_type: type[Any],
    spec_file: str,
    spec_path: str,
) -> None:
    headers = {"Authorization": "Bearer test"} if "responses" in path else HEADERS
    answer = httpx.post(emu.base_url + path, json=body, headers=headers).json()
    _vendor_shape(answer, sdk_type)
    # The vendored spec subsets do not carry the count endpoints (yet): when a refreshed
    # subset does, the answer must match its 200 schema too.
    spec = yaml.safe_load((SPECS / spec_file).read_text(encoding="utf-8"))
    if spec_path in spec.get("paths", {}):  # pragma: no cover - not in today's subsets
        from tests.emulator.conftest import assert_matches_spec

        operation = spec["paths"][spec_path]["post"]
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert_matches_spec(answer, spec_file, ref.rsplit("/", 1)[-1])


async def test_count_endpoints_refuse_batch_only_fields(
    emu: Emulator, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    with pytest.raises(openai.BadRequestError, match="max_output_tokens"):
        await oai.responses.input_tokens.count(
            model=MODEL, input="hi", extra_body={"max_output_tokens": 10}
        )
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        await claude.messages.count_tokens(
            model=CLAUDE,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"max_tokens": 10},
        )


async def test_count_endpoints_take_endpoint_faults(
    emu: Emulator, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic
) -> None:
    emu.faults.add(EndpointFault("count_tokens", 503))
    with pytest.raises(openai.InternalServerError):
        await oai.responses.input_tokens.count(model=MODEL, input="hi")
    with pytest.raises(anthropic.InternalServerError):
        await claude.messages.count_tokens(
            model=CLAUDE, messages=[{"role": "user", "content": "hi"}]
        )
