"""Memory at scale: peak resident memory above the baseline, at two request counts.

Each count runs in a fresh process (:mod:`benchmarks.memory_probe`), since a process's
peak never comes down. The baseline is that process once the interpreter, lmbatch and
the caller's own dict of requests exist; what lmbatch adds on top is the figure, and
comparing several counts shows whether it grows with the request count.

A second row measures an Anthropic create of large prompts, whose single JSON body
(up to 256 MB) is what could cost memory: it is sent over HTTP to a local sink.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks._harness import Result

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 150.0


def _probe(*args: str) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_probe", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    report: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return report


def measure(count: int) -> dict[str, float]:
    """Run the probe for ``count`` requests in a fresh process; return its report."""
    report = _probe(str(count))
    if report["results"] != count or report["texts"] != count:
        raise AssertionError(f"memory probe: {report['results']} results for {count} requests")
    return report


def measure_anthropic_create(count: int, prompt_bytes: int) -> Result:
    """Peak growth while creating ``count`` Anthropic requests of ``prompt_bytes`` each."""
    report = _probe(str(count), "--case", "anthropic-create", "--prompt-bytes", str(prompt_bytes))
    if report["sent_requests"] != count:
        raise AssertionError(f"memory probe: {report['sent_requests']} of {count} sent")
    growth = report["peak_mb"] - report["baseline_mb"]
    return Result(
        name=f"memory above baseline, Anthropic create of {count:,} × {prompt_bytes:,} B",
        unit="MB",
        items=count,
        ours=growth,
        baseline=0.0,
        absolute_target_s=LIMIT_MB,
        notes=[
            f"a {report['body_mb']:.0f} MB create body in {int(report['batches'])} "
            f"batch{'es' if report['batches'] > 1 else ''}, streamed from the spool; "
            f"baseline RSS {report['baseline_mb']:.0f} MB (the caller's prompts)"
        ],
        extra={"report": report},
    )


def run(
    counts: tuple[int, ...], headline: int, anthropic_create: tuple[int, int] | None = None
) -> list[Result]:
    """Peak growth at each of ``counts``; the row reports ``headline``'s.

    With ``anthropic_create`` (a request count and a prompt size in bytes), a second row
    measures an Anthropic create of that many prompts.
    """
    reports = {count: measure(count) for count in counts}
    growth = {count: r["peak_mb"] - r["baseline_mb"] for count, r in reports.items()}
    main = reports[headline]
    return [
        Result(
            name=f"memory above baseline, {headline:,} requests",
            unit="MB",
            items=headline,
            ours=growth[headline],
            baseline=0.0,
            absolute_target_s=LIMIT_MB,
            notes=[
                ", ".join(
                    f"{growth[count]:.1f} MB at {count:,} ({int(reports[count]['batches'])} "
                    f"batch{'es' if reports[count]['batches'] > 1 else ''})"
                    for count in counts
                )
                + f"; baseline RSS {main['baseline_mb']:.0f} MB at {headline:,} "
                "(interpreter, lmbatch, the caller's request dict)"
            ],
            extra={"reports": {str(count): report for count, report in reports.items()}},
        ),
        *([measure_anthropic_create(*anthropic_create)] if anthropic_create else []),
    ]
