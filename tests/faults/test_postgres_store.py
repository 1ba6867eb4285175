"""Real processes on one PostgreSQL store, each with its own local folders (as if on two
machines): one job run from both is submitted once, and a job whose process was killed
is finished by another machine from the spool in the database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import LEDGER, OPENAI, REQUESTS, VENDORS, Vendor

CHILD = Path(__file__).with_name("_child.py")


def _spawn(
    vendor: Vendor, emulator: Emulator, url: str, machine: Path, stage: str = "none"
) -> subprocess.Popen[str]:
    """A runner whose store is ``LMBATCH_STORE=url`` and whose local folders (temp files,
    local spool copies, user data) are its own, under ``machine``."""
    machine.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LMBATCH_STORE": url,
        "TMPDIR": str(machine),
        "HOME": str(machine),
        "XDG_DATA_HOME": str(machine / "data"),
    }
    return subprocess.Popen(
        [sys.executable, str(CHILD), vendor.name, vendor.base_url(emulator), "", stage],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda v: v.name)
def test_two_machines_running_one_job_on_postgresql_submit_it_once(
    vendor: Vendor, postgres_url: str, tmp_path: Path
) -> None:
    with Emulator(EmulatorSettings(mode="polls", polls_per_step=2)) as emulator:
        runners = [
            _spawn(vendor, emulator, postgres_url, tmp_path / f"machine-{n}") for n in range(2)
        ]
        finished = [_finish(runner) for runner in runners]
        for code, _, err in finished:
            assert code == 0, err
        outputs = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in finished]
        assert outputs[0] == outputs[1] == dict.fromkeys(REQUESTS, True)
        assert emulator.create_calls == 1
        assert sorted(emulator.submissions.values()) == [1] * len(REQUESTS)
        LEDGER.keys_checked += 2 * len(REQUESTS)
    # Nothing of the store landed in either machine's user data folder.
    for n in range(2):
        assert not (tmp_path / f"machine-{n}" / "data").exists()


@pytest.mark.parametrize("stage", ["before-submit", "after-create"])
def test_a_job_killed_on_one_machine_is_finished_by_another_from_the_shared_spool(
    stage: str, postgres_url: str, tmp_path: Path
) -> None:
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        code, _, err = _finish(_spawn(OPENAI, emulator, postgres_url, tmp_path / "a", stage))
        assert code == -signal.SIGKILL, err
        code, out, err = _finish(_spawn(OPENAI, emulator, postgres_url, tmp_path / "b"))
        assert code == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == dict.fromkeys(REQUESTS, True)
        assert emulator.create_calls == 1
        assert sorted(emulator.submissions.values()) == [1] * len(REQUESTS)
        LEDGER.faults_injected += 1
        LEDGER.keys_checked += len(REQUESTS)
