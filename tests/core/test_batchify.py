"""``batchify``: calls through the official async SDKs become batch jobs (emulator only)."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from lmbatch import batchify

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
emulator_module = pytest.importorskip("lmbatch.testing.emulator")
Emulator = emulator_module.Emulator
EmulatorSettings = emulator_module.EmulatorSettings

FAST = {"batch_window_seconds": 0.1, "status_check_interval": 0.02}


def _store(tmp_path: Path) -> str:
    return str(tmp_path / "jobs.sqlite3")


async def test_a_thousand_concurrent_responses_calls_are_one_job_of_real_sdk_objects(
    tmp_path: Path,
) -> None:
    from openai.types.responses import Response

    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(
                    client.responses.create(model="gpt-4.1-mini", input=f"Question {i}?")
                    for i in range(1000)
                )
            )
        assert emulator.create_calls == 1
        assert len(emulator.submissions) == 1000
        # What the vendor answered each request: the bodies of the batch's output file,
        # which are what the live endpoint returns for the same request.
        live = await _output_bodies(emulator)
    assert batch.submitted == [("openai", "/v1/responses", "gpt-4.1-mini", 1000)]
    assert len(live) == 1000
    for i, answer in enumerate(answers):
        assert type(answer) is Response
        assert answer.output_text == f"echo: Question {i}?"
        assert answer.model == "gpt-4.1-mini"
        assert answer.status == "completed"
        assert answer.usage is not None
        assert answer.usage.output_tokens > 0
        body = live[answer.id]
        # Field for field what the SDK makes of the vendor's body, nothing dropped,
        # added or re-encoded on the way...
        assert answer.to_dict() == body
        assert answer == _sdk_construct(Response, body)
    # ...and that body is the live endpoint's shape (the official OpenAPI spec).
    from tests.emulator.conftest import OPENAI_BODIES, assert_matches_spec

    for body in list(live.values())[:50]:
        assert_matches_spec(body, OPENAI_BODIES, "Response")


def _sdk_construct(model: type, body: dict[str, Any]) -> Any:
    """The object the OpenAI SDK builds from a live response body (its own parser)."""
    from openai._models import construct_type

    return construct_type(type_=model, value=body)


async def _output_bodies(emulator: Any) -> dict[str, dict[str, Any]]:
    """Response bodies of every finished batch's output file, by response id (read
    with a plain SDK client, outside any batchify block)."""
    import json

    client = openai.AsyncOpenAI(base_url=emulator.openai_base_url, api_key="k")
    bodies: dict[str, dict[str, Any]] = {}
    async with client:
        async for found in client.batches.list():
            if found.output_file_id is None:
                continue
            content = await client.files.content(found.output_file_id)
            for line in content.text.splitlines():
                body = json.loads(line)["response"]["body"]
                bodies[body["id"]] = body
    return bodies


async def test_chat_completions_and_anthropic_messages_come_back_as_their_sdk_types(
    tmp_path: Path,
) -> None:
    from anthropic.types import Message
    from openai.types.chat import ChatCompletion

    async with Emulator() as emulator, batchify(store=_store(tmp_path), **FAST) as batch:
        chat = openai.AsyncOpenAI(
            base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
        )
        claude = anthropic.AsyncAnthropic(
            base_url=emulator.anthropic_base_url,
            api_key="k",
            http_client=batch.http_client("anthropic"),
        )
        completion, message = await asyncio.gather(
            chat.chat.completions.create(
                model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hi"}]
            ),
            claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=50,
                messages=[{"role": "user", "content": "Hello"}],
            ),
        )
    assert type(completion) is ChatCompletion
    assert completion.choices[0].message.content == "echo: Hi"
    assert type(message) is Message
    assert message.content[0].text == "echo: Hello"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


async def test_failed_lines_raise_the_sdks_own_exception_classes(tmp_path: Path) -> None:
    batching = batchify(store=_store(tmp_path), resubmit=False, **FAST)
    async with Emulator() as emulator, batching as batch:
        client = openai.AsyncOpenAI(
            base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
        )
        claude = anthropic.AsyncAnthropic(
            base_url=emulator.anthropic_base_url,
            api_key="k",
            http_client=batch.http_client("anthropic"),
        )

        async def ask(prompt: str) -> Any:
            return await client.responses.create(model="gpt-4.1-mini", input=prompt)

        async def ask_claude(prompt: str) -> Any:
            return await claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=20,
                messages=[{"role": "user", "content": prompt}],
            )

        outcomes = await asyncio.gather(
            ask("fine"),
            ask("bad [[lmbatch:error=400]]"),
            ask("slow down [[lmbatch:error=429]]"),
            ask("broken [[lmbatch:error=500]]"),
            ask_claude("bad [[lmbatch:error=400]]"),
            ask_claude("busy [[lmbatch:error=529]]"),
            return_exceptions=True,
        )
        calls = emulator.create_calls
    assert outcomes[0].output_text == "echo: fine"
    assert type(outcomes[1]) is openai.BadRequestError
    assert type(outcomes[2]) is openai.RateLimitError
    assert type(outcomes[3]) is openai.InternalServerError
    assert type(outcomes[4]) is anthropic.BadRequestError
    assert outcomes[5].status_code == 529
    assert isinstance(outcomes[5], anthropic.APIStatusError)
    assert calls == 2  # one job per vendor: the SDKs did not retry anything


_OPENAI_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "InternalServerError",
}
_ANTHROPIC_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    429: "RateLimitError",
    500: "InternalServerError",
    529: "OverloadedError",
}


async def test_each_failed_status_raises_the_class_the_live_call_would(tmp_path: Path) -> None:
    batching = batchify(store=_store(tmp_path), resubmit=False, **FAST)
    async with Emulator() as emulator, batching as batch:
        client = openai.AsyncOpenAI(
            base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
        )
        claude = anthropic.AsyncAnthropic(
            base_url=emulator.anthropic_base_url,
            api_key="k",
            http_client=batch.http_client("anthropic"),
        )
        calls = [
            client.responses.create(model="gpt-4.1-mini", input=f"x [[lmbatch:error={status}]]")
            for status in _OPENAI_ERRORS
        ] + [
            claude.messages.create(
                model="claude-haiku-4-5",
                max_tokens=20,
                messages=[{"role": "user", "content": f"x [[lmbatch:error={status}]]"}],
            )
            for status in _ANTHROPIC_ERRORS
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    expected = [
        *((openai, status, name) for status, name in _OPENAI_ERRORS.items()),
        *((anthropic, status, name) for status, name in _ANTHROPIC_ERRORS.items()),
    ]
    got = [
        (sdk.__name__, status, type(outcome).__name__, getattr(outcome, "status_code", None))
        for (sdk, status, _), outcome in zip(expected, outcomes, strict=True)
    ]
    assert got == [(sdk.__name__, status, name, status) for sdk, status, name in expected]
    for (sdk, _, name), outcome in zip(expected, outcomes, strict=True):
        assert type(outcome) is getattr(sdk, name)


async def test_streaming_is_refused_naming_why_or_sent_live_with_passthrough(
    tmp_path: Path,
) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            with pytest.raises(openai.BadRequestError, match="streaming calls cannot run"):
                await client.responses.create(model="gpt-4.1-mini", input="x", stream=True)
            with pytest.raises(openai.BadRequestError, match="not a call a batch API can run"):
                await client.models.list()
        assert emulator.create_calls == 0
        seen = len(emulator.calls)
        async with batchify(store=_store(tmp_path), passthrough=True, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            # Sent live: the emulator serves no live models route, and says so itself.
            with pytest.raises(openai.NotFoundError):
                await client.models.list()
        assert len(emulator.calls) > seen


async def test_file_uploads_are_refused_naming_why_or_sent_live_with_passthrough(
    tmp_path: Path,
) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            with pytest.raises(openai.BadRequestError, match="POST /v1/files is not a call"):
                await client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
        assert emulator.calls == []
        async with batchify(store=_store(tmp_path), passthrough=True, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            uploaded = await client.files.create(file=("a.jsonl", b"{}\n"), purpose="batch")
        assert uploaded.id
        assert emulator.create_calls == 0


async def test_dry_run_counts_and_prices_each_group_and_sends_nothing(tmp_path: Path) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), dry_run=True, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            claude = anthropic.AsyncAnthropic(
                base_url=emulator.anthropic_base_url,
                api_key="k",
                http_client=batch.http_client("anthropic"),
            )
            outcomes = await asyncio.gather(
                client.responses.create(model="gpt-4.1-mini", input="one", max_output_tokens=30),
                client.responses.create(model="gpt-4.1-mini", input="two", max_output_tokens=30),
                client.responses.create(model="gpt-4.1-mini", input="two", max_output_tokens=30),
                claude.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=40,
                    messages=[{"role": "user", "content": "three"}],
                ),
                return_exceptions=True,
            )
        assert emulator.calls == []  # not even an upload
    for outcome in outcomes[:3]:
        assert type(outcome) is openai.APIStatusError
        assert outcome.status_code == 412
        assert "lmbatch.batchify dry run" in str(outcome)
    assert isinstance(outcomes[3], anthropic.APIStatusError)  # PreconditionFailedError
    assert outcomes[3].status_code == 412
    report = sorted(batch.dry_run_report, key=lambda group: group.provider)
    assert [(g.provider, g.endpoint, g.model, g.calls) for g in report] == [
        ("anthropic", "/v1/messages", "claude-haiku-4-5", 1),
        ("openai", "/v1/responses", "gpt-4.1-mini", 3),
    ]
    openai_estimate = report[1].estimate
    assert openai_estimate.requests == 2  # the identical calls would be one request
    assert openai_estimate.output_tokens_upper == 60  # max_output_tokens per request
    assert report[1].cost is not None
    assert report[1].cost > 0
    assert batch.dry_run_cost is not None
    assert batch.dry_run_cost > report[1].cost
    assert batch.submitted == []
    assert "gpt-4.1-mini: 3 calls" in batch.describe()


async def test_the_same_block_run_again_re_attaches_and_submits_nothing_new(
    tmp_path: Path,
) -> None:
    async def run(emulator: Any) -> list[str]:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=f"q{i}") for i in range(5))
            )
        return [answer.output_text for answer in answers]

    async with Emulator() as emulator:
        first = await run(emulator)
        assert emulator.create_calls == 1
        second = await run(emulator)
        assert emulator.create_calls == 1
        assert all(count == 1 for count in emulator.submissions.values())
    assert first == second == [f"echo: q{i}" for i in range(5)]


async def test_a_re_run_grouping_the_calls_differently_still_pays_once(store_url: str) -> None:
    # Groups are flushed by size here; after a crash the calls may arrive in another
    # order or with another batch_size, and so fall into other groups than the first
    # time. Each request body is still found in the job that carries it.
    async def run(emulator: Any, prompts: list[str], batch_size: int) -> list[str]:
        async with batchify(store=store_url, batch_size=batch_size, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=p) for p in prompts)
            )
        return [answer.output_text for answer in answers]

    prompts = [f"q{i}" for i in range(6)]
    async with Emulator() as emulator:
        assert await run(emulator, prompts, 4) == [f"echo: {p}" for p in prompts]
        assert emulator.create_calls == 2  # {q0..q3}, {q4, q5}
        again = list(reversed(prompts))
        assert await run(emulator, again, 3) == [f"echo: {p}" for p in again]
        assert emulator.create_calls == 2  # {q5, q4, q3} and {q2, q1, q0}: nothing new
        # New calls among old ones: only the new bodies are sent, in one new job.
        more = [*prompts, "q6", "q7"]
        assert await run(emulator, more, 100) == [f"echo: {p}" for p in more]
        assert emulator.create_calls == 3
        # Requests are keyed by body fingerprints: eight bodies, each sent once.
        assert sorted(emulator.submissions.values()) == [1] * 8


async def test_a_few_calls_of_a_large_earlier_job_are_found_in_it(store_url: str) -> None:
    # Few keys against a large job: looked up one request id at a time, not by reading
    # the job's whole key map (both ways must find them).
    async def run(emulator: Any, prompts: list[str]) -> list[str]:
        async with batchify(store=store_url, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=p) for p in prompts)
            )
        return [answer.output_text for answer in answers]

    prompts = [f"q{i}" for i in range(100)]
    async with Emulator() as emulator:
        await run(emulator, prompts)
        assert emulator.create_calls == 1
        assert await run(emulator, ["q7", "q42"]) == ["echo: q7", "echo: q42"]
        assert await run(emulator, prompts[:60]) == [f"echo: {p}" for p in prompts[:60]]
        assert emulator.create_calls == 1
        assert sorted(emulator.submissions.values()) == [1] * 100


async def test_jobs_batchify_did_not_make_are_not_searched_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch._batchify_reattach import BATCHIFY_SOURCE
    from lmbatch._store import JobStore
    from lmbatch._store_contract import open_store

    store = _store(tmp_path)
    async with Emulator() as emulator:
        ops = lmbatch.get_batch_operations(
            "openai",
            model="gpt-4.1-mini",
            base_url=emulator.openai_base_url,
            api_key="k",
            store=store,
        )
        async with ops:
            await ops.invoke({f"r{i}": f"p{i}" for i in range(100)}, status_check_interval=0.02)
        looked_up: list[str] = []
        chunk_of = JobStore.chunk_of

        def spy(self: JobStore, job_id: str, custom_id: str) -> int | None:
            looked_up.append(custom_id)
            return chunk_of(self, job_id, custom_id)

        monkeypatch.setattr(JobStore, "chunk_of", spy)
        async with batchify(store=store, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=p) for p in ("a", "b"))
            )
        assert emulator.create_calls == 2
    assert [answer.output_text for answer in answers] == ["echo: a", "echo: b"]
    # The invoke job (100 keys) was not searched one look-up per call...
    assert looked_up == []
    # ...because only batchify's own jobs are marked as holding fingerprint keys.
    opened = open_store(store)
    try:
        sources = {
            job.request_count: opened.job_labels().get(job.job_id) for job in opened.list_jobs()
        }
    finally:
        opened.close()
    assert sources == {100: None, 2: (None, BATCHIFY_SOURCE)}


async def test_the_same_body_after_its_group_was_sent_is_not_sent_again(
    tmp_path: Path,
) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), batch_size=2, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )

            def ask(prompt: str) -> Any:
                return client.responses.create(model="gpt-4.1-mini", input=prompt)

            first = asyncio.gather(ask("a"), ask("b"))  # a full group: sent at once
            await asyncio.sleep(0.05)
            # "a" again while its job runs, and once more after it has answered.
            during = await asyncio.gather(ask("a"), ask("c"))
            after = await ask("a")
            assert [answer.output_text for answer in await first] == ["echo: a", "echo: b"]
        assert sorted(emulator.submissions.values()) == [1, 1, 1]  # a, b and c, once each
    assert [answer.output_text for answer in during] == ["echo: a", "echo: c"]
    assert after.output_text == "echo: a"


def test_batchify_is_exported_lazily() -> None:
    assert lmbatch.batchify is batchify
    assert "batchify" in lmbatch.__all__


async def test_identical_calls_are_one_request_answered_to_each_caller(tmp_path: Path) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            answers = await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input="same") for _ in range(3))
            )
        assert sum(emulator.submissions.values()) == 1
    assert [answer.output_text for answer in answers] == ["echo: same"] * 3


async def test_batch_size_splits_groups_and_models_get_their_own_jobs(tmp_path: Path) -> None:
    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), batch_size=4, **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            await asyncio.gather(
                *(client.responses.create(model="gpt-4.1-mini", input=f"q{i}") for i in range(6)),
                client.responses.create(model="gpt-4.1", input="other model"),
            )
        assert emulator.create_calls == 3
    assert sorted((model, calls) for _, _, model, calls in batch.submitted) == [
        ("gpt-4.1", 1),
        ("gpt-4.1-mini", 2),
        ("gpt-4.1-mini", 4),
    ]


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import openai
    from lmbatch._batchify import batchify

    async def main() -> None:
        base_url, store, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
        window = float(sys.argv[4])
        async with batchify(store=store, batch_window_seconds=window, batch_size=batch_size,
                            status_check_interval=0.02) as batch:
            client = openai.AsyncOpenAI(base_url=base_url, api_key="k",
                                        http_client=batch.http_client())
            answers = await asyncio.gather(*(
                client.responses.create(model="gpt-4.1-mini", input=f"q{i}")
                for i in range(20)
            ))
        print(",".join(answer.output_text for answer in answers))

    asyncio.run(main())
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first_size", "jobs", "again_size"),
    [(50_000, 1, 50_000), (10, 2, 50_000)],
    ids=["same-groups", "other-groups"],
)
def test_kill_9_mid_run_then_the_same_script_re_attaches_and_pays_once(
    tmp_path: Path, first_size: int, jobs: int, again_size: int
) -> None:
    # other-groups: the first run sent its 20 calls as two jobs of 10; the re-run
    # gathers them into one group, whose requests are all found in those jobs. The first
    # run's window is long, so its groups are made by size alone (with a short window a
    # loaded machine can cut a group early: then it made more jobs than planned).
    script = tmp_path / "script.py"
    script.write_text(_CHILD)
    with Emulator(EmulatorSettings(mode="manual")) as emulator:
        command = [sys.executable, str(script), emulator.openai_base_url, _store(tmp_path)]
        process = subprocess.Popen(
            [*command, str(first_size), "5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while emulator.create_calls < jobs and time.monotonic() < deadline:
                time.sleep(0.05)
            assert emulator.create_calls == jobs
            time.sleep(0.2)  # polling the batches, which cannot move in manual mode
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        emulator.finish()
        # Batches made from now on run to the end: a second submission shows up as
        # one, rather than as a re-run waiting forever.
        emulator.settings.mode = "polls"
        again = subprocess.run(
            [*command, str(again_size), "0.1"], capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        assert emulator.create_calls == jobs
        assert sorted(emulator.submissions.values()) == [1] * 20
    assert again.stdout.strip() == ",".join(f"echo: q{i}" for i in range(20))


#: Set in CI (.ci/run): the framework test fails there instead of skipping when the
#: framework is missing (it is in the dev extra, so a fresh checkout has it).
REQUIRE_FRAMEWORKS_ENV = "LMBATCH_REQUIRE_FRAMEWORKS"


def _framework(module: str) -> Any:
    if os.environ.get(REQUIRE_FRAMEWORKS_ENV) == "1":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is in the dev extra")


async def test_a_pydantic_ai_agent_on_the_openai_sdk_is_batched_and_gets_its_typed_output(
    tmp_path: Path,
) -> None:
    _framework("pydantic_ai")
    import pydantic
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
    from pydantic_ai.providers.openai import OpenAIProvider

    class City(pydantic.BaseModel):
        name: str
        population: int

    async with Emulator() as emulator:
        async with batchify(store=_store(tmp_path), **FAST) as batch:
            client = openai.AsyncOpenAI(
                base_url=emulator.openai_base_url, api_key="k", http_client=batch.http_client()
            )
            provider = OpenAIProvider(openai_client=client)
            chat = Agent(OpenAIChatModel("gpt-4.1-mini", provider=provider), output_type=City)
            responses = Agent(
                OpenAIResponsesModel("gpt-4.1-mini", provider=provider), output_type=City
            )
            results = await asyncio.gather(
                *(chat.run(f"Name city number {i}") for i in range(3)),
                responses.run("Name one more city"),
            )
        assert emulator.create_calls == 2  # one job per endpoint, every agent call in it
        assert sum(emulator.submissions.values()) == 4
    assert sorted(endpoint for _, endpoint, _, _ in batch.submitted) == [
        "/v1/chat/completions",
        "/v1/responses",
    ]
    for result in results:
        # The agent's own output type, parsed from the batch's answer to its tool call.
        assert type(result.output) is City
        assert result.output.name
        assert isinstance(result.output.population, int)
