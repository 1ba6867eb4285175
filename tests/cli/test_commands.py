"""The batch commands against the in-memory fake provider."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from lmbatch import ProviderServerError
from lmbatch.cli._app import app
from lmbatch.testing import FakeBatchOperations, default_backend
from tests.cli.conftest import Invoke


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_submit_prints_the_id_and_every_command_takes_it(lmbatch: Invoke, prompts: Path) -> None:
    submitted = lmbatch("submit", str(prompts), "-p", "fake")
    assert submitted.exit_code == 0, submitted.stderr
    batch_id = submitted.stdout.strip()
    assert batch_id.startswith("fakebatch_")
    assert f"submitted 3 requests from {prompts}" in submitted.stderr

    # The store remembers the provider: no --provider needed from here on.
    status = lmbatch("status", batch_id, "--json")
    assert status.json()["status"] == "in_progress"
    assert status.json()["request_counts"]["total"] == 3

    status = lmbatch("status", batch_id)
    assert status.stdout.startswith("finished")
    assert "3/3 done (3 ok)" in status.stdout

    info = lmbatch("info", batch_id, "--json").json()
    assert info["id"] == batch_id
    assert info["provider"] == "fake"
    assert info["raw"]["state"] == "ended"
    assert "fake-model" in lmbatch("info", batch_id).stdout

    results = lmbatch("results", batch_id)
    assert results.exit_code == 0
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert {line["key"] for line in lines} == {"a", "b", "c"}
    assert "3 results: 3 ok" in results.stderr


def test_submit_json(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "-m", "other-model", "--json")
    (batch_id,) = default_backend.batches
    assert outcome.json() == {
        "id": batch_id,
        "provider": "fake",
        "model": "other-model",
        "requests": 3,
        "reattached": False,
    }


def test_submitting_the_same_file_again_reattaches_instead_of_paying_twice(
    lmbatch: Invoke, prompts: Path
) -> None:
    # Each re-attach checks the earlier batch, which moves the fake vendor on a step.
    slow = ("-O", "polls_until_done=10")
    first = lmbatch("submit", str(prompts), "-p", "fake", *slow)
    again = lmbatch("submit", str(prompts), "-p", "fake", *slow)
    assert again.exit_code == 0, again.stderr
    assert again.stdout == first.stdout
    batch_id = first.stdout.strip()
    assert f"re-attached to the earlier job for these requests: batch {batch_id}" in again.stderr
    assert "--fresh" in again.stderr
    assert default_backend.calls["submit"] == 1
    as_json = lmbatch("submit", str(prompts), "-p", "fake", *slow, "--json").json()
    assert as_json["id"] == batch_id
    assert as_json["reattached"] is True
    # Other settings are other requests; --fresh pays again on purpose.
    other = lmbatch("submit", str(prompts), "-p", "fake", "-P", "temperature=0")
    assert other.stdout != first.stdout
    fresh = lmbatch("submit", str(prompts), "-p", "fake", "--fresh", "--json").json()
    assert fresh["id"] not in (batch_id, other.stdout.strip())
    assert fresh["reattached"] is False
    assert default_backend.calls["submit"] == 3


def test_submitting_again_after_the_batch_ended_submits_anew(
    lmbatch: Invoke, prompts: Path
) -> None:
    first = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    assert lmbatch("wait", first, "--poll-interval", "0").exit_code == 0
    again = lmbatch("submit", str(prompts), "-p", "fake", "--json").json()
    assert again["id"] != first
    assert again["reattached"] is False


def test_results_to_a_file(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    lmbatch("status", batch_id)
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("results", batch_id, "-o", str(out), "--json")
    assert outcome.json()["outcomes"] == {"ok": 3}
    records = {record["key"]: record for record in read_lines(out)}
    assert records["a"] == {
        "key": "a",
        "ok": True,
        "finish_reason": "stop",
        "model": "fake-model",
        "text": "echo: hello",
        "error": None,
        "usage": {
            "input_tokens": 1,
            "output_tokens": 2,
            "cached_input_tokens": 0,
            "reasoning_tokens": 0,
        },
        "cost": None,  # the fake's model has no price
    }
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_results_before_the_batch_ends(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    default_backend.script_next_batch(polls_until_done=5)
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("results", batch_id, "-o", str(out))
    assert outcome.exit_code == 1
    assert outcome.error_lines == [
        f"error: batch {batch_id} is in_progress (in_progress); results are available once it ends",
        f"note: wait for it and write its results with: lmbatch wait {batch_id} -o {out}",
    ]
    assert not out.exists()


def test_run_writes_results_in_file_order(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    keys = ["z", "m", "a", "q"]
    inputs = ["one", "two [[lmbatch:error=429]]", "three [[lmbatch:expire]]", "four"]
    path.write_text(
        "".join(
            json.dumps({"key": k, "input": i}) + "\n" for k, i in zip(keys, inputs, strict=True)
        )
    )
    out = tmp_path / "out.jsonl"
    outcome = lmbatch(
        "run", str(path), "-p", "fake", "-o", str(out), "--poll-interval", "0", "--resubmit", "0"
    )
    assert outcome.exit_code == 3, outcome.stderr  # some keys failed; all were written
    records = read_lines(out)
    assert [r["key"] for r in records] == keys
    assert [r["ok"] for r in records] == [True, False, False, True]
    assert records[1]["error"]["kind"] == "errored"  # type: ignore[index]
    assert records[1]["error"]["status_code"] == 429  # type: ignore[index]
    assert records[2]["error"]["kind"] == "expired"  # type: ignore[index]
    assert "wrote 4 results: 2 ok, 1 errored, 1 expired" in outcome.stderr
    assert default_backend.calls["submit"] == 1


def test_run_json_summary(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    outcome = lmbatch(
        "run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0", "--json"
    )
    (batch_id,) = default_backend.batches
    assert outcome.json() == {
        "id": batch_id,
        "status": "finished",
        "output": str(out),
        "total": 3,
        "outcomes": {"ok": 3},
        "rounds": [],
    }


def test_run_without_output_prints_jsonl(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("run", str(prompts), "-p", "fake", "--poll-interval", "0")
    assert [json.loads(line)["key"] for line in outcome.stdout.splitlines()] == ["a", "b", "c"]


def test_run_splits_into_a_job(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    outcome = lmbatch(
        "run", str(prompts), "-p", "fake", "-O", "max_requests_per_batch=2",
        "-o", str(out), "--poll-interval", "0",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    assert "job lmbjob_" in outcome.stderr
    assert len(read_lines(out)) == 3
    job_id = outcome.stderr.split("job ")[1].split()[0]
    info = lmbatch("info", job_id, "--json").json()
    assert len(info["batches"]) == 2
    assert "batches of this job" in lmbatch("info", job_id).stdout


def test_csv_input(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('key,prompt,notes\nq1,"Hello, world",ignored\nq2,Bye,\n')
    outcome = lmbatch("run", str(path), "-p", "fake", "--poll-interval", "0")
    texts = {
        json.loads(line)["key"]: json.loads(line)["text"] for line in outcome.stdout.splitlines()
    }
    assert texts == {"q1": "echo: Hello, world", "q2": "echo: Bye"}


def test_stdin_input(lmbatch: Invoke) -> None:
    outcome = lmbatch(
        "run", "-", "-p", "fake", "--poll-interval", "0", input='{"key": "s", "input": "hi"}\n'
    )
    assert json.loads(outcome.stdout)["text"] == "echo: hi"


def test_schema_from_a_pydantic_model(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    (tmp_path / "answer_models.py").write_text(
        "from pydantic import BaseModel\n\n\n"
        "class Answer(BaseModel):\n    city: str\n    population: int\n"
    )
    outcome = lmbatch(
        "run", str(prompts), "-p", "fake", "--schema", "answer_models:Answer",
        "--poll-interval", "0",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    record = json.loads(outcome.stdout.splitlines()[0])
    assert set(record["structured"]) == {"city", "population"}


def test_schema_from_a_json_file(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
        )
    )
    outcome = lmbatch(
        "run", str(prompts), "-p", "fake", "--schema", str(schema), "--poll-interval", "0"
    )
    assert isinstance(json.loads(outcome.stdout.splitlines()[0])["structured"]["ok"], bool)


def test_params_are_json_decoded(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch(
        "submit", str(prompts), "-p", "fake", "-P", "max_tokens=50", "-P", 'stop=["END"]'
    )
    assert outcome.exit_code == 0, outcome.stderr


def test_list(lmbatch: Invoke, prompts: Path) -> None:
    assert "no batches on fake" in lmbatch("list", "-p", "fake").stderr
    for _ in range(3):
        lmbatch("submit", str(prompts), "-p", "fake")
    listed = lmbatch("list", "-p", "fake", "--json").json()
    created = list(default_backend.batches)  # in creation order
    assert [batch["id"] for batch in listed] == created[::-1]
    assert "raw" not in listed[0]
    assert len(lmbatch("list", "-p", "fake", "-n", "2", "--json").json()) == 2
    assert created[1] in lmbatch("list", "-p", "fake").stdout


def test_cancel(lmbatch: Invoke, prompts: Path) -> None:
    default_backend.script_next_batch(polls_until_done=10, finished_before_expiry=1)
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    outcome = lmbatch("cancel", batch_id, "--json")
    assert outcome.json() == {"id": batch_id, "cancel_requested": True}
    assert lmbatch("status", batch_id, "--json").json()["status"] == "canceling"
    results = [json.loads(line) for line in lmbatch("results", batch_id).stdout.splitlines()]
    assert [r["ok"] for r in results] == [True, False, False]
    assert results[1]["error"]["kind"] == "cancelled"


def test_wait_then_write(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    default_backend.script_next_batch(polls_until_done=3)
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("wait", batch_id, "-o", str(out), "--poll-interval", "0")
    assert outcome.exit_code == 0, outcome.stderr
    assert len(read_lines(out)) == 3
    waited = lmbatch("wait", batch_id, "--poll-interval", "0", "--json")
    assert waited.json() == {"id": batch_id, "status": "finished"}


def test_wait_timeout_leaves_the_batch(lmbatch: Invoke, prompts: Path) -> None:
    default_backend.script_next_batch(polls_until_done=1000)
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    outcome = lmbatch("wait", batch_id, "--poll-interval", "0.01", "--timeout", "0.05")
    assert outcome.exit_code == 1
    assert "did not finish" in outcome.error_lines[0]


def test_providers(lmbatch: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMBATCH_PROVIDER", "fake")
    data = lmbatch("providers", "--json").json()
    assert data["selected"] == "fake"
    assert data["selected_by"] == "$LMBATCH_PROVIDER"
    fake = next(entry for entry in data["providers"] if entry["name"] == "fake")
    assert fake["status"] == "ok"
    assert fake["selected"] is True
    assert fake["version"]
    assert fake["limits"]["max_requests_per_batch"] > 0
    table = lmbatch("providers")
    assert "fake" in table.stdout
    assert "selected" in table.stdout
    assert "selected provider: fake ($LMBATCH_PROVIDER)" in table.stderr


def test_providers_from_config_file(lmbatch: Invoke, tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text('provider = "fake"\n')
    data = lmbatch("providers", "--json").json()
    assert data["selected"] == "fake"
    assert data["selected_by"].endswith("lmbatch.toml")


def test_config_file_selects_the_provider(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    (tmp_path / "lmbatch.toml").write_text(
        'provider = "fake"\n\n[providers.fake]\nmodel = "configured"\n'
    )
    outcome = lmbatch("submit", str(prompts), "--json")
    assert outcome.json()["model"] == "configured"


def test_broken_provider_is_listed_with_its_reason(
    lmbatch: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch._plugins import ProviderEntry, registry

    broken = ProviderEntry(
        name="kaput", plugin="kaput", distribution="lmbatch-kaput", version="0.0.1",
        status="broken", reason="ImportError: no module named kaput_sdk",
    )  # fmt: skip
    entries = registry.entries()
    monkeypatch.setattr(registry, "entries", lambda: [*entries, broken])
    data = lmbatch("providers", "--json").json()
    kaput = next(entry for entry in data["providers"] if entry["name"] == "kaput")
    assert kaput["status"] == "broken"
    assert kaput["reason"] == "ImportError: no module named kaput_sdk"
    assert kaput["limits"] is None
    assert "broken: ImportError" in lmbatch("providers").stdout


@pytest.mark.parametrize(
    "command",
    sorted(command.name for command in app.registered_commands if command.name is not None),
)
def test_every_command_has_help_with_examples(lmbatch: Invoke, command: str) -> None:
    outcome = lmbatch(command, "--help")
    assert outcome.exit_code == 0
    assert "Examples:" in outcome.stdout
    assert f"lmbatch {command}" in outcome.stdout


def test_top_level_help(lmbatch: Invoke) -> None:
    outcome = lmbatch("--help")
    assert "lmbatch demo" in outcome.stdout
    for command in ("run", "submit", "status", "results", "providers"):
        assert command in outcome.stdout


def test_run_again_picks_up_the_earlier_job(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    first = lmbatch(
        "run", str(prompts), "-p", "fake", "-o", str(tmp_path / "1.jsonl"), "--poll-interval", "0"
    )
    assert first.exit_code == 0, first.stderr
    again = lmbatch(
        "run", str(prompts), "-p", "fake", "-o", str(tmp_path / "2.jsonl"), "--poll-interval", "0"
    )
    assert again.exit_code == 0, again.stderr
    assert "picked up the earlier job" in again.stderr
    assert default_backend.calls["submit"] == 1
    assert (tmp_path / "1.jsonl").read_text() == (tmp_path / "2.jsonl").read_text()
    fresh = lmbatch(
        "run",
        str(prompts),
        "-p",
        "fake",
        "-o",
        str(tmp_path / "3.jsonl"),
        "--poll-interval",
        "0",
        "--fresh",
    )
    assert fresh.exit_code == 0, fresh.stderr
    assert default_backend.calls["submit"] == 2


def test_run_resubmits_expired_requests(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    default_backend.script_next_batch(expire=True, finished_before_expiry=1)
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    assert outcome.exit_code == 0, outcome.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(line["ok"] for line in lines)
    assert default_backend.calls["submit"] == 2


def test_run_with_rounds_and_batches_writes_final_outcomes_in_file_order(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    # Results are parked as they stream in (vendor order, round after round) and
    # written in the file's order at the end, each key once with its last round's outcome.
    keys = ["k6", "k0", "k5", "k1", "k4", "k2", "k3"]
    path = tmp_path / "shuffled.jsonl"
    path.write_text("".join(json.dumps({"key": k, "input": f"say {k}"}) + "\n" for k in keys))
    default_backend.script_next_batch(expire=True, finished_before_expiry=1)
    out = tmp_path / "out.jsonl"
    outcome = lmbatch(
        "run", str(path), "-p", "fake", "-O", "max_requests_per_batch=3",
        "-o", str(out), "--poll-interval", "0",
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    records = read_lines(out)
    assert [r["key"] for r in records] == keys
    assert [r["text"] for r in records] == [f"echo: say {k}" for k in keys]
    assert "wrote 7 results: 7 ok" in outcome.stderr
    assert default_backend.calls["submit"] == 4  # 3 batches, then one round for 2 keys
    spool = tmp_path / "store" / "jobs.sqlite3.spool"
    assert spool.is_dir()
    assert not list(spool.glob("results-*"))  # the parked lines are gone


def test_run_that_fails_while_reading_results_writes_nothing_and_keeps_nothing(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    # Every reading fails: the first download and each of its retries.
    for _ in range(1 + len(FakeBatchOperations.result_download_delays)):
        default_backend.fail_next(
            "results", ProviderServerError("download failed", provider="fake", status_code=500)
        )
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    assert outcome.exit_code == 1
    assert "download failed" in outcome.stderr
    assert not out.exists()
    assert not list(tmp_path.glob("out.jsonl*"))
    spool = tmp_path / "store" / "jobs.sqlite3.spool"
    assert spool.is_dir()
    assert not list(spool.glob("results-*"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_results_files_and_the_store_are_private(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    old_umask = os.umask(0o022)
    try:
        out = tmp_path / "out.jsonl"
        out.write_text("an older results file\n")
        out.chmod(0o644)
        outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
        assert outcome.exit_code == 0, outcome.stderr
        (batch_id,) = default_backend.batches
        again = tmp_path / "again.jsonl"
        assert lmbatch("results", batch_id, "-o", str(again)).exit_code == 0
    finally:
        os.umask(old_umask)
    assert len(read_lines(out)) == 3
    written = [out, again, *(tmp_path / "store").rglob("*")]
    assert [
        f"{p} {stat.S_IMODE(p.stat().st_mode):o}" for p in written if p.stat().st_mode & 0o077
    ] == []


# -- issue 15 item 15: CLI polish ------------------------------------------------------------


def test_results_of_a_running_batch_say_how_to_wait(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    default_backend.script_next_batch(polls_until_done=10)
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("results", batch_id, "-o", str(out))
    assert outcome.exit_code == 1
    assert outcome.error_lines[0].startswith(f"error: batch {batch_id} is in_progress")
    assert f"lmbatch wait {batch_id} -o {out}" in outcome.error_lines[1]
    as_json = lmbatch("results", batch_id, "--json").json()["error"]
    assert as_json["type"] == "BatchNotFinishedError"
    assert any(f"lmbatch wait {batch_id}" in note for note in as_json["notes"])


def test_the_fake_provider_is_listed_only_with_all(lmbatch: Invoke) -> None:
    names = {entry["name"] for entry in lmbatch("providers", "--json").json()["providers"]}
    assert "fake" not in names
    assert "fake" not in lmbatch("providers").stdout
    everything = lmbatch("providers", "--all", "--json").json()["providers"]
    assert "fake" in {entry["name"] for entry in everything}
    assert "fake" in lmbatch("providers", "--all").stdout


BOX_DRAWING = set("│┃┏┓┗┛━─┡┩┼╇")


def test_tables_are_plain_lines_when_piped(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "40")  # narrower than one row
    for _ in range(2):
        lmbatch("submit", str(prompts), "-p", "fake", "--fresh")
    listed = lmbatch("list", "-p", "fake").stdout
    assert not BOX_DRAWING & set(listed)
    lines = listed.splitlines()
    assert lines[0].split() == ["id", "job", "status", "requests", "model", "created"]
    for batch_id in default_backend.batches:
        (row,) = [line for line in lines if batch_id in line]
        assert row.split()[0] == batch_id  # whole, on one line, first
    batch_id = next(iter(default_backend.batches))
    info = lmbatch("info", batch_id).stdout
    assert not BOX_DRAWING & set(info)
    assert any(line.split() == ["id", batch_id] for line in info.splitlines())
    providers = lmbatch("providers", "--all").stdout
    assert not BOX_DRAWING & set(providers)
    assert any(line.split()[:1] == ["fake"] for line in providers.splitlines())


def test_run_to_an_output_folder_that_does_not_exist_is_refused_before_submitting(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "nonexistent" / "dir" / "out.jsonl"
    outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    assert outcome.exit_code == 2
    assert "--output" in outcome.stderr
    assert "nonexistent" in outcome.stderr
    assert default_backend.calls["submit"] == 0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="POSIX modes, not root")
def test_run_to_a_read_only_folder_is_refused_before_submitting(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        out = folder / "out.jsonl"
        outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    finally:
        folder.chmod(0o700)
    assert outcome.exit_code == 2
    assert "not writable" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_run_whose_output_cannot_be_written_at_the_end_says_how_to_get_the_results(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch.cli import _results_file

    def full_disk(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    # Checks pass (the folder is fine); the final write fails (a full disk).
    monkeypatch.setattr(_results_file, "open_private", full_disk)
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("run", str(prompts), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    assert outcome.exit_code == 1
    assert "No space left on device" in outcome.stderr
    (batch_id,) = default_backend.batches
    assert f"lmbatch results {batch_id} -o {out}" in " ".join(outcome.stderr.split())
    monkeypatch.undo()
    again = lmbatch("results", batch_id, "-p", "fake", "-o", str(out))
    assert again.exit_code == 0, again.stderr
    assert len(read_lines(out)) == 3
    assert default_backend.calls["submit"] == 1


def test_wait_and_resume_refuse_an_output_in_a_missing_folder_before_waiting(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    out = str(tmp_path / "missing" / "out.jsonl")
    for command in ("wait", "results", "resume"):
        outcome = lmbatch(command, batch_id, "-o", out)
        assert outcome.exit_code == 2, (command, outcome.stderr)
        assert "does not exist" in outcome.stderr
    assert default_backend.calls["fetch"] == 0


def test_run_announces_each_round_and_exits_3_when_keys_failed(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.jsonl"
    inputs = {"ok": "fine", "bad": "nope [[lmbatch:error=400]]", "late": "x [[lmbatch:expire]]"}
    path.write_text("".join(json.dumps({"key": k, "input": v}) + "\n" for k, v in inputs.items()))
    out = tmp_path / "out.jsonl"
    args = ("run", str(path), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    outcome = lmbatch(*args, "--resubmit", "1", "--json")
    assert outcome.exit_code == 3, outcome.stderr
    (resubmitted,) = outcome.json()["rounds"]
    assert resubmitted["round"] == 2
    assert resubmitted["requests"] == 1
    assert resubmitted["reasons"] == {"expired": 1}
    assert f"round 2: resubmitting 1 request (1 expired) as job {resubmitted['job_id']}" in (
        " ".join(outcome.stderr.split())
    )
    assert len(read_lines(out)) == 3  # every result written all the same
    allowed = lmbatch(*args, "--resubmit", "1", "--allow-failures")
    assert allowed.exit_code == 0, allowed.stderr
    assert "round 2" in allowed.stderr  # the earlier job, picked up: its round is told too


def test_run_finish_reason_policies(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    inputs = {"whole": "fine", "cut": "long answer [[lmbatch:finish=length]]"}
    path.write_text("".join(json.dumps({"key": k, "input": v}) + "\n" for k, v in inputs.items()))
    out = tmp_path / "out.jsonl"
    args = ("run", str(path), "-p", "fake", "-o", str(out), "--poll-interval", "0")
    plain = lmbatch(*args)
    assert plain.exit_code == 0, plain.stderr
    records = {r["key"]: r for r in read_lines(out)}
    assert records["cut"]["ok"] is True
    assert records["cut"]["finish_reason"] == "length"
    strict = lmbatch(*args, "--fresh", "--retry-on", "length", "--treat-as-error", "length")
    assert strict.exit_code == 3, strict.stderr
    assert "(1 finish_reason length)" in strict.stderr
    records = {r["key"]: r for r in read_lines(out)}
    assert records["cut"]["ok"] is False
    assert records["cut"]["error"]["code"] == "finish_reason_length"  # type: ignore[index]
    assert records["whole"]["ok"] is True
    wrong = lmbatch(*args, "--retry-on", "lenght")
    assert wrong.exit_code == 2
    assert "unknown finish reason" in wrong.stderr


def test_jobs_lists_the_local_jobs_with_labels_filters_and_json(
    lmbatch: Invoke, prompts: Path, tmp_path: Path
) -> None:
    assert lmbatch("jobs").exit_code == 0  # no store yet: no jobs, no error
    first = lmbatch("submit", str(prompts), "-p", "fake", "--label", "nightly-1").stdout.strip()
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"key": "x", "input": "hi"}) + "\n")
    out = tmp_path / "out.jsonl"
    ran = lmbatch(
        "run", str(other), "-p", "fake", "-o", str(out), "--poll-interval", "0",
        "--label", "adhoc",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    listed = lmbatch("jobs", "--json")
    assert listed.exit_code == 0, listed.stderr
    jobs = listed.json()
    assert [job["label"] for job in jobs] == ["adhoc", "nightly-1"]  # newest first
    adhoc, nightly = jobs
    assert nightly["batches"] == [first]
    assert nightly["source"] == str(prompts.resolve())
    assert nightly["status"] == "submitted"
    assert nightly["provider"] == "fake"
    assert nightly["model"] == "fake-model"
    assert nightly["requests"] == 3
    assert adhoc["status"] == "results read"
    assert adhoc["source"] == str(other.resolve())
    filtered = lmbatch("jobs", "--label", "nightly-*", "--json").json()
    assert [job["id"] for job in filtered] == [nightly["id"]]
    refreshed = lmbatch("jobs", "--label", "nightly-*", "--refresh", "--json").json()
    assert refreshed[0]["status"] in ("in_progress", "finished")
    assert refreshed[0]["counts"]["total"] == 3
    table = lmbatch("jobs")
    assert nightly["id"] in table.stdout
    assert "nightly-1" in table.stdout


def test_list_shows_the_job_id_of_each_batch(lmbatch: Invoke, prompts: Path) -> None:
    batch_id = lmbatch("submit", str(prompts), "-p", "fake").stdout.strip()
    job = lmbatch("jobs", "--json").json()[0]["id"]
    listed = lmbatch("list", "-p", "fake")
    line = next(line for line in listed.stdout.splitlines() if batch_id in line)
    assert job in line


def test_demo_without_the_emulator_says_what_to_install(
    lmbatch: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "lmbatch.testing.emulator", None)  # not installed
    outcome = lmbatch("demo")
    assert outcome.exit_code == 2
    assert "pip install lmbatch-openai 'lmbatch[emulator]'" in outcome.stderr
