"""``lmbatch run`` over tables: templates per row, columns carried through, any format out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lmbatch._keys import strip_job_tag
from lmbatch.testing import default_backend
from tests.cli.conftest import Invoke

pa = pytest.importorskip("pyarrow")
parquet = pytest.importorskip("pyarrow.parquet")

ROWS = [
    {"id": 3, "review": "Loved it", "stars": 5.0},
    {"id": 1, "review": "Broke, on day one", "stars": 1.0},
    {"id": 2, "review": "Fine", "stars": None},
]
RUN = ("-p", "fake", "--poll-interval", "0", "--no-progress")


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.parquet"
    table = pa.Table.from_pylist(ROWS).cast(
        pa.schema([("id", pa.int16()), ("review", pa.string()), ("stars", pa.float32())])
    )
    parquet.write_table(table, path)
    return path


def test_parquet_in_parquet_out_keeps_types_order_and_columns(
    lmbatch: Invoke, reviews: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    outcome = lmbatch("run", str(reviews), "--prompt", "Classify: {review}", "-o", str(out), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    table = parquet.read_table(out)
    assert table.schema.field("id").type == pa.int16()
    assert table.schema.field("stars").type == pa.float32()
    assert table.schema.field("ok").type == pa.bool_()
    assert table.column_names[:3] == ["id", "review", "stars"]
    assert table.column("id").to_pylist() == [3, 1, 2]
    assert table.column("text").to_pylist()[1] == "echo: Classify: Broke, on day one"
    assert "3 results: 3 ok" in outcome.stderr
    assert not list(tmp_path.glob("*.partial"))


def test_the_output_format_follows_the_output_suffix(
    lmbatch: Invoke, reviews: Path, tmp_path: Path
) -> None:
    out_csv = tmp_path / "out.csv"
    assert (
        lmbatch("run", str(reviews), "--prompt", "{review}", "-o", str(out_csv), *RUN).exit_code
        == 0
    )
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "id", "review", "stars", "text", "ok", "error", "finish_reason", "model",
        "input_tokens", "output_tokens", "cost",
    ]  # fmt: skip
    assert [row["id"] for row in rows] == ["3", "1", "2"]
    assert rows[1]["text"] == "echo: Broke, on day one"
    assert rows[0]["ok"] == "true"
    assert rows[2]["stars"] == ""
    out_jsonl = tmp_path / "out.jsonl"
    assert (
        lmbatch("run", str(reviews), "--prompt", "{review}", "-o", str(out_jsonl), *RUN).exit_code
        == 0
    )
    lines = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    assert [line["id"] for line in lines] == [3, 1, 2]
    assert lines[2]["stars"] is None
    # No -o: JSONL rows on stdout.
    printed = lmbatch("run", str(reviews), "--prompt", "{review}", *RUN).stdout.splitlines()
    assert [json.loads(line)["text"] for line in printed] == [
        f"echo: {row['review']}" for row in ROWS
    ]


def test_csv_and_jsonl_tables_carry_every_column_through(lmbatch: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "people.csv"
    source.write_text('name,city,note\nAda,London,"likes, commas"\nLin,Oslo,\n')
    out = tmp_path / "people.out.csv"
    outcome = lmbatch(
        "run", str(source), "--prompt", "Where is {city}?", "--system", "You know {name}",
        "-o", str(out), *RUN,
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["name"], r["city"], r["note"]) for r in rows] == [
        ("Ada", "London", "likes, commas"),
        ("Lin", "Oslo", ""),
    ]
    assert rows[0]["text"] == "echo: Where is London?"
    source_jsonl = tmp_path / "people.jsonl"
    source_jsonl.write_text('{"name": "Ada", "tags": ["a", "b"]}\n{"name": "Lin", "tags": []}\n')
    out_parquet = tmp_path / "people.parquet"
    outcome = lmbatch(
        "run", str(source_jsonl), "--prompt", "Hi {name}", "-o", str(out_parquet), *RUN
    )
    assert outcome.exit_code == 0, outcome.stderr
    table = parquet.read_table(out_parquet)
    assert table.column("tags").to_pylist() == [["a", "b"], []]
    assert table.column("text").to_pylist() == ["echo: Hi Ada", "echo: Hi Lin"]


def test_a_template_naming_a_missing_column_is_refused_before_sending(
    lmbatch: Invoke, reviews: Path, tmp_path: Path
) -> None:
    outcome = lmbatch("run", str(reviews), "--prompt", "Classify: {revew}", *RUN)
    assert outcome.exit_code == 2
    assert "column 'revew', which row 0 of" in outcome.stderr
    assert "(its columns: id, review, stars)" in outcome.stderr
    ragged = tmp_path / "ragged.jsonl"
    ragged.write_text('{"review": "a"}\n{"review": "b"}\n{"other": "c"}\n')
    outcome = lmbatch("run", str(ragged), "--prompt", "{review}", *RUN)
    assert outcome.exit_code == 2
    assert "column 'review', which row 2 of" in outcome.stderr
    assert default_backend.calls["submit"] == 0


def test_key_column_names_requests_and_duplicates_are_refused(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    source = tmp_path / "t.csv"
    source.write_text("doc,q\nd1,x\nd2,y\nd1,z\n")
    outcome = lmbatch("run", str(source), "--prompt", "{q}", "--key-column", "doc", *RUN)
    assert outcome.exit_code == 2
    assert "rows 0 and 2 of" in outcome.stderr
    assert "same key 'd1'" in outcome.stderr
    assert default_backend.calls["submit"] == 0
    outcome = lmbatch("run", str(source), "--prompt", "{q}", "--key-column", "nope", *RUN)
    assert outcome.exit_code == 2
    assert "key column 'nope' is not a column" in outcome.stderr
    source.write_text("doc,q\nd1,x\nd2,y\n")
    assert (
        lmbatch("run", str(source), "--prompt", "{q}", "--key-column", "doc", *RUN).exit_code == 0
    )
    (batch,) = default_backend.batches.values()
    assert [strip_job_tag(record["custom_id"]) for record in batch.records] == ["d1", "d2"]


def test_a_csv_request_file_written_as_csv_keeps_its_columns(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    # key/prompt/system columns, as a request file has; -o .csv gives the table back.
    source = tmp_path / "questions.csv"
    source.write_text("key,prompt,system,topic\nq1,Hello,Be brief,greeting\nq2,Bye,,farewell\n")
    out = tmp_path / "answers.csv"
    outcome = lmbatch("run", str(source), "-o", str(out), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["key"], r["topic"], r["text"]) for r in rows] == [
        ("q1", "greeting", "echo: Hello"),
        ("q2", "farewell", "echo: Bye"),
    ]
    (batch,) = default_backend.batches.values()
    assert [strip_job_tag(r["custom_id"]) for r in batch.records] == ["q1", "q2"]
    assert batch.records[0]["messages"][0]["role"] == "system"
    assert batch.records[1]["messages"][0]["role"] == "user"  # empty system cell: none


def test_a_schema_file_becomes_typed_columns(
    lmbatch: Invoke, reviews: Path, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "enum": ["good", "bad"]},
                    "score": {"type": "number"},
                    "votes": {"type": "integer"},
                },
                "required": ["label", "score", "votes"],
                "additionalProperties": False,
            }
        )
    )
    out = tmp_path / "labels.parquet"
    outcome = lmbatch(
        "run", str(reviews), "--prompt", "{review}", "--schema", str(schema), "-o", str(out),
        "--json", *RUN,
    )  # fmt: skip
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["outcomes"] == {"ok": 3}
    table = parquet.read_table(out)
    assert table.schema.field("label").type == pa.string()
    assert table.schema.field("score").type == pa.float64()
    assert table.schema.field("votes").type == pa.int64()
    assert "text" not in table.column_names
    assert set(table.column("label").to_pylist()) <= {"good", "bad"}


def test_prompt_file_and_prompt_errors(lmbatch: Invoke, reviews: Path, tmp_path: Path) -> None:
    template = tmp_path / "prompt.txt"
    template.write_text("Rate this review: {review}")
    outcome = lmbatch("run", str(reviews), "--prompt-file", str(template), *RUN)
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout.splitlines()[0])["text"] == "echo: Rate this review: Loved it"
    both = lmbatch("run", str(reviews), "--prompt", "x", "--prompt-file", str(template), *RUN)
    assert both.exit_code == 2
    assert "not both" in both.stderr
    no_prompt = lmbatch("run", str(reviews), *RUN)
    assert no_prompt.exit_code == 2
    assert "no prompt column; pass --prompt" in no_prompt.stderr
    stdin = lmbatch("run", "-", "--prompt", "{x}", *RUN, input='{"x": 1}\n')
    assert stdin.exit_code == 2
    assert "give a file, not -" in stdin.stderr
    dry = lmbatch("run", str(reviews), "--prompt", "{review}", "--dry-run", *RUN)
    assert dry.exit_code == 2
    assert "--dry-run does not take a table" in dry.stderr
    submitted = default_backend.calls["submit"]
    unknown = lmbatch("run", str(reviews), "--prompt", "{review}", "-o", "out.xlsx", *RUN)
    assert unknown.exit_code == 2
    assert "--output out.xlsx: cannot tell the format" in unknown.stderr
    assert default_backend.calls["submit"] == submitted


@pytest.mark.slow
def test_kill_9_mid_table_run_then_run_again_re_attaches_and_pays_once(
    reviews: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys

    emulator_module = pytest.importorskip("lmbatch.testing.emulator")
    settings = emulator_module.EmulatorSettings(mode="manual")
    out = tmp_path / "out.parquet"
    command = [
        sys.executable, "-m", "lmbatch", "run", str(reviews), "--prompt", "Classify: {review}",
        "-o", str(out), "-p", "openai", "-m", "gpt-4.1-mini", "--poll-interval", "0.05",
        "--no-progress", "--store", str(tmp_path / "jobs.sqlite3"),
    ]  # fmt: skip
    with emulator_module.Emulator(settings) as emulator:
        command += ["-O", f"base_url={emulator.openai_base_url}", "-O", "api_key=local"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        try:
            assert process.stderr is not None
            first = process.stderr.readline()
            assert "submitted the rows of" in first
            process.send_signal(signal.SIGKILL)  # no clean-up of any kind
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        assert emulator.create_calls == 1
        assert not out.exists()
        emulator.finish()
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert again.returncode == 0, again.stderr
        assert "picked up the earlier job for these rows" in again.stderr
        assert emulator.create_calls == 1
        assert all(count == 1 for count in emulator.submissions.values())
    table = parquet.read_table(out)
    assert table.column("id").to_pylist() == [3, 1, 2]
    assert all(table.column("ok").to_pylist())
