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
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import resource
import tempfile
from pathlib import Path

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
    return {
        "requests": count,
        "results": results,
        "texts": texts,
        "batches": len(ops.local.counts),
        "baseline_mb": baseline,
        "peak_mb": rss_mb(),
    }


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
    return {
        "requests": count,
        "sent_requests": sum(body.requests for body in bodies),
        "body_mb": sum(body.received for body in bodies) / 1024 / 1024,
        "bodies_complete": int(complete),
        "batches": len(bodies),
        "handle_is_job": int(batch_id.startswith("lmbjob_")),
        "baseline_mb": baseline,
        "peak_mb": peak,
    }


def main() -> None:
    """Entry point: the request count, and which case to measure."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory_probe")
    parser.add_argument("count", type=int)
    parser.add_argument(
        "--case", choices=["openai-stream", "anthropic-create"], default="openai-stream"
    )
    parser.add_argument("--prompt-bytes", type=int, default=10_000)
    parser.add_argument("--requests-per-batch", type=int)
    args = parser.parse_args()
    if args.case == "anthropic-create":
        report = asyncio.run(
            probe_anthropic_create(args.count, args.prompt_bytes, args.requests_per_batch)
        )
    else:
        report = asyncio.run(probe(args.count))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
