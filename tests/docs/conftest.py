"""Shared paths for the documentation tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
EXAMPLE_PLUGIN = DOCS / "examples" / "lmbatch-echo"


def markdown_files() -> list[Path]:
    """Every documentation page (not the example plugin's files) and the README."""
    pages = sorted(path for path in DOCS.rglob("*.md") if EXAMPLE_PLUGIN not in path.parents)
    return [README, *pages]
