"""The benchmark script keeps working (its numbers are not asserted: machines are noisy)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pipeline.py"


def test_benchmark_reports_ratios() -> None:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--requests", "200", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"encode: .*× the plain-json baseline", completed.stdout)
    assert re.search(r"decode: .*× the plain-json baseline", completed.stdout)
