"""Memory stays flat: 200,000 requests encoded, split, recorded and streamed back.

Runs the benchmark suite's probe (``benchmarks/memory_probe.py``): the real OpenAI
provider with its network calls swapped for local files. Measured on the development
machine: ~32 MB above the baseline (interpreter, lmbatch and the caller's own request
dict) at 200,000 requests, ~38 MB at 400,000. The bound leaves room for noise while
catching anything that holds the payload or a per-request list.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PEAK_GROWTH_LIMIT_MB = 100
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_encoding_and_streaming_200k_requests_stays_within_bound() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_probe", "200000"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"200,000 requests: peak {growth:.1f} MB above baseline, {report['batches']} batches")
    assert report["results"] == 200_000
    assert report["texts"] == 200_000
    assert report["batches"] == 5  # 47,500 per batch: the 50,000 limit less headroom
    assert growth < PEAK_GROWTH_LIMIT_MB


@pytest.mark.slow
def test_anthropic_create_streams_its_body_instead_of_holding_it() -> None:
    # 20,000 prompts of 10 KB: a ~190 MB create body, sent as three chunks at once to a
    # local sink. Holding the body (a list of records, then its JSON) cost ~750-850 MB.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.memory_probe",
            "20000",
            "--case",
            "anthropic-create",
            "--prompt-bytes",
            "10000",
            "--requests-per-batch",
            "10000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"Anthropic create, {report['body_mb']:.0f} MB of body: peak {growth:.1f} MB above")
    assert report["sent_requests"] == 20_000
    assert report["batches"] == 3  # 9,500 per batch: the 10,000 limit less headroom
    assert report["bodies_complete"] == 1  # each body as long as its Content-Length said
    assert report["body_mb"] > 150
    assert growth < PEAK_GROWTH_LIMIT_MB


@pytest.mark.slow
def test_lmbatch_run_of_100k_requests_does_not_hold_its_results() -> None:
    # `lmbatch run` through the emulator (its own process), with two resubmission
    # rounds for the 200 requests that always fail with a 500. Holding every outcome
    # until the end cost ~190 MB here (2 GB at a million).
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_probe", "100000", "--case", "cli-run"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"lmbatch run, 100,000 requests: peak {growth:.1f} MB above baseline")
    assert report["exit_code"] == 3  # every result written; some keys failed (the 200)
    assert report["written"] == 100_000
    assert report["in_order"] == 1  # the request file's order, whatever the vendor's
    assert report["errored"] == 200
    assert report["ok"] == 99_800
    assert growth < PEAK_GROWTH_LIMIT_MB


@pytest.mark.slow
def test_lmbatch_run_of_a_100k_row_parquet_table_streams_in_and_out() -> None:
    # `lmbatch run table.parquet --prompt ... -o out.parquet` through the emulator: the
    # table is read twice a batch at a time, outcomes parked on disk, the output written
    # a batch at a time. Measured by hand at 1,000,000 rows: see docs/tables.md.
    pytest.importorskip("pyarrow")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_probe", "100000", "--case", "table-run"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"lmbatch run, 100,000-row Parquet table: peak {growth:.1f} MB above baseline")
    assert report["exit_code"] == 3  # every row written; some failed (the 200)
    assert report["written"] == 100_000
    assert report["in_order"] == 1
    assert report["types_kept"] == 1
    assert report["ok"] == 99_800
    assert growth < PEAK_GROWTH_LIMIT_MB
