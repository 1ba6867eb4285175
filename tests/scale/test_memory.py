"""Memory stays flat: 200,000 requests encoded, split, and streamed back.

Measured on the development machine: about 41 MB above the baseline (interpreter plus
the caller's own request dict) for 200,000 requests, against 12 MB for 20,000; the
bound below leaves room for noise while catching anything that holds the payload.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PEAK_GROWTH_LIMIT_MB = 100
PROBE = Path(__file__).with_name("_memory_probe.py")


@pytest.mark.slow
def test_encoding_and_streaming_200k_requests_stays_within_bound() -> None:
    completed = subprocess.run(
        [sys.executable, str(PROBE), "200000"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    growth = report["peak_mb"] - report["baseline_mb"]
    print(f"200,000 requests: peak {growth:.1f} MB above baseline, {report['batches']} batches")
    assert report["results"] == 200_000
    assert report["batches"] == 5  # 47,500 per batch: the 50,000 limit less headroom
    assert growth < PEAK_GROWTH_LIMIT_MB
