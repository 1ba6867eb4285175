"""The documentation site builds strictly, its config examples are valid, and the
example plugin passes its own tests."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lmbatch._config import load_config
from tests.docs.conftest import DOCS, EXAMPLE_PLUGIN, ROOT, markdown_files

_TOML_BLOCK = re.compile(r"^```toml(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.M | re.S)


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    site = tmp_path / "site"
    configuration = (site / "configuration" / "index.html").read_text()
    assert "gpt-4.1-mini" in configuration  # the generated provider option tables
    assert "polls_until_done" in configuration
    cli = (site / "cli" / "index.html").read_text()
    assert "lmbatch submit" in cli
    assert "--poll-interval" in cli
    tutorial = (site / "plugins" / "tutorial" / "index.html").read_text()
    assert "EchoBatchOperations" in tutorial
    assert "--8&lt;--" not in tutorial
    reference = (site / "plugins" / "reference" / "index.html").read_text()
    assert "lmbatch.provider.BatchOperations.encode_request" in reference
    assert "Compatibility promise" in reference
    assert ":class:" not in reference  # Sphinx roles in docstrings render as code
    providers = (site / "providers" / "index.html").read_text()
    assert "lmbatch-openai" in providers  # the generated comparison table
    home = (site / "index.html").read_text()
    for page in sorted((DOCS / "providers").glob("*.md")):
        if page.stem != "index":  # every provider page is built and in the nav
            assert (site / "providers" / page.stem / "index.html").is_file()
            assert f'href="providers/{page.stem}/"' in home, page.name


def _toml_blocks() -> list[tuple[str, str, str]]:
    blocks = []
    for path in markdown_files():
        for match in _TOML_BLOCK.finditer(path.read_text(encoding="utf-8")):
            if not match["body"].lstrip().startswith("--8<--"):  # included, tested at source
                blocks.append((path.name, match["info"], match["body"]))
    return blocks


@pytest.mark.parametrize(("page", "info", "body"), _toml_blocks())
def test_config_examples_are_valid(page: str, info: str, body: str, tmp_path: Path) -> None:
    data = tomllib.loads(body)
    if "entry-points" in body or "build-system" in data:
        return  # a plugin's pyproject.toml, not lmbatch configuration
    if "tool" in data:
        (tmp_path / "pyproject.toml").write_text(body)
    else:
        (tmp_path / "lmbatch.toml").write_text(body)
    config = load_config(tmp_path)
    assert config.provider or config.providers, f"{page}: the example configures nothing"


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lmbatch_echo") is None,
    reason="the example plugin is not installed (pip install -e docs/examples/lmbatch-echo)",
)
def test_example_plugin_tests_are_collected_from_its_own_directory() -> None:
    # The suite runs them (testpaths includes docs/examples/*/tests); here they are only
    # collected, as a plugin author runs them: from the plugin's directory, its settings.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only"],
        cwd=EXAMPLE_PLUGIN,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^\d+ tests? collected", done.stdout, re.MULTILINE), done.stdout


def _readme_features() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Features\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_features_show_tables_and_batchify_with_their_pages() -> None:
    features = _readme_features()
    tables = next(line for line in features.split("\n- ") if "lmbatch.map(" in line)
    assert "lmbatch run data.parquet --prompt" in tables
    assert "(docs/tables.md)" in tables
    batching = next(line for line in features.split("\n- ") if "lmbatch.batchify()" in line)
    assert "http_client=batch.http_client()" in batching
    assert "(docs/batchify.md)" in batching
    for page in ("tables.md", "batchify.md"):
        assert (DOCS / page).is_file()
        assert f": {page}" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8"), page
