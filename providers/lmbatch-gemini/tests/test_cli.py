"""The command line runs a Gemini batch end to end against the local emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lmbatch.testing.emulator import Emulator

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("mode", ["inline", "file"])
def test_lmbatch_run_with_gemini(tmp_path: Path, mode: str) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "\n".join(
            json.dumps(line)
            for line in [
                {"key": "q1", "input": "Hello!"},
                {"key": "q 2/ü", "input": "Goodbye!"},
                {"key": "bad", "input": "Fail [[lmbatch:error=400]]"},
            ]
        )
        + "\n"
    )
    out = tmp_path / "results.jsonl"
    with Emulator() as emulator:
        env = {
            **os.environ,
            "GEMINI_API_KEY": "test",
            "GOOGLE_GEMINI_BASE_URL": emulator.gemini_base_url,
            "LMBATCH_STORE": str(tmp_path / "jobs.sqlite3"),
        }
        env.pop("GOOGLE_API_KEY", None)
        done = subprocess.run(
            [
                sys.executable, "-m", "lmbatch", "run", str(prompts), "-o", str(out),
                "--provider", "gemini", "--model", "gemini-2.5-flash", "-O", f"mode={mode}",
                "--poll-interval", "0", "--no-progress", "--allow-failures",
            ],
            env=env, capture_output=True, text=True, timeout=100, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = {row["key"]: row for row in map(json.loads, out.read_text().splitlines())}
    assert sorted(results) == ["bad", "q 2/ü", "q1"]
    assert results["q1"]["text"] == "echo: Hello!"
    assert results["q 2/ü"]["text"] == "echo: Goodbye!"
    assert results["bad"]["error"]["kind"] == "errored"
