"""The docs build finds providers by itself: options, the comparison table and the nav."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import lmbatch
from tests.docs.conftest import DOCS, docs_hook

pytest.importorskip("mkdocs")

EXAMPLES = DOCS / "examples"


def _installed_providers() -> dict[str, lmbatch.ProviderEntry]:
    """Every provider that loads, except the docs' example plugins (the tutorial's)."""
    found = {}
    for entry in lmbatch.available_providers():
        if entry.status != "ok" or entry.operations_class is None:
            continue
        source = Path(inspect.getfile(entry.operations_class)).resolve()
        if not source.is_relative_to(EXAMPLES):
            found[entry.name] = entry
    return found


def test_every_installed_provider_is_compared() -> None:
    table = docs_hook().providers_table()
    installed = _installed_providers()
    assert {"openai", "anthropic", "fake"} <= set(installed)
    rows = [line for line in table.splitlines()[2:] if line.startswith("| ")]
    assert len(rows) == len(installed)
    for name, entry in installed.items():
        (row,) = [row for row in rows if f"`{name}`" in row.split("|")[1]]
        cls = entry.operations_class
        assert cls is not None
        assert f"| {cls.limits.max_requests_per_batch:,} |" in row
        assert (f"{cls.batch_discount:.0%}" if cls.batch_discount else "none declared") in row
    assert "`echo`" not in table  # the tutorial's example is not a provider to compare


def test_every_installed_provider_has_its_options_documented() -> None:
    options = docs_hook().provider_options()
    for name, entry in _installed_providers().items():
        assert f"### `{name}`" in options
        assert entry.operations_class is not None
        for option in entry.operations_class.settings_class.model_fields:
            assert f"| `{option}` |" in options


def test_methods_left_out_are_named() -> None:
    hook = docs_hook()
    all_methods = frozenset({"create", "status", "info", "retrieve", "list", "cancel", "invoke"})
    assert hook._methods(all_methods) == "all"
    assert hook._methods(all_methods - {"list", "cancel"}) == "all but `list`, `cancel`"


def _nav(tmp_path: Path, pages: dict[str, str], nav: list[Any]) -> Any:
    """The navigation mkdocs builds for ``pages``, after the docs hook's ``on_nav``."""
    import yaml
    from mkdocs.config import load_config
    from mkdocs.structure.files import get_files
    from mkdocs.structure.nav import get_navigation

    for name, text in pages.items():
        path = tmp_path / "docs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    config_file = tmp_path / "mkdocs.yml"
    config_file.write_text(yaml.safe_dump({"site_name": "t", "nav": nav}), encoding="utf-8")
    config = load_config(str(config_file))
    files = get_files(config)
    navigation = get_navigation(files, config)
    return docs_hook().on_nav(navigation, config=config, files=files)


def test_provider_pages_join_a_section_by_name_titled_by_heading(tmp_path: Path) -> None:
    navigation = _nav(
        tmp_path,
        {
            "index.md": "# Home\n",
            "providers/index.md": "# Providers\n",
            "providers/alpha.md": "# Zeta vendor\n\nText.\n",
            "providers/beta.md": "Intro line.\n\n# Alpha vendor\n",
            "after.md": "# After\n",
        },
        # A vendor page listed by hand is moved into the section, not shown twice.
        [
            {"Home": "index.md"},
            {"Providers": "providers/index.md"},
            {"Elsewhere": [{"Beta": "providers/beta.md"}]},
            {"After": "after.md"},
        ],
    )
    titles = [item.title for item in navigation.items]
    assert titles == ["Home", "Providers", "After"]
    section = navigation.items[1]
    assert [page.title for page in section.children] == [
        "All providers",
        "Zeta vendor",
        "Alpha vendor",
    ]
    assert [page.file.src_uri for page in section.children] == [
        "providers/index.md",
        "providers/alpha.md",
        "providers/beta.md",
    ]
    assert all(page.parent is section for page in section.children)
    order = [page.file.src_uri for page in navigation.pages]
    assert order == [
        "index.md",
        "providers/index.md",
        "providers/alpha.md",
        "providers/beta.md",
        "after.md",
    ]
    assert navigation.pages[2].previous_page is navigation.pages[1]
    assert navigation.pages[2].next_page is navigation.pages[3]
    assert navigation.pages[-1].next_page is None


def test_without_an_index_entry_the_section_comes_last(tmp_path: Path) -> None:
    navigation = _nav(
        tmp_path,
        {"index.md": "# Home\n", "providers/index.md": "# P\n", "providers/x.md": "# X\n"},
        [{"Home": "index.md"}],
    )
    assert [item.title for item in navigation.items] == ["Home", "Providers"]
    assert [page.title for page in navigation.items[1].children] == ["All providers", "X"]
