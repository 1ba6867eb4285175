"""Real processes: SIGKILL at every stage of ``invoke``, and two runners of one job."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import ANTHROPIC, LEDGER, OPENAI, REQUESTS, VENDORS, Vendor

CHILD = Path(__file__).with_name("_child.py")
STAGES = ["before-submit", "after-upload", "after-create", "polling", "downloading"]


def _spawn(
    vendor: Vendor, emulator: Emulator, store: Path, stage: str = "none"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), vendor.name, vendor.base_url(emulator), str(store), stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize(
    ("vendor", "stage"),
    [
        pytest.param(vendor, stage, id=f"{vendor.name}-killed-{stage}")
        for vendor in VENDORS
        for stage in STAGES
        if not (stage == "after-upload" and vendor is ANTHROPIC)  # no upload step
    ],
)
def test_sigkill_then_rerun_gives_every_key_one_outcome(
    vendor: Vendor, stage: str, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite3"
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        code, _, err = _finish(_spawn(vendor, emulator, store, stage))
        assert code == -signal.SIGKILL, err
        code, out, err = _finish(_spawn(vendor, emulator, store))
        assert code == 0, err
        outcomes = json.loads(out.strip().splitlines()[-1])
        assert outcomes == dict.fromkeys(REQUESTS, True)
        duplicates = {cid: n for cid, n in emulator.submissions.items() if n != 1}
        LEDGER.faults_injected += 1
        LEDGER.keys_checked += len(outcomes)
        LEDGER.duplicates_found += len(duplicates)
        assert set(emulator.submissions) == set(REQUESTS)
        assert duplicates == {}
        # One create over both runs: by the killed process or by the re-run, never both.
        assert emulator.create_calls == 1


@pytest.mark.parametrize("vendor", [OPENAI, ANTHROPIC], ids=lambda v: v.name)
def test_two_processes_running_one_job_submit_it_once(vendor: Vendor, tmp_path: Path) -> None:
    store = tmp_path / "jobs.sqlite3"
    with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as emulator:
        runners = [_spawn(vendor, emulator, store) for _ in range(2)]
        finished = [_finish(runner) for runner in runners]
        for code, _, err in finished:
            assert code == 0, err
        outputs = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in finished]
        assert outputs[0] == outputs[1] == dict.fromkeys(REQUESTS, True)
        assert emulator.create_calls == 1
        assert sorted(emulator.submissions.values()) == [1] * len(REQUESTS)
        LEDGER.keys_checked += 2 * len(REQUESTS)
