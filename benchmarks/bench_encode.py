"""Encode: requests → the bytes a vendor receives, lmbatch against a hand-written loop.

lmbatch's side is everything ``create``/``invoke`` do before the first upload: build the
inputs the documented way (strings, ``Message`` lists, content parts with an
``Attachment``), validate settings and every request, map keys to ids, encode, split
within the vendor's limits, fingerprint the job, and write the JSONL files. The baseline is
the shortest correct loop a user would write: dicts and ``json.dumps`` into one file. Both
produce the same bytes, which is checked before anything is timed.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks._harness import Result, alternate, peak_mb, ratio_without_gc
from benchmarks.workload import (
    ANSWER_SCHEMA,
    MAX_TOKENS,
    MODEL_ANTHROPIC,
    MODEL_OPENAI,
    SCHEMA_NAME,
    TEMPERATURE,
    SourceRecord,
    Workload,
    make_workload,
)
from lmbatch import Attachment, BatchOperations, LMInput, Message, MessageContent
from lmbatch._jobs._recording import prepare

_PARAMS: dict[str, Any] = {"max_tokens": MAX_TOKENS, "temperature": TEMPERATURE}
_TAG = re.compile(rb'_lb[a-z2-7]{10}"')
_STRUCTURED_PARAMS: dict[str, Any] = {**_PARAMS, "response_schema": ANSWER_SCHEMA}
_FORCED_TOOL_DESCRIPTION = (
    "Give the final answer as this tool's input, which must follow the schema exactly."
)


def as_lm_input(record: SourceRecord) -> LMInput:
    """A source record the way the docs show it: a string, parts, or a conversation."""
    if record.image_url is not None:
        parts: list[MessageContent] = [record.prompt, Attachment.from_url(record.image_url)]
        return parts
    if record.system is None and not record.history:
        return record.prompt
    conversation = [Message.system(record.system)] if record.system else []
    for user, assistant in record.history:
        conversation += [Message.user(user), Message.assistant(assistant)]
    conversation.append(Message.user(record.prompt))
    return conversation


def lmbatch_encode(ops: BatchOperations, workload: Workload) -> list[Path]:
    """Encode both groups with lmbatch; return the chunk files (caller removes them)."""
    files: list[Path] = []
    for group, params in ((workload.plain, _PARAMS), (workload.structured, _STRUCTURED_PARAMS)):
        requests = {record.key: as_lm_input(record) for record in group}
        _, plan = prepare(ops._jobs, requests, params)
        files.extend(plan.chunk_paths)
    return files


# --------------------------------------------------------------- hand-written baselines


def _closed(schema: dict[str, Any]) -> dict[str, Any]:
    # What a user writes for OpenAI's strict mode: the object closed, every field required.
    return {**schema, "additionalProperties": False, "required": list(schema["properties"])}


def openai_line(record: SourceRecord, schema: dict[str, Any]) -> str:
    """One ``/v1/responses`` batch line, by hand."""
    items: list[dict[str, Any]] = []
    if record.system:
        items.append({"type": "message", "role": "system", "content": record.system})
    for user, assistant in record.history:
        items.append(
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]}
        )
        items.append({"type": "message", "role": "assistant", "content": assistant})
    content: list[dict[str, Any]] = [{"type": "input_text", "text": record.prompt}]
    if record.image_url:
        content.append({"type": "input_image", "image_url": record.image_url, "detail": "auto"})
    items.append({"type": "message", "role": "user", "content": content})
    body: dict[str, Any] = {
        "model": MODEL_OPENAI,
        "input": items,
        "max_output_tokens": MAX_TOKENS,
        "temperature": TEMPERATURE,
    }
    if record.structured:
        body["text"] = {
            "format": {"type": "json_schema", "name": SCHEMA_NAME, "schema": schema, "strict": True}
        }
    line = {"custom_id": record.key, "method": "POST", "url": "/v1/responses", "body": body}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def anthropic_line(record: SourceRecord, schema: dict[str, Any]) -> str:
    """One Message Batches request, by hand."""
    params: dict[str, Any] = {"model": MODEL_ANTHROPIC, "max_tokens": MAX_TOKENS}
    if record.system:
        params["system"] = record.system
    messages: list[dict[str, Any]] = []
    for user, assistant in record.history:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    if record.image_url:
        content: Any = [
            {"type": "text", "text": record.prompt},
            {"type": "image", "source": {"type": "url", "url": record.image_url}},
        ]
    else:
        content = record.prompt
    messages.append({"role": "user", "content": content})
    params["messages"] = messages
    params["temperature"] = TEMPERATURE
    if record.structured:
        params["tools"] = [
            {"name": SCHEMA_NAME, "description": _FORCED_TOOL_DESCRIPTION, "input_schema": schema}
        ]
        params["tool_choice"] = {"type": "tool", "name": SCHEMA_NAME}
    line = {"custom_id": record.key, "params": params}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def baseline_encode(
    workload: Workload,
    encode_line: Callable[[SourceRecord, dict[str, Any]], str],
    schema: dict[str, Any],
    path: Path,
) -> None:
    """The hand-written loop: every group into one file."""
    with path.open("w", encoding="utf-8") as out:
        for record in [*workload.plain, *workload.structured]:
            out.write(encode_line(record, schema))


def _concatenated(files: Iterable[Path]) -> bytes:
    return b"".join(path.read_bytes() for path in files)


def _untagged(data: bytes) -> bytes:
    """lmbatch's bytes less the job tag it ends every request id with (``_lb`` + 10)."""
    return _TAG.sub(b'"', data)


