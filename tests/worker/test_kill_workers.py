"""Three workers, three "machines", one PostgreSQL store: SIGKILL some, the rest finish.

Each worker is a real ``lmbatch worker`` process with its own HOME and TMPDIR (as if on
its own machine); they share only the PostgreSQL store and the emulated vendor. One job
of several chunks is handed to them; a random worker (more often the one holding the
job's lease, where a kill matters) is SIGKILLed at random moments, several times, and
replaced by a fresh worker on a fresh machine. The rest must finish the job: no request
in two vendor batches (the emulator counts every accepted submission of every request
id), every key exactly one outcome in the store, each the right answer.

The normal suite runs 5,000 requests; ``LMBATCH_WORKER_KILL_REQUESTS=100000`` (and
``LMBATCH_WORKER_KILLS``) runs the issue's full size by hand, printing its figures.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lmbatch import open_store
from lmbatch.testing.emulator import Emulator, EmulatorSettings
from tests.faults._harness import LEDGER
from tests.worker._support import detach_job, spawn_worker

REQUESTS = int(os.environ.get("LMBATCH_WORKER_KILL_REQUESTS", "5000"))
KILLS = int(os.environ.get("LMBATCH_WORKER_KILLS", "4"))
#: About how many chunks the job is split in (the planner evens their sizes out).
CHUNKS = 10
LEASE = 2.0


class _PeakRSS(threading.Thread):
    """Samples the peak resident memory (VmHWM) of live worker processes."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.pids: set[int] = set()
        self.peak_kib: dict[int, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            for pid in list(self.pids):
                try:
                    text = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                for line in text.splitlines():
                    if line.startswith("VmHWM:"):
                        kib = int(line.split()[1])
                        self.peak_kib[pid] = max(kib, self.peak_kib.get(pid, 0))


def _holder_pid(url: str, job_id: str) -> int | None:
    store = open_store(url)
    try:
        queued = store.queued_job(job_id)
    finally:
        store.close()
    if queued is None or queued.owner is None:
        return None
    return int(queued.owner.rpartition(":")[2])


def _job_state(url: str, job_id: str) -> str:
    store = open_store(url)
    try:
        queued = store.queued_job(job_id)
        return queued.state if queued is not None else "missing"
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_three_workers_on_three_machines_survive_random_sigkills(
    postgres_url: str, tmp_path: Path
) -> None:
    rng = random.Random(f"worker-kills-{REQUESTS}")
    figures: dict[str, Any] = {"requests": REQUESTS, "kills": 0}
    figures["lease holder kills"] = 0
    settings = EmulatorSettings(mode="polls", polls_per_step=2, create_delay=0.2)
    machines = iter(range(1_000))
    rss = _PeakRSS()
    rss.start()
    args = ("--once", "--poll-interval", "0.1", "--lease", str(LEASE))

    def start() -> subprocess.Popen[str]:
        worker = spawn_worker(postgres_url, tmp_path / f"machine-{next(machines)}", *args)
        rss.pids.add(worker.pid)
        return worker

    with Emulator(settings) as emulator:
        job_id = detach_job(emulator, postgres_url, REQUESTS, REQUESTS // CHUNKS)
        started = time.monotonic()
        workers = [start() for _ in range(3)]
        finished: list[subprocess.Popen[str]] = []
        for _ in range(KILLS):
            # A random moment of a worker's run: submitting, polling, reading results.
            while _job_state(postgres_url, job_id) == "pending":
                time.sleep(0.05)
            time.sleep(rng.uniform(0.1, 1.5))
            if _job_state(postgres_url, job_id) != "running":
                break
            holder = _holder_pid(postgres_url, job_id)
            live = [w for w in workers if w.poll() is None]
            by_pid = {w.pid: w for w in live}
            victim = by_pid[holder] if holder in by_pid and rng.random() < 0.7 else rng.choice(live)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            figures["kills"] += 1
            figures["lease holder kills"] += victim.pid == holder
            workers.remove(victim)
            workers.append(start())
        for worker in workers:
            _, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err[-3000:]
            finished.append(worker)
        figures["seconds"] = round(time.monotonic() - started, 1)
        submissions = emulator.submissions
        figures["create calls"] = emulator.create_calls
        figures["create answers"] = sorted(
            call.status for call in emulator.calls if call.operation == "create"
        )
    rss.done.set()
    store = open_store(postgres_url)
    try:
        queued = store.queued_job(job_id)
        assert queued is not None
        kept = {key: json.loads(text) for key, text in store.iter_saved_results(job_id)}
        job = store.get_job(job_id)
        assert job is not None
        figures["chunks"] = len(job.chunks)
    finally:
        store.close()
    keys = {f"k{i}" for i in range(REQUESTS)}
    figures["job claims"] = queued.claims
    figures["duplicates"] = sum(1 for key in keys if submissions[key] > 1)
    figures["never sent"] = sum(1 for key in keys if submissions[key] == 0)
    figures["lost keys"] = len(keys - set(kept))
    figures["wrong answers"] = sum(
        1
        for key, output in kept.items()
        if output["error"] is not None or output["outputs"][0]["text"] != f"echo: Question {key}?"
    )
    figures["peak RSS MiB per worker"] = sorted(round(k / 1024) for k in rss.peak_kib.values())
    print("\nworker kill loop:", json.dumps(figures))
    LEDGER.faults_injected += figures["kills"]
    LEDGER.keys_checked += REQUESTS
    LEDGER.duplicates_found += figures["duplicates"]
    assert queued.state == "done", queued
    assert set(kept) == keys
    assert (figures["duplicates"], figures["never sent"], figures["wrong answers"]) == (0, 0, 0)
    assert figures["kills"] >= 2, figures  # the loop only proves something if kills landed
