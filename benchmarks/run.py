"""Run the benchmark suite: lmbatch against hand-written baselines, as ratios, in one run.

``python -m benchmarks`` (or ``python3 dev.py bench``) runs everything at the sizes the
targets are stated for and takes a few minutes; ``--quick`` runs tiny sizes to check that
the suite works. The table is printed and the same figures are written as JSON to
``benchmarks/results/latest.json`` (not committed).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._harness import Result

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SUITES = ("import", "encode", "decode", "estimate", "memory", "e2e", "workers")


def _format_value(result: Result, seconds: float) -> str:
    if result.unit == "MB":
        return f"{seconds:.1f} MB"
    if result.items > 1:
        return f"{seconds / result.items * 1e6:.1f} µs/{result.unit}"
    return f"{seconds * 1e3:.0f} ms"


def _target(result: Result) -> str:
    if result.absolute_target_s is not None:
        if result.unit == "MB":
            return f"< {result.absolute_target_s:.0f} MB"
        return f"< {result.absolute_target_s * 1e3:.0f} ms"
    return f"≤ {result.target:.1f}×" if result.target is not None else "—"


def table(results: list[Result]) -> str:
    """The figures as a Markdown table (pasted as is into docs/performance.md)."""
    rows = [
        ["benchmark", "lmbatch", "baseline", "ratio", "target", "met", "peak MB (ours/base)"],
        ["---", "---:", "---:", "---:", "---:", ":---:", "---:"],
    ]
    for result in results:
        memory = (
            f"{result.ours_peak_mb:.1f} / {result.baseline_peak_mb:.1f}"
            if result.ours_peak_mb is not None and result.baseline_peak_mb is not None
            else ""
        )
        met = {True: "yes", False: "**no**", None: ""}[result.met]
        # A memory row's figure is lmbatch's own growth; its notes give the comparison.
        is_memory = result.unit == "MB"
        rows.append(
            [
                result.name,
                _format_value(result, result.ours),
                "—" if is_memory else _format_value(result, result.baseline),
                "—" if is_memory else f"{result.ratio:.2f}×",
                _target(result),
                met,
                memory,
            ]
        )
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    notes = [f"- {result.name}: {note}" for result in results for note in result.notes]
    return "\n".join([*lines, "", *notes] if notes else lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the chosen suites, print and save the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: check it works")
    parser.add_argument("--only", nargs="+", choices=SUITES, default=list(SUITES))
    parser.add_argument("--rounds", type=int, help="timed rounds per side (median taken)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write JSON")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 5)
    encode_n, decode_n, e2e_n = (300, 300, 200) if quick else (50_000, 50_000, 10_000)
    memory_n: tuple[tuple[int, ...], int] = (
        ((2_000, 20_000), 20_000) if quick else ((20_000, 200_000, 400_000), 200_000)
    )
    # Anthropic create: request count and prompt bytes (a ~19 MB or ~190 MB body).
    create_n = (2_000, 10_000) if quick else (20_000, 10_000)

    def suite(name: str) -> Callable[[], list[Result]]:
        # Imported when run, so one suite's imports never weigh on another's figures.
        if name == "import":
            from benchmarks import bench_import

            return lambda: bench_import.run(max(rounds, 3) if not quick else 1)
        if name == "encode":
            from benchmarks import bench_encode

            return lambda: bench_encode.run(encode_n, rounds)
        if name == "decode":
            from benchmarks import bench_decode

            return lambda: bench_decode.run(decode_n, rounds)
        if name == "estimate":
            from benchmarks import bench_estimate

            return lambda: bench_estimate.run(300 if quick else 10_000, rounds)
        if name == "memory":
            from benchmarks import bench_memory

            return lambda: bench_memory.run(*memory_n, anthropic_create=create_n)
        if name == "workers":
            from benchmarks import bench_workers

            jobs, per_job = (3, 50) if quick else (6, 2_000)
            return lambda: bench_workers.run(jobs, per_job, max(1, rounds - 2))
        from benchmarks import bench_end_to_end

        return lambda: bench_end_to_end.run(e2e_n, max(1, rounds - 2))

    results: list[Result] = []
    started = time.perf_counter()
    for name in args.only:
        print(f"running {name}...", file=sys.stderr, flush=True)
        results.extend(suite(name)())
    print(table(results))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": f"{platform.system()} {platform.machine()}",
        "quick": quick,
        "rounds": rounds,
        "seconds": round(time.perf_counter() - started, 1),
        "results": [result.as_json() for result in results],
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nfigures written to {args.output}", file=sys.stderr)
    return 0
