"""One script, three providers: only the provider name and the model change.

The same code runs against ``openai``, ``anthropic`` and ``gemini`` (served by the local
emulator, configured through their usual environment variables) and the *shapes* of what
comes back (keys, outcome kinds, output item types, status values, info fields) must be
identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

import lmbatch
from lmbatch import BatchStatus, LMOutput, Message
from lmbatch._inputs import normalize_input
from lmbatch.testing.emulator import Emulator, EmulatorSettings

pytestmark = pytest.mark.timeout(120)

PROVIDERS = [
    ("openai", "gpt-4.1-mini"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
]
#: The variables naming each provider's key (the first is the one errors name).
KEY_VARIABLES = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
}


class Verdict(BaseModel):
    """Structured output of the script."""

    title: str
    score: int


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as running:
        yield running


@pytest.fixture
def vendor_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every provider at its emulator the way a user points it at a proxy."""
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_STORE", "LMBATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    monkeypatch.setenv("OPENAI_BASE_URL", emulator.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.anthropic_base_url)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "test")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", emulator.gemini_base_url)


def output_shape(output: LMOutput) -> dict[str, Any]:
    return {
        "ok": output.ok,
        "error": output.error.kind if output.error else None,
        "items": [item.type for item in output.outputs],
        "has_text": bool(output.text),
        "has_usage": output.token_usage is not None and output.token_usage.total_tokens > 0,
        "structured": sorted(output.structured_output) if output.structured_output else None,
    }


async def script(provider: str | None = None, model: str | None = None) -> dict[str, Any]:
    """What a user would write. Nothing in here depends on the provider.

    Without ``provider`` and ``model``, both come from the configuration (``lmbatch.toml``).
    """
    options = {"model": model} if model else {}
    ops = lmbatch.get_batch_operations(provider, store=":memory:", **options)
    async with ops:
        shape: dict[str, Any] = {}
        results = await ops.invoke(
            {
                "plain": "Say hello",
                "doc/7 — ünïcode": [Message.system("Be brief."), Message.user("What is 2+2?")],
                "x" * 200: ["First part.", "Second part."],
                "broken": "Fail please [[lmbatch:error=400]]",
            },
            {"max_tokens": 64, "temperature": 0.5},
            status_check_interval=0,
            max_iterations=50,
        )
        shape["invoke"] = {key: output_shape(out) for key, out in sorted(results.items())}
        structured = await ops.invoke(
            {"s": "Rate the title 'Batch APIs'"},
            {"response_schema": Verdict},
            status_check_interval=0,
            max_iterations=50,
        )
        shape["structured"] = output_shape(structured["s"])
        assert isinstance(structured["s"].parse(Verdict), Verdict)

        batch_id = await ops.create({"a": "one", "b": "two"})
        info = await ops.info(batch_id)
        shape["info_keys"] = sorted(info)
        shape["first_status"] = info["status"]
        # Values differ by vendor (OpenAI counts nothing while validating); fields do not.
        shape["count_fields"] = sorted(info["request_counts"])
        if "cancel" not in ops.supported_methods:  # e.g. OpenRouter: batches run to the end
            shape["cancel"] = "unsupported"
            listed = await ops.list()
            shape["listed"] = batch_id in {item["id"] for item in listed}
            shape["list_item_keys"] = sorted(set().union(*(item.keys() for item in listed)))
            return shape
        await ops.cancel(batch_id)
        for _ in range(50):
            status = await ops.status(batch_id)
            if status.is_terminal:
                break
        shape["cancelled_status"] = status
        cancelled = await ops.retrieve(batch_id)
        shape["cancelled_keys"] = sorted(cancelled)
        # How many finished before the cancel took effect is the vendor's business.
        kinds = {out.error.kind if out.error else "ok" for out in cancelled.values()}
        shape["cancelled_kinds_allowed"] = kinds <= {"ok", "cancelled"} and "cancelled" in kinds
        listed = await ops.list()
        shape["listed"] = batch_id in {item["id"] for item in listed}
        shape["list_item_keys"] = sorted(set().union(*(item.keys() for item in listed)))
        return shape


async def test_same_script_same_shapes(vendor_env: None) -> None:
    shapes = {provider: await script(provider, model) for provider, model in PROVIDERS}
    openai_shape = shapes["openai"]
    assert shapes["anthropic"] == openai_shape
    assert shapes["gemini"] == openai_shape
    # And the shapes are the ones a user expects.
    assert openai_shape["invoke"]["broken"]["error"] == "errored"
    assert openai_shape["invoke"]["plain"] == {
        "ok": True,
        "error": None,
        "items": ["text"],
        "has_text": True,
        "has_usage": True,
        "structured": None,
    }
    assert openai_shape["structured"]["structured"] == ["score", "title"]
    assert openai_shape["first_status"] is BatchStatus.IN_PROGRESS
    assert openai_shape["cancelled_status"] is BatchStatus.CANCELLED
    assert openai_shape["listed"] is True


# -- a missing key or model is reported before anything is recorded (issue 15 item 13) ---


