"""Providers are discovered: adding one edits nothing in core, dev.py, CI or the docs build.

Each directory ``providers/<dist>/`` (and ``docs/examples/<dist>/``) with a
``pyproject.toml`` is a plugin distribution; dev.py installs it, mypy checks its package
through a glob, the docs list its options, and pytest collects its ``tests/``.
"""

from __future__ import annotations

import glob
import importlib.util
import re
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Files that must work for any set of providers, so may name none.
SHARED_FILES = [
    "dev.py",
    ".ci/run",
    "mkdocs.yml",
    "pyproject.toml",
    *sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs" / "hooks").glob("*.py")),
]


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _plugin_dirs(root: Path = ROOT) -> list[Path]:
    found = [*root.glob("providers/*/pyproject.toml"), *root.glob("docs/examples/*/pyproject.toml")]
    return sorted(path.parent for path in found)


def _providers(plugin: Path) -> set[str]:
    """Provider names a plugin directory registers (its ``lmbatch`` entry points)."""
    project = _toml(plugin / "pyproject.toml")["project"]
    return set(project.get("entry-points", {}).get("lmbatch", {}))


def _names(plugin: Path) -> set[str]:
    """Distribution, package and provider names a plugin directory defines."""
    project = _toml(plugin / "pyproject.toml")["project"]
    return {project["name"], project["name"].replace("-", "_"), *_providers(plugin)}


def _write_provider(root: Path, dist: str, provider: str) -> None:
    package = root / "providers" / dist / dist.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package.parent / "pyproject.toml").write_text(
        f'[project]\nname = "{dist}"\nversion = "0"\n\n'
        f'[project.entry-points.lmbatch]\n{provider} = "{dist.replace("-", "_")}._plugin"\n'
    )


def test_the_repository_has_plugins_to_discover() -> None:
    dirs = {path.relative_to(ROOT).as_posix() for path in _plugin_dirs()}
    assert "docs/examples/lmbatch-echo" in dirs
    assert any(path.startswith("providers/") for path in dirs)


@pytest.mark.parametrize("shared", SHARED_FILES)
def test_shared_files_name_no_provider(shared: str) -> None:
    text = (ROOT / shared).read_text(encoding="utf-8")
    for plugin in _plugin_dirs():
        for name in _names(plugin):
            # As a word: "openai" may not appear, "lmbatch" or "providers/*" may.
            assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (
                f"{shared} names {name!r} (from {plugin.relative_to(ROOT)}): discover it instead"
            )


def test_dev_py_installs_every_plugin_directory_it_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = _load(ROOT / "dev.py", "lmbatch_dev_script")
    # A plugin with a `test` extra is installed with it (its tests' own needs).
    assert {package.removesuffix("[test]") for package in dev.PACKAGES} == {
        ".[dev]",
        *(path.relative_to(ROOT).as_posix() for path in _plugin_dirs()),
    }
    _write_provider(tmp_path, "lmbatch-newvendor", "newvendor")
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    assert dev.plugin_packages() == ["providers/lmbatch-newvendor"]
    pyproject = tmp_path / "providers" / "lmbatch-newvendor" / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[project.optional-dependencies]\ntest = ["vendor-sdk"]\n'
    )
    assert dev.plugin_packages() == ["providers/lmbatch-newvendor[test]"]


def test_mypy_checks_every_provider_package_through_its_globs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patterns = _toml(ROOT / "pyproject.toml")["tool"]["mypy"]["files"]
    monkeypatch.chdir(ROOT)
    checked = {Path(path).resolve() for pattern in patterns for path in glob.glob(pattern)}
    for plugin in _plugin_dirs():
        for package in _toml(plugin / "pyproject.toml")["tool"]["hatch"]["build"]["targets"][
            "wheel"
        ]["packages"]:
            assert (plugin / package).resolve() in checked, f"mypy does not check {package}"
    # A new provider directory is matched without editing the list.
    _write_provider(tmp_path, "lmbatch-newvendor", "newvendor")
    monkeypatch.chdir(tmp_path)
    assert any(glob.glob(pattern) for pattern in patterns)


def test_docs_list_the_options_of_every_provider_of_the_repository() -> None:
    # The docs build documents what the plugin registry finds: every provider of the
    # repository once installed (dev.py installs them all), core's fake last.
    hook = _load(ROOT / "docs" / "hooks" / "generated.py", "lmbatch_docs_hook")
    expected = {name for path in ROOT.glob("providers/*/") for name in _providers(path)}
    assert expected
    documented = [entry.name for entry in hook.documented_providers()]
    assert expected <= set(documented)
    assert documented[-1] == "fake"


def test_pytest_collects_the_tests_beside_every_plugin() -> None:
    testpaths = _toml(ROOT / "pyproject.toml")["tool"]["pytest"]["ini_options"]["testpaths"]
    collected = {
        Path(path).resolve() for pattern in testpaths for path in glob.glob(str(ROOT / pattern))
    }
    for plugin in _plugin_dirs():
        if (plugin / "tests").is_dir():
            assert (plugin / "tests").resolve() in collected, plugin


def test_no_test_package_shadows_the_repository_tests_package() -> None:
    # The plugins' tests/ are collected in importlib mode as files, not as a package
    # named "tests", which would clash with this repository's own.
    for plugin in _plugin_dirs():
        assert not (plugin / "tests" / "__init__.py").exists(), plugin
    assert sys.modules["tests"].__file__ == str(ROOT / "tests" / "__init__.py")
