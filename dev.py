#!/usr/bin/env python3
"""Developer entry point: works on a fresh machine that has only Python (and pip or uv).

    python3 dev.py demo     # set up .venv, then run `lmbatch demo` (offline, no key)
    python3 dev.py test     # set up .venv, then run the whole test suite
    python3 dev.py check    # ruff (lint + format) and mypy --strict
    python3 dev.py docs     # build the documentation site strictly
    python3 dev.py bench    # speed benchmarks, as ratios to a baseline in the same run

The virtual environment is created in .venv on first use and refreshed whenever a
pyproject.toml changes. uv is used when it is on PATH, pip otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".lmbatch-installed"
# Where plugin distributions live: each directory here with a pyproject.toml is one
# (discovered, so adding a provider needs no edit of this file).
PLUGIN_GLOBS = ("providers/*/pyproject.toml", "docs/examples/*/pyproject.toml")
LINT_PATHS = ["lmbatch", "providers", "tests", "docs/examples", "benchmarks", "dev.py"]


def plugin_packages() -> list[str]:
    """Every provider (``providers/*``) and example plugin (``docs/examples/*``), as paths.

    A plugin whose pyproject declares a ``test`` extra (what its own tests need beyond the
    plugin, e.g. the vendor SDK its wire format is checked against) is installed with it.
    """
    found = set()
    for pattern in PLUGIN_GLOBS:
        for pyproject in ROOT.glob(pattern):
            path = pyproject.parent.relative_to(ROOT).as_posix()
            extras = tomllib.loads(pyproject.read_text()).get("project", {})
            has_test_extra = "test" in extras.get("optional-dependencies", {})
            found.add(f"{path}[test]" if has_test_extra else path)
    return sorted(found)


# Everything the test suite needs, installed editable: core (with the dev extra), every
# provider and the example plugins from the docs.
PACKAGES = [".[dev]", *plugin_packages()]


def _requirements_digest() -> str:
    digest = hashlib.sha256()
    for package in PACKAGES:
        pyproject = ROOT / package.split("[")[0] / "pyproject.toml"
        if pyproject.is_file():
            digest.update(pyproject.read_bytes())
    return digest.hexdigest()


def _run(*command: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(part) for part in command), file=sys.stderr, flush=True)
    completed = subprocess.run([str(part) for part in command], cwd=ROOT, env=env)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def ensure_environment() -> None:
    """Create .venv and install the project into it, unless it is up to date."""
    wanted = _requirements_digest()
    if STAMP.is_file() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=shutil.which("uv") is None).create(VENV)
    editable = [
        arg
        for package in PACKAGES
        if (ROOT / package.split("[")[0]).exists()
        for arg in ("-e", package)
    ]
    uv = shutil.which("uv")
    if uv:
        _run(uv, "pip", "install", "--python", PYTHON, *editable)
    else:
        _run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        _run(PYTHON, "-m", "pip", "install", "--quiet", *editable)
    STAMP.write_text(wanted)


def ensure_mock_server() -> None:
    """Install the spec-driven mock server (Prism) when npm is available."""
    script = ROOT / "scripts" / "install-mock-server.sh"
    if shutil.which("npm") and shutil.which("bash") and script.is_file():
        _run("bash", script)
    else:
        print("npm not found: spec-conformance tests will be skipped", file=sys.stderr)


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command == "demo":
        ensure_environment()
        _run(BIN / "lmbatch", "demo", *rest)
    elif command == "test":
        ensure_environment()
        ensure_mock_server()
        _run(PYTHON, "-m", "pytest", *rest)
    elif command == "check":
        ensure_environment()
        _run(BIN / "ruff", "check", *LINT_PATHS)
        _run(BIN / "ruff", "format", "--check", *LINT_PATHS)
        # mypy's file list (pyproject.toml) is globs: providers/*/lmbatch_* and the
        # example plugins are checked without naming them.
        _run(BIN / "mypy")
    elif command == "bench":
        ensure_environment()
        _run(PYTHON, "-m", "benchmarks", *rest)
    elif command == "docs":
        ensure_environment()
        _run(BIN / "mkdocs", "build", "--strict", *rest)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(0 if command in ("help", "-h", "--help") else 2)


if __name__ == "__main__":
    main(sys.argv[1:])
