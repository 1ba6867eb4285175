"""Decode: vendor result files → ``dict[key, LMOutput]``, lmbatch against ``json.loads``.

lmbatch's side is ``retrieve`` on a finished job of the real provider (its downloads read
from local files, see :mod:`benchmarks._local`): streaming, key mapping, duplicate and
missing-key accounting, decoding into typed ``LMOutput``, structured-output validation.
The baseline is what a user writes by hand: ``json.loads`` per line, then text and usage
picked out into plain dicts. 2 % of the lines are errors.
"""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._harness import Result, alternate, peak_mb, ratio_without_gc
from benchmarks._local import LocalAnthropic, LocalOpenAI
from benchmarks.workload import (
    ANSWER_SCHEMA,
    MODEL_ANTHROPIC,
    MODEL_OPENAI,
    Answer,
    anthropic_lines,
    openai_chat_lines,
    openai_responses_lines,
)
from lmbatch import BatchOperations, LMOutput
from lmbatch._keys import strip_job_tag

Baseline = Callable[[list[Path]], dict[str, dict[str, Any]]]


def _responses_baseline(structured: bool) -> Baseline:
    def decode(paths: list[Path]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for path in paths:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    record = json.loads(line)
                    response = record["response"]
                    body = response["body"]
                    if response["status_code"] != 200:
                        out[record["custom_id"]] = {"error": body["error"]["code"]}
                        continue
                    text = "".join(
                        part["text"]
                        for item in body["output"]
                        if item["type"] == "message"
                        for part in item["content"]
                        if part["type"] == "output_text"
                    )
                    usage = body["usage"]
                    out[record["custom_id"]] = {
                        "text": json.loads(text) if structured else text,
                        "input_tokens": usage["input_tokens"],
                        "output_tokens": usage["output_tokens"],
                    }
        return out

    return decode


def _chat_baseline(paths: list[Path]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                response = record["response"]
                body = response["body"]
                if response["status_code"] != 200:
                    out[record["custom_id"]] = {"error": body["error"]["code"]}
                    continue
                usage = body["usage"]
                out[record["custom_id"]] = {
                    "text": body["choices"][0]["message"]["content"],
                    "input_tokens": usage["prompt_tokens"],
                    "output_tokens": usage["completion_tokens"],
                }
    return out


def _anthropic_baseline(paths: list[Path]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                result = record["result"]
                if result["type"] != "succeeded":
                    out[record["custom_id"]] = {"error": result["error"]["error"]["type"]}
                    continue
                message = result["message"]
                usage = message["usage"]
                out[record["custom_id"]] = {
                    "text": "".join(
                        block["text"] for block in message["content"] if block["type"] == "text"
                    ),
                    "input_tokens": usage["input_tokens"],
                    "output_tokens": usage["output_tokens"],
                }
    return out


def _check_same(name: str, ours: dict[str, LMOutput], theirs: dict[str, dict[str, Any]]) -> None:
    """Both sides must have read the same answers, or the timing compares nothing."""
    # The baseline reads the vendor's ids, which end with lmbatch's job tag.
    theirs = {strip_job_tag(key): value for key, value in theirs.items()}
    if ours.keys() != theirs.keys():
        raise AssertionError(f"{name}: lmbatch and the baseline returned different keys")
    for key, output in ours.items():
        plain = theirs[key]
        if "error" in plain:
            same = output.error is not None and output.error.code == plain["error"]
        else:
            got = output.structured_output if output.structured_output is not None else output.text
            usage = output.token_usage
            same = (
                got == plain["text"]
                and usage is not None
                and usage.output_tokens == plain["output_tokens"]
            )
        if not same:
            raise AssertionError(f"{name}: {key} reads differently in lmbatch and the baseline")


async def _streamed_plain(ops: BatchOperations, batch_id: str) -> dict[str, dict[str, Any]]:
    """``iter_results`` kept as the baseline keeps its answers: text and usage only.

    How a large job is best read: nothing but plain values is held per result.
    """
    out: dict[str, dict[str, Any]] = {}
    async for key, output in ops.iter_results(batch_id):
        if output.error is not None:
            out[key] = {"error": output.error.code}
            continue
        usage = output.token_usage
        assert usage is not None
        out[key] = {
            "text": output.text,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
        }
    return out


def run(count: int, rounds: int) -> list[Result]:
    """Time decoding ``count`` result lines for each endpoint and vendor."""
    directory = Path(tempfile.mkdtemp(prefix="lmbatch-bench-decode-"))
    requests = {f"req-{index:07d}": f"Question {index}?" for index in range(count)}
    openai = functools.partial(LocalOpenAI, model=MODEL_OPENAI)
    anthropic_ops = functools.partial(LocalAnthropic, model=MODEL_ANTHROPIC)
    responses_lines = openai_responses_lines(count)
    anthropic = anthropic_lines(count)
    cases: list[
        tuple[str, Callable[..., BatchOperations], list[str], dict[str, Any], Baseline, bool]
    ] = [
        (
            "decode OpenAI Responses",
            openai,
            responses_lines,
            {},
            _responses_baseline(False),
            False,
        ),
        (
            "decode OpenAI Responses, streamed into plain dicts",
            openai,
            responses_lines,
            {},
            _responses_baseline(False),
            True,
        ),
        (
            "decode OpenAI Responses, structured (pydantic model)",
            openai,
            openai_responses_lines(count, structured=True),
            {"response_schema": Answer},
            _responses_baseline(True),
            False,
        ),
        (
            "decode OpenAI Responses, structured (JSON schema dict)",
            openai,
            openai_responses_lines(count, structured=True),
            {"response_schema": ANSWER_SCHEMA},
            _responses_baseline(True),
            False,
        ),
        (
            "decode OpenAI Chat Completions",
            functools.partial(openai, endpoint="/v1/chat/completions"),
            openai_chat_lines(count),
            {},
            _chat_baseline,
            False,
        ),
        (
            "decode Anthropic",
            anthropic_ops,
            anthropic,
            {},
            _anthropic_baseline,
            False,
        ),
        (
            "decode Anthropic, streamed into plain dicts",
            anthropic_ops,
            anthropic,
            {},
            _anthropic_baseline,
            True,
        ),
    ]
    results = []
    for name, make, lines, params, baseline_decode, streamed in cases:
        answers = {json.loads(line)["custom_id"]: line for line in lines}
        ops = make(directory=directory, answers=answers, store=":memory:")
        batch_id = asyncio.run(ops.create(requests, params))
        local = ops.local  # type: ignore[attr-defined]
        paths = [local.results_path(batch) for batch in local.counts]

        def ours(
            ops: BatchOperations = ops, batch_id: str = batch_id, streamed: bool = streamed
        ) -> dict[str, Any]:
            if streamed:
                return asyncio.run(_streamed_plain(ops, batch_id))
            return asyncio.run(ops.retrieve(batch_id))

        def baseline(
            decode: Baseline = baseline_decode, paths: list[Path] = paths
        ) -> dict[str, dict[str, Any]]:
            return decode(paths)

        if streamed:
            # Not compared whole: lmbatch's Anthropic input_tokens include cached tokens.
            mine, theirs = ours(), baseline()
            for key, plain in theirs.items():
                if any(
                    mine[strip_job_tag(key)].get(f) != plain.get(f)
                    for f in ("text", "error", "output_tokens")
                ):
                    raise AssertionError(f"{name}: {key} reads differently")
        else:
            _check_same(name, ours(), baseline())
        ours_s, baseline_s = alternate(ours, baseline, rounds)
        without_gc = ratio_without_gc(ours, baseline, rounds)
        results.append(
            Result(
                name=name,
                unit="line",
                items=count,
                ours=ours_s,
                baseline=baseline_s,
                target=2.0,
                ours_peak_mb=peak_mb(ours),
                baseline_peak_mb=peak_mb(baseline),
                notes=[f"{without_gc:.2f}× with the garbage collector off"],
                extra={"ratio_without_gc": without_gc},
            )
        )
    return results
