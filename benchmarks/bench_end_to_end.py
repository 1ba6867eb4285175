"""End to end: ``invoke`` against the emulator, and a raw-SDK script doing the same steps.

The emulator runs in its own process (``python -m lmbatch.testing.emulator``) in
``polls`` mode, so a batch advances one lifecycle step per status check and neither side
waits on a clock. Both sides poll without sleeping and end with a ``dict`` of answers.

lmbatch's side: ``invoke`` with a fresh job store (nothing to re-attach to): validate,
encode, record the job in SQLite, upload, create, poll, stream both result files, decode
into ``LMOutput``, delete the uploaded input file. The raw-SDK side: write the JSONL by
hand, upload, create, poll, download the output file whole, ``json.loads`` each line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._harness import Result, alternate
from benchmarks.bench_encode import as_lm_input, openai_line
from benchmarks.workload import MAX_TOKENS, MODEL_OPENAI, TEMPERATURE, SourceRecord, make_workload

_TERMINAL = {"completed", "failed", "expired", "cancelled"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    """Start the emulator on a free loopback port; yield its OpenAI base URL; stop it."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lmbatch.testing.emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base_url}/batches", timeout=1)
            except urllib.error.HTTPError:
                break  # answering (401 without a key): up
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
            else:
                break
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


async def raw_sdk(base_url: str, records: list[SourceRecord], scratch: Path) -> dict[str, Any]:
    """The steps a user writes with the OpenAI SDK alone."""
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench")
    path = scratch / "raw.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(openai_line(record, {}))
    with path.open("rb") as handle:
        uploaded = await client.files.create(file=handle, purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h"
    )
    while batch.status not in _TERMINAL:
        batch = await client.batches.retrieve(batch.id)
    answers: dict[str, Any] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        content = await client.files.content(file_id)
        for line in content.text.splitlines():
            row = json.loads(line)
            body = (row.get("response") or {}).get("body") or {}
            texts = [
                part["text"]
                for item in body.get("output") or []
                if item.get("type") == "message"
                for part in item.get("content") or []
                if part.get("type") == "output_text"
            ]
            answers[row["custom_id"]] = {"text": "".join(texts), "usage": body.get("usage")}
    await client.close()
    return answers


async def with_lmbatch(base_url: str, requests: dict[str, Any], store: Path) -> dict[str, Any]:
    """The same job through ``invoke``."""
    import lmbatch

    ops = lmbatch.get_batch_operations(
        "openai", model=MODEL_OPENAI, base_url=base_url, api_key="bench", store=store
    )
    async with ops:
        return await ops.invoke(
            requests,
            {"max_tokens": MAX_TOKENS, "temperature": TEMPERATURE},
            status_check_interval=0,
            max_status_check_interval=0,
            reuse=False,
        )


def run(count: int, rounds: int) -> list[Result]:
    """Time ``count`` requests end to end on both sides."""
    workload = make_workload(count)
    # One call's worth: the structured group is sent as plain prompts here.
    records = [
        SourceRecord(r.key, r.prompt, r.system, r.history, r.image_url)
        for r in [*workload.plain, *workload.structured]
    ]
    scratch = Path(tempfile.mkdtemp(prefix="lmbatch-bench-e2e-"))
    runs = iter(range(1_000_000))
    with emulator_process() as base_url:

        def ours() -> dict[str, Any]:
            requests = {record.key: as_lm_input(record) for record in records}
            store = scratch / f"store-{next(runs)}.sqlite3"
            return asyncio.run(with_lmbatch(base_url, requests, store))

        def baseline() -> dict[str, Any]:
            return asyncio.run(raw_sdk(base_url, records, scratch))

        mine, theirs = ours(), baseline()
        if mine.keys() != theirs.keys() or any(
            mine[key].text != theirs[key]["text"] for key in mine
        ):
            raise AssertionError("end to end: lmbatch and the raw script got different answers")
        ours_s, baseline_s = alternate(ours, baseline, rounds)
    return [
        Result(
            name="end to end, OpenAI via the emulator",
            unit="request",
            items=count,
            ours=ours_s,
            baseline=baseline_s,
            target=1.2,
        )
    ]
