"""Bad input gives one line naming the file and line (or the option), exits non-zero,
and nothing is uploaded."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lmbatch.testing import default_backend
from tests.cli.conftest import Invoke, Outcome


def assert_refused(outcome: Outcome, *fragments: str) -> None:
    assert outcome.exit_code != 0, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    line = outcome.error_lines[0]
    assert line.startswith("error: ")
    for fragment in fragments:
        assert fragment in line
    assert default_backend.calls["submit"] == 0, "nothing may be uploaded"


@pytest.mark.parametrize("command", ["submit", "run"])
def test_malformed_jsonl_line_names_file_and_line(
    lmbatch: Invoke, tmp_path: Path, command: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"key": "a", "input": "hi"}\n{"key": "b", "input": "oops"\n')
    assert_refused(lmbatch(command, str(path), "-p", "fake"), "bad.jsonl:2:", "not valid JSON")


def test_line_that_is_not_an_object(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('["a", "hi"]\n')
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "list.jsonl:1:", "a list")


def test_missing_key_field(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "nokey.jsonl"
    path.write_text('{"key": "a", "input": "hi"}\n\n{"input": "no key"}\n')
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "nokey.jsonl:3:", '"key"')


def test_unknown_field_is_refused(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "typo.jsonl"
    path.write_text('{"key": "a", "inptu": "hi"}\n')
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "typo.jsonl:1:", "'inptu'")


def test_invalid_request_names_line_and_key(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text('{"key": "a", "input": "hi"}\n{"key": "b", "input": "  "}\n')
    assert_refused(
        lmbatch("submit", str(path), "-p", "fake"), "empty.jsonl:2:", "'b'", "prompt is empty"
    )


def test_missing_key_column_in_csv(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("id,prompt\n1,hello\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "q.csv:1:", "missing column 'key'")


def test_missing_prompt_column_in_csv(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("key,text\n1,hello\n")
    assert_refused(lmbatch("run", str(path), "-p", "fake"), "q.csv:1:", "'prompt'")


def test_duplicate_keys_name_both_lines(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text("".join(json.dumps({"key": k, "input": "x"}) + "\n" for k in ["a", "b", "a"]))
    assert_refused(
        lmbatch("submit", str(path), "-p", "fake"), "dup.jsonl:3:", "duplicate key 'a'", "line 1"
    )


def test_duplicate_keys_in_csv(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("key,prompt\nx,one\ny,two\nx,three\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "dup.csv:4:", "duplicate key 'x'")


def test_missing_file(lmbatch: Invoke) -> None:
    assert_refused(
        lmbatch("submit", "nowhere.jsonl", "-p", "fake"), "nowhere.jsonl", "no such file"
    )


def test_unknown_suffix(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "prompts.txt"
    path.write_text("hello\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "prompts.txt", "--format")


def test_empty_file(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "nothing.jsonl"
    path.write_text("\n\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "nothing.jsonl", "no requests")


def test_unknown_provider(lmbatch: Invoke, prompts: Path) -> None:
    assert_refused(lmbatch("submit", str(prompts), "-p", "fkae"), "unknown provider 'fkae'", "fake")


def test_unknown_provider_option(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "-O", "colour=blue")
    assert_refused(outcome, "unknown option 'colour'")


def test_malformed_option_names_the_option(lmbatch: Invoke, prompts: Path) -> None:
    assert_refused(lmbatch("submit", str(prompts), "-p", "fake", "-O", "colour"), "--option")


def test_bad_hyperparameter_names_it(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "-P", "temperature=9")
    assert_refused(outcome, "temperature")


def test_malformed_param_names_the_option(lmbatch: Invoke, prompts: Path) -> None:
    assert_refused(lmbatch("submit", str(prompts), "-p", "fake", "-P", "=3"), "--param")


def test_schema_that_cannot_be_imported(lmbatch: Invoke, prompts: Path) -> None:
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "--schema", "no_such_mod:Model")
    assert_refused(outcome, "--schema", "no_such_mod")


def test_schema_file_with_bad_json(lmbatch: Invoke, prompts: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object",\n')
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "--schema", str(schema))
    assert_refused(outcome, "--schema", "not valid JSON")


def test_no_provider_selected(lmbatch: Invoke, prompts: Path) -> None:
    assert_refused(lmbatch("submit", str(prompts)), "no provider selected")


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
@pytest.mark.parametrize("command", ["submit", "run"])
def test_missing_api_key_is_one_line_and_records_nothing(
    lmbatch: Invoke,
    prompts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
    command: str,
) -> None:
    pytest.importorskip(f"lmbatch_{provider}")
    env_var = f"{provider.upper()}_API_KEY"
    monkeypatch.delenv(env_var, raising=False)
    outcome = lmbatch(command, str(prompts), "-p", provider, "-m", model)
    assert_refused(outcome, env_var)  # one line: no job was recorded, so no resume note
    assert outcome.exit_code == 2
    assert not (tmp_path / "store" / "jobs.sqlite3").exists() or not _jobs(tmp_path)


def _jobs(tmp_path: Path) -> list[str]:
    from lmbatch import JobStore

    store = JobStore(tmp_path / "store" / "jobs.sqlite3")
    try:
        return [job.job_id for job in store.list_jobs()]
    finally:
        store.close()


@pytest.mark.parametrize("command", ["status", "info", "results", "cancel", "wait"])
def test_unknown_batch_id(lmbatch: Invoke, command: str) -> None:
    assert_refused(lmbatch(command, "batch_nope"), "unknown batch id 'batch_nope'", "--provider")


def test_unknown_batch_id_at_the_provider(lmbatch: Invoke) -> None:
    assert_refused(lmbatch("status", "batch_nope", "-p", "fake"), "batch_nope")


def test_unknown_command_and_option_are_one_line(lmbatch: Invoke) -> None:
    outcome = lmbatch("sumbit")
    assert outcome.exit_code == 2
    assert len(outcome.error_lines) == 1
    assert outcome.error_lines[0].startswith("error: No such command 'sumbit'.")
    assert outcome.error_lines[0].endswith("(see: lmbatch --help)")
    outcome = lmbatch("status", "x", "--bogus")
    assert outcome.exit_code == 2
    assert len(outcome.error_lines) == 1
    assert "--bogus" in outcome.error_lines[0]


def test_json_errors_are_machine_readable(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{\n")
    outcome = lmbatch("submit", str(path), "-p", "fake", "--json")
    assert outcome.exit_code == 2
    error = outcome.json()["error"]
    assert error["type"] == "UsageError"
    assert error["message"].startswith(f"{path}:1:")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["submit", "--bogus", "--json"], "No such option: --bogus"),
        (["sumbit", "x", "--json"], "No such command 'sumbit'"),
        (["submit", "--json"], "Missing argument 'FILE'"),
        (["status", "x", "--json", "--poll-interval", "-1"], "No such option"),
        (["run", "x.jsonl", "--json", "--poll-interval", "-1"], "--poll-interval"),
    ],
)
def test_usage_errors_are_json_under_json(lmbatch: Invoke, args: list[str], fragment: str) -> None:
    outcome = lmbatch(*args)
    assert outcome.exit_code == 2
    error = outcome.json()["error"]
    assert error["type"] == "UsageError"
    assert fragment in error["message"]
    assert len(outcome.error_lines) == 1  # the line on stderr stays


def test_unexpected_errors_are_json_with_a_stable_type(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch.cli import _batch_commands

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(_batch_commands, "read_request_file", broken)
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "--json")
    assert outcome.exit_code == 1
    assert outcome.json()["error"] == {
        "type": "UnexpectedError",
        "message": "unexpected RuntimeError: a bug",
    }


def test_an_interruption_is_json_under_json(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lmbatch.cli import _batch_commands

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_batch_commands, "read_request_file", interrupted)
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "--json")
    assert outcome.exit_code == 130
    assert outcome.json()["error"]["type"] == "Interrupted"


def test_verbose_shows_the_traceback(lmbatch: Invoke) -> None:
    outcome = lmbatch("status", "batch_nope", "-p", "fake", "--verbose")
    assert outcome.exit_code == 1
    assert "Traceback" in outcome.stderr
    assert outcome.error_lines[-1].startswith("error: ")


# -- damaged CSV: refused with the line where the damage starts, never read loosely ---------


def test_csv_unclosed_quote_names_the_line_where_the_field_starts(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "q.csv"
    rows = [f"k{i},prompt number {i}" for i in range(1000)]
    rows[2] = 'k2,"this quote is never closed'
    path.write_text("key,prompt\n" + "\n".join(rows) + "\n")
    assert_refused(
        lmbatch("submit", str(path), "-p", "fake"), "q.csv:4:", "quoted field", "never closed"
    )


def test_csv_unclosed_quote_closed_by_a_later_row_is_refused(
    lmbatch: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "q.csv"
    path.write_text('key,prompt\na,"unclosed\nb,plain\nc,"quoted"\nd,last\n')
    assert_refused(lmbatch("run", str(path), "-p", "fake"), "q.csv:2:", "quoted field")


def test_csv_bad_quote_in_the_header_names_line_1(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('"key,prompt\na,hello\n')
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "q.csv:1:", "quoted field")


@pytest.mark.parametrize(
    ("row", "cells"),
    [("a,hello, world", "3 cells"), ("a", "1 cell")],
    ids=["more-cells", "fewer-cells"],
)
def test_csv_ragged_row_is_refused(lmbatch: Invoke, tmp_path: Path, row: str, cells: str) -> None:
    path = tmp_path / "q.csv"
    path.write_text(f"key,prompt\nok,fine\n{row}\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "q.csv:3:", cells, "2 columns")


def test_csv_nul_byte_is_refused(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_bytes(b"key,prompt\nok,fine\nbad,he\x00llo\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "q.csv:3:", "NUL")


def test_csv_duplicate_header_column_is_refused(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("key,prompt,Prompt\na,one,two\n")
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "q.csv:1:", "'prompt'", "twice")


def test_jsonl_line_nested_too_deeply_names_file_and_line(lmbatch: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    path.write_text(f'{{"key": "a", "input": "hi"}}\n{{"key": "b", "input": {deep}}}\n')
    assert_refused(lmbatch("submit", str(path), "-p", "fake"), "deep.jsonl:2:", "nested too deeply")


@pytest.mark.parametrize(
    "line",
    [
        r'{"key": "b", "input": "half an emoji \ud83d"}',
        r'{"key": "b\udc80", "input": "hi"}',
        r'{"key": "b", "input": "hi", "system": "\udfff"}',
    ],
    ids=["prompt", "key", "system"],
)
def test_jsonl_lone_surrogate_names_file_and_line(
    lmbatch: Invoke, tmp_path: Path, line: str
) -> None:
    path = tmp_path / "text.jsonl"
    # A whole emoji written as an escaped surrogate pair is fine; half of one is not.
    path.write_text('{"key": "a", "input": "\\ud83d\\ude00"}\n' + line + "\n")
    assert_refused(lmbatch("run", str(path), "-p", "fake"), "text.jsonl:2:", "lone surrogate")


def test_damaged_store_names_the_file(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "damaged.sqlite3"
    store.write_bytes(b"not a database at all\n" * 100)
    monkeypatch.setenv("LMBATCH_STORE", str(store))
    outcome = lmbatch("submit", str(prompts), "-p", "fake", "--json")
    assert_refused(outcome, str(store), "damaged", "move it aside")
    error = json.loads(outcome.stdout)["error"]
    assert error["type"] == "StoreError"
    assert error["path"] == str(store)


# -- attachment paths stay in the request file's folder -------------------------------

PNG = b"\x89PNG\r\n\x1a\nnot-really-an-image-but-private"


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """``requests/`` (where the request file goes) and ``private/secret.png`` beside it."""
    requests = tmp_path / "requests"
    requests.mkdir()
    private = tmp_path / "private"
    private.mkdir()
    (private / "secret.png").write_bytes(PNG)
    return requests, private


def _request_file(folder: Path, attachment_path: str) -> Path:
    path = folder / "q.jsonl"
    part = {"type": "attachment", "path": attachment_path}
    path.write_text(
        json.dumps({"key": "ok", "input": "hi"})
        + "\n"
        + json.dumps({"key": "photo", "input": ["What is this?", part]})
        + "\n"
    )
    return path


def _sent_bytes() -> bytes:
    return b"".join(
        json.dumps(batch.records).encode() for batch in default_backend.batches.values()
    )


@pytest.mark.parametrize("command", ["submit", "run"])
@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_an_attachment_path_outside_the_request_files_folder_is_refused(
    lmbatch: Invoke, layout: tuple[Path, Path], command: str, how: str
) -> None:
    requests, private = layout
    secret = private / "secret.png"
    if how == "relative":
        given = "../private/secret.png"
    elif how == "absolute":
        given = str(secret)
    else:
        (requests / "innocent.png").symlink_to(secret)
        given = "innocent.png"
    path = _request_file(requests, given)
    outcome = lmbatch(command, str(path), "-p", "fake")
    assert_refused(outcome, f"{path}:2:", repr(given), "--allow-path")
    assert default_backend.batches == {}


def test_allow_path_lets_attachments_come_from_another_folder(
    lmbatch: Invoke, layout: tuple[Path, Path]
) -> None:
    requests, private = layout
    path = _request_file(requests, "../private/secret.png")
    outcome = lmbatch("submit", str(path), "-p", "fake", "--allow-path", str(private))
    assert outcome.exit_code == 0, outcome.stderr
    assert default_backend.calls["submit"] == 1
    assert base64.b64encode(PNG) in _sent_bytes()
    # --allow-path is repeatable; a folder that does not hold the file does not help.
    outcome = lmbatch(
        "submit",
        str(path),
        "-p",
        "fake",
        "--allow-path",
        str(requests / "x"),
        "--allow-path",
        str(private.parent / "privat"),
    )
    assert outcome.exit_code == 2
    assert f"{path}:2:" in outcome.stderr


def test_an_attachment_in_a_subfolder_of_the_request_file_is_read(
    lmbatch: Invoke, layout: tuple[Path, Path]
) -> None:
    requests, _ = layout
    (requests / "images").mkdir()
    (requests / "images" / "cat.png").write_bytes(PNG)
    path = _request_file(requests, "images/../images/cat.png")
    outcome = lmbatch("submit", str(path), "-p", "fake")
    assert outcome.exit_code == 0, outcome.stderr
    assert default_backend.calls["submit"] == 1


def test_attachment_paths_from_stdin_stay_in_the_working_directory(
    lmbatch: Invoke, layout: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    requests, private = layout
    monkeypatch.chdir(requests)
    part = {"type": "attachment", "path": str(private / "secret.png")}
    line = json.dumps({"key": "photo", "input": ["What is this?", part]}) + "\n"
    assert_refused(lmbatch("submit", "-", "-p", "fake", input=line), "<stdin>:1:", "secret.png")
    outcome = lmbatch("submit", "-", "-p", "fake", "--allow-path", str(private), input=line)
    assert outcome.exit_code == 0, outcome.stderr


@pytest.mark.parametrize("command", ["submit", "run"])
def test_a_store_url_is_refused_naming_where_it_came_from(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    url = "s3://ann:s3cret@db.example/jobs"  # no store backend (postgresql:// is one)
    outcome = lmbatch(command, str(prompts), "-p", "fake", "--store", url)
    assert_refused(outcome, "--store is 's3://ann:***@db.example/jobs', a URL")
    assert outcome.exit_code == 2
    monkeypatch.setenv("LMBATCH_STORE", url)
    assert_refused(lmbatch(command, str(prompts), "-p", "fake"), "LMBATCH_STORE is ")
    assert_refused(lmbatch("status", "batch_x"), "LMBATCH_STORE is ")
    assert "s3cret" not in outcome.stderr
    assert not (tmp_path / "s3:").exists()


@pytest.mark.parametrize(
    ("provider", "model"), [("openai", "gpt-4.1-mini"), ("anthropic", "claude-sonnet-4-5")]
)
def test_a_misspelt_param_is_refused_on_every_provider_with_a_did_you_mean(
    lmbatch: Invoke,
    prompts: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
    model: str,
) -> None:
    pytest.importorskip(f"lmbatch_{provider}")
    monkeypatch.setenv(f"{provider.upper()}_API_KEY", "test")
    # An address nothing listens on: the refusal must come before any call.
    option = f"base_url=http://127.0.0.1:9/{'v1' if provider == 'openai' else ''}"
    outcome = lmbatch(
        "submit", str(prompts), "-p", provider, "-m", model, "-O", option,
        "-P", "temprature=0", "-P", "max_tokens=20",
    )  # fmt: skip
    assert_refused(outcome, "-P temprature")
    assert "did you mean 'temperature'" in outcome.stderr
    assert "-P extra_body" in outcome.stderr
    assert not (tmp_path / "store" / "jobs.sqlite3").exists() or not _jobs(tmp_path)


def test_a_misspelt_model_is_refused_with_a_did_you_mean_and_the_flag_to_force_it(
    lmbatch: Invoke, prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lmbatch_openai")
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    base = ("-p", "openai", "-O", "base_url=http://127.0.0.1:9/v1", "-O", "max_retries=0")
    outcome = lmbatch("submit", str(prompts), *base, "-m", "gpt-4.1-mni")
    assert_refused(outcome, "did you mean 'gpt-4.1-mini'")
    assert "--allow-unknown-model" in outcome.stderr
    assert not (tmp_path / "store" / "jobs.sqlite3").exists() or not _jobs(tmp_path)
    forced = lmbatch("submit", str(prompts), *base, "-m", "gpt-4.1-mni", "--allow-unknown-model")
    assert "did you mean" not in forced.stderr
    assert "Connection error" in forced.stderr or "connect" in forced.stderr.lower()


def test_lmbatch_model_does_not_follow_another_provider(
    lmbatch: Invoke, prompts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("lmbatch_anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test")
    monkeypatch.setenv("LMBATCH_PROVIDER", "openai")
    monkeypatch.setenv("LMBATCH_MODEL", "gpt-4.1-mini")
    outcome = lmbatch("submit", str(prompts), "-p", "anthropic")
    assert_refused(outcome, "needs a model")
    assert "LMBATCH_ANTHROPIC_MODEL" in outcome.stderr
