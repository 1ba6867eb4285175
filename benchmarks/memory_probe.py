"""Peak memory of encoding and streaming back N requests (run in its own process).

``python -m benchmarks.memory_probe N`` prints one JSON line: the resident set size after
the interpreter, lmbatch and the caller's own ``dict`` of N requests exist (the
baseline), the peak while lmbatch validates, encodes, splits, records, "submits" and
streams every result back through ``iter_results`` with the real OpenAI provider (its
network calls swapped for local files, see :mod:`benchmarks._local`), and the counts.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
from pathlib import Path

from benchmarks._local import LocalOpenAI, openai_echo_answer


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


def main() -> None:
    """Entry point: the request count is the only argument."""
    count = int(sys.argv[1])
    print(json.dumps(asyncio.run(probe(count))))


if __name__ == "__main__":
    main()
