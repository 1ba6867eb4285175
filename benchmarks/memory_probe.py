"""Peak memory of encoding and streaming back N requests (run in its own process).

``python -m benchmarks.memory_probe N`` prints one JSON line: the resident set size after
the interpreter, lmbatch and the caller's own ``dict`` of N requests exist (the
baseline), the peak while lmbatch validates, encodes, splits, records, "submits" and
streams every result back through ``iter_results`` with the real OpenAI provider (its
network calls swapped for local files, see :mod:`benchmarks._local`), and the counts.

``python -m benchmarks.memory_probe N --case anthropic-create --prompt-bytes 10000``
measures the Anthropic create instead: N prompts of that size are validated, encoded,
spooled and sent over real HTTP by the real provider to a local sink that reads and
drops every body (:mod:`benchmarks._sink`), ``--requests-per-batch`` chunks at once.

``python -m benchmarks.memory_probe N --case table-run`` runs ``lmbatch run`` on a
Parquet table of N rows with a prompt template, writing a Parquet table, against the
emulator.

``python -m benchmarks.memory_probe N --case cli-run`` runs ``lmbatch run`` (in this
process) on a file of N requests against the emulator (in its own process), some of them
failing for a passing reason so that resubmission rounds run too; the baseline is taken
once the request file has been read.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._local import LocalOpenAI, openai_echo_answer
from benchmarks._sink import AnthropicSink


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux's ``VmHWM`` belongs to this program alone; ``ru_maxrss`` would also count the
    parent's memory at the fork that started it, so it is only the fallback elsewhere.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def probe(count: int) -> dict[str, float | int]:
    """Encode and stream back ``count`` requests; return the figures."""
    work = Path(tempfile.mkdtemp(prefix="lmbatch-memory-"))
    ops = LocalOpenAI(
        directory=work,
        answer_for=openai_echo_answer,
        model="gpt-4.1-mini",
        store=work / "store.sqlite3",
    )
    # Keys that break the vendor's id rule, so the key map is exercised at full size.
    requests = {
        f"document/{i} — part": f"Summarise document number {i} in one line." for i in range(count)
    }
    baseline = rss_mb()
    batch_id = await ops.create(requests, {"max_tokens": 50})
    results = 0
    texts = 0
    async for _key, output in ops.iter_results(batch_id):
        results += 1
        texts += output.text is not None
    return _cleaned(
        work,
        {
            "requests": count,
            "results": results,
            "texts": texts,
            "batches": len(ops.local.counts),
            "baseline_mb": baseline,
            "peak_mb": rss_mb(),
        },
    )


async def probe_anthropic_create(
    count: int, prompt_bytes: int, requests_per_batch: int | None
) -> dict[str, float | int]:
    """Create ``count`` Anthropic requests of ``prompt_bytes`` each; return the figures."""
    from lmbatch_anthropic import AnthropicBatchOperations

    work = Path(tempfile.mkdtemp(prefix="lmbatch-memory-"))
    filler = "All work and no play makes a batch a dull batch. " * (prompt_bytes // 50 + 1)
    # Distinct strings, as a caller's prompts are (not one object shared N times).
    requests = {f"doc-{i}": f"{i:08d} {filler[: max(0, prompt_bytes - 9)]}" for i in range(count)}
    with AnthropicSink() as sink:
        ops = AnthropicBatchOperations(
            model="claude-sonnet-4-5",
            api_key="local",
            base_url=sink.base_url,
            store=work / "store.sqlite3",
        )
        if requests_per_batch is not None:
            ops.limits = dataclasses.replace(ops.limits, max_requests_per_batch=requests_per_batch)
        baseline = rss_mb()
        batch_id = await ops.create(requests, {"max_tokens": 50})
        peak = rss_mb()
        await ops.aclose()
        bodies = sink.bodies
    complete = all(
        body.received == body.content_length
        and body.head.startswith(b'{"requests":[')
        and body.tail.endswith(b"]}")
        for body in bodies
    )
    return _cleaned(
        work,
        {
            "requests": count,
            "sent_requests": sum(body.requests for body in bodies),
            "body_mb": sum(body.received for body in bodies) / 1024 / 1024,
            "bodies_complete": int(complete),
            "batches": len(bodies),
            "handle_is_job": int(batch_id.startswith("lmbjob_")),
            "baseline_mb": baseline,
            "peak_mb": peak,
        },
    )


def probe_cli_run(count: int) -> dict[str, float | int]:
    """``lmbatch run`` of ``count`` requests through the emulator; return the figures."""
    from unittest import mock

    import lmbatch.cli._run_commands as run_commands
    from benchmarks.bench_end_to_end import emulator_process
    from lmbatch.cli._app import app
    from lmbatch.cli._request_file import read_request_file

    work = Path(tempfile.mkdtemp(prefix="lmbatch-memory-"))
    source = work / "requests.jsonl"
    keys = [f"question-{i}" for i in range(count)]
    with source.open("w", encoding="utf-8") as handle:
        for i, key in enumerate(keys):
            # One in 500 fails with a 500 every time: two resubmission rounds run.
            fault = " [[lmbatch:error=500]]" if i % 500 == 7 else ""
            handle.write(json.dumps({"key": key, "input": f"What is {i} squared?{fault}"}) + "\n")
    output = work / "results.jsonl"
    figures: dict[str, float] = {}

    def reading(*args: Any, **kwargs: Any) -> Any:
        requests = read_request_file(*args, **kwargs)
        figures["baseline_mb"] = rss_mb()
        return requests

    # The baseline: once the caller's requests are read (they are held throughout).
    with (
        mock.patch.object(run_commands, "read_request_file", reading),
        emulator_process() as base_url,
    ):
        exit_code = app(
            [
                "run", str(source), "-o", str(output), "-p", "openai", "-m", "gpt-4.1-mini",
                "-O", f"base_url={base_url}", "-O", "api_key=local",
                "--store", str(work / "store.sqlite3"), "--poll-interval", "0.01",
                "--no-progress",
            ],
            standalone_mode=False,
        )  # fmt: skip
    peak = rss_mb()
    written = 0
    in_order = True
    kinds: dict[str, int] = {}
    with output.open(encoding="utf-8") as handle:
        for written, line in enumerate(handle, start=1):
            record = json.loads(line)
            in_order = in_order and record["key"] == keys[written - 1]
            kind = "ok" if record["ok"] else record["error"]["kind"]
            kinds[kind] = kinds.get(kind, 0) + 1
    return _cleaned(
        work,
        {
            "requests": count,
            "exit_code": exit_code or 0,
            "written": written,
            "in_order": int(in_order),
            "errored": kinds.get("errored", 0),
            "ok": kinds.get("ok", 0),
            "baseline_mb": figures["baseline_mb"],
            "peak_mb": peak,
        },
    )


def probe_table_run(count: int) -> dict[str, float | int]:
    """``lmbatch run`` of a ``count``-row Parquet table through the emulator, to Parquet.

    The baseline is taken once lmbatch, pyarrow and the CLI are imported and the table
    written (by this process, a batch at a time); the peak covers indexing the rows,
    planning, the job (resubmission rounds included) and writing the output table.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.bench_end_to_end import emulator_process
    from lmbatch.cli._app import app

    work = Path(tempfile.mkdtemp(prefix="lmbatch-memory-"))
    source = work / "reviews.parquet"
    schema = pa.schema([("id", pa.int64()), ("review", pa.string()), ("stars", pa.float32())])
    with pq.ParquetWriter(source, schema) as writer:
        for start in range(0, count, 50_000):
            ids = list(range(start, min(count, start + 50_000)))
            # One in 500 fails with a 500 every time: two resubmission rounds run.
            reviews = [
                f"Review {i}: it works." + (" [[lmbatch:error=500]]" if i % 500 == 7 else "")
                for i in ids
            ]
            stars = [float(i % 5) for i in ids]
            writer.write_table(pa.table([ids, reviews, stars], schema=schema))
    output = work / "out.parquet"
    baseline = rss_mb()
    with emulator_process() as base_url:
        exit_code = app(
            [
                "run", str(source), "--prompt", "Classify: {review}", "-o", str(output),
                "-p", "openai", "-m", "gpt-4.1-mini",
                "-O", f"base_url={base_url}", "-O", "api_key=local",
                "--store", str(work / "store.sqlite3"), "--poll-interval", "0.01",
                "--no-progress",
            ],
            standalone_mode=False,
        )  # fmt: skip
    peak = rss_mb()
    written = 0
    in_order = True
    ok = 0
    carried = True
    for batch in pq.ParquetFile(output).iter_batches(batch_size=50_000):
        ids = batch.column("id").to_pylist()
        in_order = in_order and ids == list(range(written, written + len(ids)))
        ok += sum(1 for value in batch.column("ok").to_pylist() if value)
        carried = carried and batch.schema.field("stars").type == pa.float32()
        written += len(ids)
    return _cleaned(
        work,
        {
            "rows": count,
            "exit_code": exit_code or 0,
            "written": written,
            "in_order": int(in_order),
            "types_kept": int(carried),
            "ok": ok,
            "baseline_mb": baseline,
            "peak_mb": peak,
        },
    )


def _cleaned(work: Path, report: dict[str, float | int]) -> dict[str, float | int]:
    shutil.rmtree(work, ignore_errors=True)  # spooled input and results: GBs at scale
    return report


def main() -> None:
    """Entry point: the request count, and which case to measure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_probe")
    parser.add_argument("count", type=int)
    parser.add_argument(
        "--case",
        choices=["openai-stream", "anthropic-create", "cli-run", "table-run"],
        default="openai-stream",
    )
    parser.add_argument("--prompt-bytes", type=int, default=10_000)
    parser.add_argument("--requests-per-batch", type=int)
    args = parser.parse_args()
    if args.case == "cli-run":
        report = probe_cli_run(args.count)
    elif args.case == "table-run":
        report = probe_table_run(args.count)
    elif args.case == "anthropic-create":
        report = asyncio.run(
            probe_anthropic_create(args.count, args.prompt_bytes, args.requests_per_batch)
        )
    else:
        report = asyncio.run(probe(args.count))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