def _remove(files: Iterable[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)


def run(count: int, rounds: int) -> list[Result]:
    """Time both vendors' encodings of ``count`` requests."""
    from lmbatch_anthropic import AnthropicBatchOperations
    from lmbatch_openai import OpenAIBatchOperations

    workload = make_workload(count)
    scratch = Path(tempfile.mkdtemp(prefix="lmbatch-bench-encode-"))
    cases: list[tuple[str, BatchOperations, Callable[..., str], dict[str, Any]]] = [
        (
            "encode OpenAI Responses",
            OpenAIBatchOperations(model=MODEL_OPENAI, api_key="bench", store=":memory:"),
            openai_line,
            _closed(ANSWER_SCHEMA),
        ),
        (
            "encode Anthropic",
            AnthropicBatchOperations(model=MODEL_ANTHROPIC, api_key="bench", store=":memory:"),
            anthropic_line,
            ANSWER_SCHEMA,
        ),
    ]
    results = []
    baseline_path = scratch / "baseline.jsonl"
    for name, ops, encode_line, schema in cases:

        def ours(ops: BatchOperations = ops) -> None:
            _remove(lmbatch_encode(ops, workload))

        def baseline(
            encode_line: Callable[..., str] = encode_line, schema: dict[str, Any] = schema
        ) -> None:
            baseline_encode(workload, encode_line, schema, baseline_path)

        # Same bytes, or the comparison means nothing.
        mine = lmbatch_encode(ops, workload)
        baseline()
        if _untagged(_concatenated(mine)) != baseline_path.read_bytes():
            raise AssertionError(f"{name}: lmbatch and the baseline wrote different bytes")
        _remove(mine)
        ours_s, baseline_s = alternate(ours, baseline, rounds)
        without_gc = ratio_without_gc(ours, baseline, rounds)
        results.append(
            Result(
                name=name,
                unit="request",
                items=workload.count,
                ours=ours_s,
                baseline=baseline_s,
                target=1.5,
                ours_peak_mb=peak_mb(ours),
                baseline_peak_mb=peak_mb(baseline),
                notes=[f"{without_gc:.2f}× with the garbage collector off"],
                extra={"ratio_without_gc": without_gc},
            )
        )
    return results
