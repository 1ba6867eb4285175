"""``python -m lmbatch``, the console script, and keeping ``import lmbatch`` light."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_module(
    *args: str, cwd: Path, timeout: float = 60, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMBATCH_")}
    env.pop("OPENAI_API_KEY", None)
    env["LMBATCH_STORE"] = str(cwd / "jobs.sqlite3")
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [sys.executable, "-m", "lmbatch", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_import_lmbatch_does_not_import_the_cli_libraries() -> None:
    code = (
        "import sys, lmbatch; "
        "print([m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"key": "k", "input": "hi"}\n')
    done = run_module("run", str(prompts), "-p", "fake", "--poll-interval", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == "echo: hi"
    # stderr is not a terminal here: no progress bar, no escape codes.
    assert "\x1b[" not in done.stderr


def test_python_dash_m_bad_input_exit_status(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("not json\n")
    done = run_module("submit", str(prompts), "-p", "fake", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {prompts}:1: not valid JSON (Expecting value, column 1)"
    ]


def _demo_available() -> str | None:
    try:
        import lmbatch_openai  # noqa: F401

        import lmbatch.testing.emulator  # noqa: F401
    except ImportError as exc:
        return f"the demo needs lmbatch-openai and the emulator extra ({exc.name} missing)"
    return None


@pytest.mark.slow
@pytest.mark.skipif(_demo_available() is not None, reason=str(_demo_available()))
def test_demo_runs_offline_without_a_key(tmp_path: Path) -> None:
    done = run_module("demo", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    for key in ("capital-of-france", "haiku", "conversation", "rate-limited"):
        assert key in done.stdout
    assert "echo: What is the capital of France?" in done.stdout
    assert "OPENAI_API_KEY" in done.stdout
    assert "lmbatch run prompts.jsonl" in done.stdout
    assert "submitted 6 requests to openai (gpt-4.1-mini)" in done.stderr
    assert "\x1b[" not in done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.skipif(_demo_available() is not None, reason=str(_demo_available()))
def test_demo_json(tmp_path: Path) -> None:
    done = run_module("demo", "--json", cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "finished"
    outcomes = {r["key"]: r["ok"] for r in data["results"]}
    assert outcomes.pop("rate-limited") is False
    assert all(outcomes.values())


def test_demo_can_save_its_prompts(tmp_path: Path) -> None:
    done = run_module("demo", "--save-prompts", "prompts.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "prompts.jsonl").read_text().splitlines()
    assert len(lines) == 6


def test_a_plugin_calling_sys_exit_at_import_does_not_end_lmbatch_run(tmp_path: Path) -> None:
    """An installed plugin exiting at import is reported; the run goes on with the others."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "quitter.py").write_text("import sys\nsys.exit(0)\n")
    dist_info = site / "quitter-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: quitter\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[lmbatch]\nquitter = quitter\n")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"key": "k", "input": "hi"}\n')
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    done = run_module(
        "run", str(prompts), "-p", "fake", "--poll-interval", "0", cwd=tmp_path, pythonpath=path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == "echo: hi"
    assert "plugin 'quitter' failed to load: SystemExit" in done.stderr


# -- issue 15 item 15: --version, and a closed pipe ------------------------------------------


def test_version(tmp_path: Path) -> None:
    import lmbatch

    done = run_module("--version", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"lmbatch {lmbatch.__version__}\n"


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    # `lmbatch run ... | head -1`: head exits after one line; lmbatch must not print a
    # traceback about the closed pipe.
    prompts = tmp_path / "p.jsonl"
    # Far more than a pipe buffer holds, so writing must hit the closed pipe.
    prompts.write_text("".join(f'{{"key": "k{i}", "input": "{"x" * 200}"}}\n' for i in range(3000)))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMBATCH_")}
    env["LMBATCH_STORE"] = str(tmp_path / "jobs.sqlite3")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lmbatch",
            "run",
            str(prompts),
            "-p",
            "fake",
            "--poll-interval",
            "0",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    assert json.loads(first)["key"] == "k0"
    process.stdout.close()  # what `head -1` does
    stderr = process.stderr.read().decode()
    code = process.wait(timeout=60)
    assert "Traceback" not in stderr
    assert "BrokenPipe" not in stderr
    assert "Exception ignored" not in stderr
    assert code == 141  # 128 + SIGPIPE, as a shell reports a writer killed by the pipe


def _run_in_terminal(*args: str, cwd: Path, columns: int) -> str:
    """Run ``python -m lmbatch ARGS`` with stderr on a pseudo-terminal; return what it shows."""
    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMBATCH_")}
    env.pop("COLUMNS", None)
    env["LMBATCH_STORE"] = str(cwd / "jobs.sqlite3")
    process = subprocess.Popen(
        [sys.executable, "-m", "lmbatch", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    process.wait(timeout=60)
    return shown.decode().replace("\r\n", "\n")


def _assert_wrapped_at_spaces(shown: str, columns: int, expected: str) -> None:
    for line in shown.splitlines():
        # A line may only be longer when it is one word too long to break (an id, a path).
        assert len(line) <= columns or len(line.split()) == 1, line
    assert " ".join(shown.split()) == " ".join(expected.split())


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_messages_wrap_at_word_boundaries_in_a_terminal(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"key": "k", "input": "hi"}\n')
    shown = _run_in_terminal("submit", str(prompts), cwd=tmp_path, columns=40)
    _assert_wrapped_at_spaces(
        shown,
        40,
        "error: no provider selected: pass -p/--provider, set LMBATCH_PROVIDER, or put "
        'provider = "..." in lmbatch.toml',
    )
    shown = _run_in_terminal("submit", str(prompts), "-p", "fake", cwd=tmp_path, columns=40)
    assert "submitted 1 request from" in shown
    _assert_wrapped_at_spaces(shown, 40, " ".join(shown.split()))
    assert any(line.startswith("fakebatch_") for line in shown.splitlines())  # whole id
