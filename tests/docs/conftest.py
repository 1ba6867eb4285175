"""Shared paths for the documentation tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
EXAMPLE_PLUGIN = DOCS / "examples" / "lmbatch-echo"


def excerpt_source(title: str | None) -> Path | None:
    """The example plugin file a code block's ``title`` names, if it names one.

    A block titled ``lmbatch-echo/lmbatch_echo/_operations.py`` quotes that file of
    ``docs/examples/``: it is checked against the file instead of being run.
    """
    if not title or "/" not in title:
        return None
    path = DOCS / "examples" / title
    return path if path.is_file() else None


def markdown_files() -> list[Path]:
    """Every documentation page (not the example plugin's files) and the README."""
    pages = sorted(path for path in DOCS.rglob("*.md") if EXAMPLE_PLUGIN not in path.parents)
    return [README, *pages]


def docs_hook() -> ModuleType:
    """The MkDocs hook module that generates parts of the docs (``docs/hooks/generated.py``)."""
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "hooks" / "generated.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