@pytest.fixture
def no_vendor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key anywhere; a base URL where nothing listens, in case a call slipped through."""
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_STORE", "LMBATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    for names in KEY_VARIABLES.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.parametrize("method", ["create", "invoke"])
@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_a_missing_key_is_reported_before_anything_is_recorded(
    no_vendor_env: None, tmp_path: Any, provider: str, model: str, method: str
) -> None:
    store = lmbatch.JobStore(tmp_path / "jobs.sqlite3")

    async def submit() -> None:
        # Core checks the key when asked to submit, before anything is recorded.
        ops = lmbatch.get_batch_operations(provider, model=model, store=store)
        await getattr(ops, method)({"a": "hi"})

    with pytest.raises(lmbatch.MissingCredentialsError) as caught:
        await submit()
    env_var = KEY_VARIABLES[provider][0]
    assert caught.value.env_var == env_var
    assert env_var in str(caught.value)
    assert "api_key=..." in str(caught.value)
    assert not getattr(caught.value, "__notes__", None)  # no job to resume
    assert store.list_jobs() == []


@pytest.mark.parametrize("method", ["create", "invoke"])
@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_a_missing_model_is_reported_before_anything_is_recorded(
    no_vendor_env: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
    provider: str,
    model: str,
    method: str,
) -> None:
    monkeypatch.setenv(KEY_VARIABLES[provider][0], "test")
    store = lmbatch.JobStore(tmp_path / "jobs.sqlite3")
    ops = lmbatch.get_batch_operations(provider, store=store)
    async with ops:
        with pytest.raises(lmbatch.ValidationError) as caught:
            await getattr(ops, method)({"a": "hi"})
    assert str(caught.value).startswith(f"the {provider} provider needs a model: pass model=...")
    assert store.list_jobs() == []


@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_a_misspelt_hyperparameter_is_refused_alike_on_every_provider(
    provider: str, model: str, vendor_env: None, tmp_path: Any
) -> None:
    # One rule: portable names and the vendor's documented fields pass, a typo is refused
    # before anything is recorded or sent, with a did-you-mean, on both vendors.
    ops = lmbatch.get_batch_operations(provider, model=model, store=tmp_path / "jobs.sqlite3")
    async with ops:
        with pytest.raises(lmbatch.ValidationError, match="did you mean 'temperature'") as info:
            await ops.create({"a": "Hi"}, {"temprature": 0, "max_tokens": 20})
        assert "extra_body" in str(info.value)
        assert ops.store.list_jobs() == []


@pytest.mark.parametrize(
    ("provider", "model", "field"),
    [("openai", "gpt-4.1-mini", "max_output_tokens"), ("anthropic", "claude-sonnet-4-5", "top_k")],
)
async def test_vendor_fields_and_extra_body_reach_the_request_body(
    provider: str, model: str, field: str, vendor_env: None, tmp_path: Any
) -> None:
    ops = lmbatch.get_batch_operations(provider, model=model, store=tmp_path / "jobs.sqlite3")
    params = ops._checked_hyperparameters(
        {field: 1, "max_tokens": 20, "extra_body": {"brand_new_field": {"x": 1}}}
    )
    record = ops.encode_request("k", normalize_input("k", "Hi"), params)
    body = record.get("body") or record["params"]
    assert body[field] == 1
    assert body["brand_new_field"] == {"x": 1}


@pytest.mark.parametrize("endpoint", [None, "/v1/chat/completions"])
@pytest.mark.parametrize(("provider", "model"), PROVIDERS)
async def test_finish_reason_is_the_same_word_on_every_provider_and_policies_apply(
    provider: str, model: str, endpoint: str | None, vendor_env: None, tmp_path: Any
) -> None:
    if endpoint is not None and provider != "openai":
        pytest.skip("one endpoint only")
    options = {"endpoint": endpoint} if endpoint else {}
    ops = lmbatch.get_batch_operations(
        provider, model=model, store=tmp_path / "jobs.sqlite3", **options
    )
    requests = {
        "short": "Hi",
        "long": "Tell me everything about batches " + "and more " * 40,
        "refused": "Do something bad [[refuse]]",
    }
    async with ops:
        results = await ops.invoke(
            requests, {"max_tokens": 12}, status_check_interval=0, max_iterations=50
        )
        assert {key: out.finish_reason for key, out in results.items()} == {
            "short": "stop",
            "long": "length",
            # Gemini has no refusal of the model's own: what it declines, its safety
            # filter blocks (a RefusalOutput all the same).
            "refused": "content_filter" if provider == "gemini" else "refusal",
        }
        assert results["refused"].refusal
        assert results["long"].ok  # cut off, but an answer: kept ok by default
        rounds: list[lmbatch.ResubmissionRound] = []
        strict = await ops.invoke(
            requests,
            {"max_tokens": 12},
            status_check_interval=0,
            max_iterations=50,
            reuse=False,
            retry_on=("length",),
            treat_as_error=("length",),
            resubmit=1,
            on_resubmit=rounds.append,
        )
    assert [(r["round"], r["requests"], r["reasons"]) for r in rounds] == [
        (2, 1, {"finish_reason length": 1})
    ]
    long = strict["long"]
    assert not long.ok
    assert long.error is not None
    assert long.error.code == "finish_reason_length"
    assert long.text  # the partial answer is kept
    assert long.finish_details["lmbatch_round"] == 2
    assert strict["short"].ok
