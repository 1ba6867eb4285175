"""The benchmark suite keeps working (its numbers are not asserted: machines are noisy)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_run_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "latest.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(output.read_text())
    names = [result["name"] for result in report["results"]]
    for expected in (
        "import lmbatch",
        "get_batch_operations('openai')",
        "encode OpenAI Responses",
        "encode Anthropic",
        "decode OpenAI Responses",
        "decode OpenAI Chat Completions",
        "decode Anthropic",
        "estimate 300 prompts",
        "end to end, OpenAI via the emulator",
    ):
        assert expected in names
        assert f"| {expected} |" in completed.stdout
    assert any(name.startswith("memory above baseline") for name in names)
    assert any(name.startswith("memory above baseline, Anthropic create") for name in names)
    assert any(name.startswith("worker") for name in names)  # lmbatch worker throughput
    for result in report["results"]:
        assert result["ours"] > 0, result["name"]
    # The import benchmark also checks that no vendor SDK is imported along the way.
    imports = {r["name"]: r for r in report["results"] if r["unit"] == "run"}
    assert all(not r["extra"]["vendor_modules"] for r in imports.values())
