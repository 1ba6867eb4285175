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


@pytest.mark.parametrize("vendor", [OPENAI, ANTHROPIC], ids=lambda v: v.name)
def test_sigkill_while_planning_leaves_no_plan_folder_after_the_rerun(
    vendor: Vendor, tmp_path: Path
) -> None:
    store = tmp_path / "jobs.sqlite3"
    spool = tmp_path / "jobs.sqlite3.spool"
    with Emulator(EmulatorSettings(mode="polls")) as emulator:
        code, _, err = _finish(_spawn(vendor, emulator, store, "planning"))
        assert code == -signal.SIGKILL, err
        assert [p.name for p in spool.iterdir() if p.name.startswith("plan-")] != []
        code, out, err = _finish(_spawn(vendor, emulator, store))
        assert code == 0, err
        assert json.loads(out.strip().splitlines()[-1]) == dict.fromkeys(REQUESTS, True)
        assert emulator.create_calls == 1
    # The killed process's folder went with the re-run (its pid is gone); nothing is left.
    assert list(spool.iterdir()) == []


_FILL_THE_DISK = """
import asyncio, resource, signal, sys
from lmbatch import StoreError
from lmbatch.testing import FakeBatchOperations

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
ops = FakeBatchOperations(store=sys.argv[1])
ops.store  # the store file exists before the limit
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
try:
    asyncio.run(ops.create({f"k{i}": "x" * 2000 for i in range(1000)}))
except StoreError as exc:
    print(type(exc).__name__, exc.path)
    print(exc)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file size limit")
def test_file_size_limit_while_planning_is_a_store_error_naming_the_spool_folder(
    tmp_path: Path,
) -> None:
    # A real write failing for lack of room (errno 27 here), not a simulated one.
    store = tmp_path / "jobs.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", _FILL_THE_DISK, str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    first, message = done.stdout.splitlines()[:2]
    spool = tmp_path / "jobs.sqlite3.spool"
    assert first == f"StoreError {spool}"
    assert "File too large" in message
    assert list(spool.iterdir()) == []
