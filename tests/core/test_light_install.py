"""A core install is light: the CLI (typer, rich) and jsonschema are extras.

``pip install lmbatch`` gives the library; ``pip install 'lmbatch[cli]'`` the command
line. Without the extra, the library imports and works, and the ``lmbatch`` command
says how to install what it lacks instead of failing with a traceback.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE_DEPENDENCIES = {"pydantic", "orjson", "pluggy", "platformdirs"}
CLI_PACKAGES = {"typer", "rich"}
INSTALL_LINE = "pip install 'lmbatch[cli]'"

# Makes typer and rich unimportable in a child process, as on a core-only install.
_BLOCKER = """\
import sys


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"typer", "rich"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NotInstalled())
"""


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert found is not None, requirement
    return found.group(0).lower()


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_core_dependencies_are_only_the_light_ones() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    assert {_name(spec) for spec in project["dependencies"]} == CORE_DEPENDENCIES
    extras = project["optional-dependencies"]
    assert {_name(spec) for spec in extras["cli"]} >= CLI_PACKAGES
    # The CLI takes JSON Schema files, so it brings what checks them.
    assert "lmbatch[jsonschema]" in extras["cli"]
    assert any(spec.startswith("lmbatch[") and "cli" in spec for spec in extras["dev"])


def test_installed_metadata_has_typer_and_rich_only_behind_the_cli_extra() -> None:
    # What pip installed from the built metadata: no unconditional CLI requirement.
    requirements = metadata.requires("lmbatch") or []
    unconditional = {_name(spec) for spec in requirements if ";" not in spec}
    assert unconditional == CORE_DEPENDENCIES
    for spec in requirements:
        if _name(spec) in CLI_PACKAGES:
            assert re.search(r"extra\s*==\s*['\"](cli|dev)['\"]", spec), spec


def _without_cli(tmp_path: Path) -> dict[str, str]:
    """An environment whose Python cannot import typer or rich (a sitecustomize blocks them)."""
    (tmp_path / "sitecustomize.py").write_text(_BLOCKER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("LMBATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["LMBATCH_STORE"] = str(tmp_path / "jobs.sqlite3")
    return env


def _run(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=tmp_path,
        env=_without_cli(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_library_and_its_testing_kit_work_without_typer_and_rich(tmp_path: Path) -> None:
    code = (
        "import asyncio, json, sys\n"
        "import lmbatch, lmbatch.testing, lmbatch.testing.pytest_plugin\n"
        "try:\n"
        "    import typer\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise SystemExit('the blocker does not work')\n"
        "async def main():\n"
        "    async with lmbatch.get_batch_operations('fake', store=':memory:') as ops:\n"
        "        return await ops.invoke({'q': 'Hi'}, status_check_interval=0)\n"
        "print(asyncio.run(main())['q'].text)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'rich', 'click'))))\n"
    )
    done = _run([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["echo: Hi", "[]"]


def _assert_says_how_to_install_the_cli(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 1
    assert done.stdout == ""
    assert INSTALL_LINE in done.stderr
    assert "Traceback" not in done.stderr


def test_python_dash_m_without_the_cli_extra_prints_the_install_command(
    tmp_path: Path,
) -> None:
    done = _run([sys.executable, "-m", "lmbatch", "providers"], tmp_path)
    _assert_says_how_to_install_the_cli(done)


def test_console_script_without_the_cli_extra_prints_the_install_command(
    tmp_path: Path,
) -> None:
    script = Path(sys.executable).parent / ("lmbatch.exe" if os.name == "nt" else "lmbatch")
    if not script.is_file():
        pytest.skip(f"the lmbatch console script is not installed next to {sys.executable}")
    done = _run([str(script), "--help"], tmp_path)
    _assert_says_how_to_install_the_cli(done)


def test_main_without_the_cli_extra_returns_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lmbatch.cli import INSTALL_COMMAND, main

    monkeypatch.setitem(sys.modules, "typer", None)  # None in sys.modules: ImportError
    assert main(["--help"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert INSTALL_COMMAND == INSTALL_LINE
    assert captured.err.splitlines()[-1] == f"Install it with: {INSTALL_LINE}"
