"""Results files of request-file runs: extra fields carried, format by suffix, exit codes."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from lmbatch import JobStore, ProviderRequestError
from lmbatch.testing import default_backend

from .conftest import Invoke

RUN = ("-p", "fake", "--poll-interval", "0", "--no-progress")


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def extras_jsonl(tmp_path: Path) -> Path:
    """A JSONL request file with extra fields; one line says "prompt" instead of "input"."""
    path = tmp_path / "in.jsonl"
    lines = [
        {"key": "a", "input": "hello", "id": 7, "tags": ["x", "y"], "score": 1},
        {"key": "b", "prompt": "world", "system": "Be brief", "score": 2.5},
        {"key": "c", "input": "again", "id": 9, "note": "last"},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_jsonl_results_file_carries_the_extra_fields_after_the_key(
    lmbatch: Invoke, extras_jsonl: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    outcome = lmbatch("run", str(extras_jsonl), "-o", str(out), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    records = read_lines(out)
    assert [list(r)[:4] for r in records] == [
        ["key", "id", "tags", "score"],
        ["key", "score", "ok", "finish_reason"],
        ["key", "id", "note", "ok"],
    ]
    assert records[0]["tags"] == ["x", "y"]
    assert records[1]["text"] == "echo: world"  # "prompt" is read as the request
    assert records[2]["note"] == "last"
    (batch,) = default_backend.batches.values()
    sent = json.dumps(batch.records)
    assert "tags" not in sent
    assert "last" not in sent
    assert batch.records[1]["messages"][0]["role"] == "system"


def test_csv_and_parquet_results_by_suffix_carry_the_extra_fields(
    lmbatch: Invoke, extras_jsonl: Path, tmp_path: Path
) -> None:
    out_csv = tmp_path / "out.csv"
    outcome = lmbatch("run", str(extras_jsonl), "-o", str(out_csv), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    rows = read_csv(out_csv)
    assert list(rows[0])[:6] == ["key", "id", "tags", "score", "note", "ok"]
    assert [(r["key"], r["id"], r["note"], r["text"]) for r in rows] == [
        ("a", "7", "", "echo: hello"),
        ("b", "", "", "echo: world"),
        ("c", "9", "last", "echo: again"),
    ]
    assert json.loads(rows[0]["tags"]) == ["x", "y"]
    assert json.loads(rows[0]["usage"])["output_tokens"] == 2
    pa = pytest.importorskip("pyarrow")
    parquet = pytest.importorskip("pyarrow.parquet")
    out_parquet = tmp_path / "out.parquet"
    outcome = lmbatch("run", str(extras_jsonl), "-o", str(out_parquet), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    table = parquet.read_table(out_parquet)
    assert table.column_names[:5] == ["key", "id", "tags", "score", "note"]
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()  # 1 and 2.5
    assert table.schema.field("ok").type == pa.bool_()
    assert table.column("score").to_pylist() == [1.0, 2.5, None]
    assert table.column("text").to_pylist() == ["echo: hello", "echo: world", "echo: again"]
    assert default_backend.calls["submit"] == 1  # the same job, written three ways
    assert not list(tmp_path.glob("*.partial"))


def test_a_csv_request_file_takes_input_and_carries_its_columns_to_jsonl(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    source = tmp_path / "q.csv"
    source.write_text("key,input,topic\nq1,Hello,greeting\nq2,Bye,farewell\n")
    outcome = lmbatch("run", str(source), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    records = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert [(r["key"], r["topic"], r["text"]) for r in records] == [
        ("q1", "greeting", "echo: Hello"),
        ("q2", "farewell", "echo: Bye"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "where"),
    [
        (
            "twice.jsonl",
            '{"key": "a", "input": "x"}\n{"key": "b", "input": "x", "prompt": "y"}\n',
            "twice.jsonl:2:",
        ),
        ("twice.csv", "key,prompt,input\na,x,y\n", "twice.csv:1:"),
    ],
)
def test_input_and_prompt_together_are_refused_naming_the_line(
    lmbatch: Invoke, tmp_path: Path, name: str, content: str, where: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    outcome = lmbatch("run", str(path), *RUN)
    assert outcome.exit_code == 2
    assert where in outcome.stderr
    assert "both" in outcome.stderr
    assert "input" in outcome.stderr
    assert "prompt" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_a_misspelt_request_field_is_refused_not_carried(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "typo.jsonl"
    path.write_text('{"key": "a", "input": "hi", "sytem": "Be brief"}\n')
    outcome = lmbatch("run", str(path), *RUN)
    assert outcome.exit_code == 2
    assert "typo.jsonl:1:" in outcome.stderr
    assert "did you mean 'system'" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_an_extra_field_named_like_a_result_field_is_refused_before_sending(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "clash.jsonl"
    path.write_text('{"key": "a", "input": "hi", "model": "mine"}\n')
    outcome = lmbatch("run", str(path), *RUN)
    assert outcome.exit_code == 2
    assert "'model'" in outcome.stderr
    assert "rename" in outcome.stderr
    assert default_backend.calls["submit"] == 0
    # submit writes no results: nothing to clash with
    assert lmbatch("submit", str(path), "-p", "fake").exit_code == 0


def test_a_parquet_output_without_pyarrow_names_the_extra_before_sending(
    lmbatch: Invoke, extras_jsonl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "pyarrow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow fails
    outcome = lmbatch("run", str(extras_jsonl), "-o", str(tmp_path / "out.parquet"), *RUN)
    assert outcome.exit_code != 0
    assert "lmbatch[data]" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_results_and_wait_write_csv_by_the_suffix(
    lmbatch: Invoke, extras_jsonl: Path, tmp_path: Path
) -> None:
    batch_id = lmbatch("submit", str(extras_jsonl), "-p", "fake").stdout.strip()
    waited = tmp_path / "waited.csv"
    outcome = lmbatch("wait", batch_id, "-o", str(waited), "--poll-interval", "0", "--no-progress")
    assert outcome.exit_code == 0, outcome.stderr
    rows = read_csv(waited)
    assert sorted(r["key"] for r in rows) == ["a", "b", "c"]
    assert {r["ok"] for r in rows} == {"true"}
    # Extra fields come with `run` only (it reads the request file); later commands
    # write the result fields.
    assert "note" not in rows[0]
    out = tmp_path / "later.csv"
    outcome = lmbatch("results", batch_id, "-o", str(out))
    assert outcome.exit_code == 0, outcome.stderr
    assert read_csv(out) == rows


# -- exit status 3 for every command that writes a job's results ----------------------------


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    inputs = {"ok": "fine", "bad": "nope [[lmbatch:error=400]]"}
    path.write_text("".join(json.dumps({"key": k, "input": v}) + "\n" for k, v in inputs.items()))
    return path


def test_wait_and_results_exit_3_when_keys_failed_unless_allowed(
    lmbatch: Invoke, mixed: Path, tmp_path: Path
) -> None:
    batch_id = lmbatch("submit", str(mixed), "-p", "fake").stdout.strip()
    out = tmp_path / "out.jsonl"
    for command in (("wait", "--poll-interval", "0", "--no-progress"), ("results",)):
        outcome = lmbatch(command[0], batch_id, "-o", str(out), *command[1:])
        assert outcome.exit_code == 3, (command, outcome.stderr)
        assert len(read_lines(out)) == 2  # every result written all the same
        allowed = lmbatch(command[0], batch_id, "-o", str(out), *command[1:], "--allow-failures")
        assert allowed.exit_code == 0, (command, allowed.stderr)
    printed = lmbatch("results", batch_id)
    assert printed.exit_code == 3  # on stdout too
    assert len(printed.stdout.splitlines()) == 2


def test_a_table_run_exits_3_when_rows_failed_and_takes_the_run_options(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    source = tmp_path / "rows.csv"
    source.write_text("q\nfine\nlong [[lmbatch:finish=length]]\nnope [[lmbatch:error=400]]\n")
    out = tmp_path / "out.csv"
    args = ("run", str(source), "--prompt", "{q}", "-o", str(out), *RUN)
    outcome = lmbatch(
        *args, "--label", "table-night", "--retry-on", "length", "--resubmit", "1", "--json"
    )
    assert outcome.exit_code == 3, outcome.stderr
    assert len(read_csv(out)) == 3
    (resubmitted,) = outcome.json()["rounds"]
    assert resubmitted["reasons"] == {"finish_reason length": 1}
    assert "round 2: resubmitting 1 request" in " ".join(outcome.stderr.split())
    jobs = lmbatch("jobs", "--label", "table-night", "--json")
    assert jobs.exit_code == 0, jobs.stderr
    assert len(jobs.json()) >= 1
    allowed = lmbatch(*args, "--allow-failures")
    assert allowed.exit_code == 0, allowed.stderr
    strict = lmbatch(*args, "--fresh", "--treat-as-error", "length", "--allow-failures", "--json")
    assert strict.json()["outcomes"] == {"ok": 1, "errored": 2}


def test_resume_announces_rounds_and_exits_3_when_keys_failed(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "late.jsonl"
    inputs = {"ok": "fine", "late": "x [[lmbatch:expire]]", "bad": "y [[lmbatch:error=400]]"}
    path.write_text("".join(json.dumps({"key": k, "input": v}) + "\n" for k, v in inputs.items()))
    default_backend.fail_next(
        "submit", ProviderRequestError("quota", provider="fake", status_code=400)
    )
    assert lmbatch("submit", str(path), "-p", "fake").exit_code != 0
    store = JobStore(tmp_path / "store" / "jobs.sqlite3")
    try:
        (job_id,) = [job.job_id for job in store.list_jobs()]
    finally:
        store.close()
    out = tmp_path / "out.jsonl"
    resumed = lmbatch("resume", job_id, "-o", str(out), "--poll-interval", "0", "--json")
    assert resumed.exit_code == 3, resumed.stderr
    resubmitted = resumed.json()["rounds"][0]  # expired again each round
    assert resubmitted["reasons"] == {"expired": 1}
    assert f"round 2: resubmitting 1 request (1 expired) as job {resubmitted['job_id']}" in (
        " ".join(resumed.stderr.split())
    )
    assert len(read_lines(out)) == 3
    allowed = lmbatch("resume", job_id, "-o", str(out), "--poll-interval", "0", "--allow-failures")
    assert allowed.exit_code == 0, allowed.stderr


# -- what a results file carries from a real vendor's answers -------------------------------


@pytest.mark.timeout(120)
def test_results_files_carry_model_finish_reason_thinking_and_structured_output(
    lmbatch: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lmbatch_anthropic")
    from lmbatch.testing.emulator import Emulator

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}))
    source = tmp_path / "q.csv"
    source.write_text("key,prompt,expected\nq1,Capital of France?,Paris\n")
    with Emulator() as emulator:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", emulator.anthropic_base_url)
        args = (
            "run", str(source), *RUN[2:], "-p", "anthropic", "-m", "claude-sonnet-4-5",
            "--schema", str(schema), "-P", "max_tokens=2000",
            "-P", 'thinking={"type": "enabled", "budget_tokens": 1024}',
        )  # fmt: skip
        out = tmp_path / "out.jsonl"
        outcome = lmbatch(*args, "-o", str(out))
        assert outcome.exit_code == 0, outcome.stderr
        out_csv = tmp_path / "out.csv"
        assert lmbatch(*args, "-o", str(out_csv)).exit_code == 0
    (record,) = read_lines(out)
    assert record["expected"] == "Paris"
    assert record["finish_reason"] == "stop"  # the vendor's end_turn, in the common word
    assert record["model"].startswith("claude-sonnet-4-5")
    assert record["thinking"] == "Thinking about: Capital of France?"
    assert isinstance(record["structured"]["city"], str)
    (row,) = read_csv(out_csv)
    assert row["expected"] == "Paris"
    assert row["thinking"] == record["thinking"]
    assert json.loads(row["structured"]) == record["structured"]


def test_a_field_next_to_the_one_it_resembles_is_carried_not_refused(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "variants.csv"
    path.write_text("key,prompt,prompt2,key2\nq1,Hello,Hi,k\n")
    outcome = lmbatch("run", str(path), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    (record,) = [json.loads(line) for line in outcome.stdout.splitlines()]
    assert (record["prompt2"], record["key2"], record["text"]) == ("Hi", "k", "echo: Hello")
