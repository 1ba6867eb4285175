"""Every name of the provider interface is documented on its reference page.

As datasette's ``tests/test_docs.py`` does for its plugin hooks: a name added to
``lmbatch.provider`` (or a provider method added to ``BatchOperations``) fails here until
the reference page renders it.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import lmbatch.provider
from lmbatch.provider import BatchOperations
from tests.docs.conftest import DOCS, docs_hook, markdown_files

REFERENCE = DOCS / "plugins" / "reference.md"
API = DOCS / "api.md"
_DIRECTIVE = re.compile(r"^::: (?P<name>[\w.]+)\n(?P<options>(?:[ \t]+.*\n|\n(?=[ \t]))*)", re.M)
_SHARED_LINK = re.compile(r"\[`(?P<name>\w+)`\]\[lmbatch\.(?P=name)\]")


def directives(path: Path) -> dict[str, list[str] | None]:
    """``{identifier: members listed}`` of a page's mkdocstrings directives (None: all)."""
    found: dict[str, list[str] | None] = {}
    for match in _DIRECTIVE.finditer(path.read_text(encoding="utf-8")):
        options = match["options"]
        members = None
        if re.search(r"^\s+members:\s*$", options, re.M):
            members = re.findall(r"^\s+- (\w+)\s*$", options, re.M)
        found[match["name"]] = members
    return found


def shared_links(path: Path) -> set[str]:
    """Names the page links to in the user API docs (``[`X`][lmbatch.X]``)."""
    return {match["name"] for match in _SHARED_LINK.finditer(path.read_text(encoding="utf-8"))}


def public_members(cls: type) -> dict[str, object]:
    """Public names ``cls`` defines or inherits (not from ``object``), as declared."""
    found: dict[str, object] = {}
    for klass in reversed(cls.__mro__[:-1]):
        found.update({name: value for name, value in vars(klass).items() if name[0] != "_"})
    return found


def test_every_interface_name_is_documented() -> None:
    on_reference = directives(REFERENCE)
    shared = shared_links(REFERENCE)
    user_docs = {name for page in markdown_files() for name in directives(page)}
    undocumented = []
    for name in lmbatch.provider.__all__:
        if f"lmbatch.provider.{name}" in on_reference:
            continue
        # A name of the user API too: linked from the reference page, rendered elsewhere.
        if name in shared and f"lmbatch.{name}" in user_docs:
            continue
        undocumented.append(name)
    assert undocumented == [], f"not on {REFERENCE.name}: {undocumented}"


def test_no_documented_interface_name_is_gone() -> None:
    exported = set(lmbatch.provider.__all__)
    rendered = {
        name.removeprefix("lmbatch.provider.")
        for name in directives(REFERENCE)
        if name.startswith("lmbatch.provider.")
    }
    assert rendered - exported == set()
    assert shared_links(REFERENCE) - exported == set()


def test_every_provider_method_and_attribute_is_on_the_reference_page() -> None:
    user_facing = directives(API)["lmbatch.BatchOperations"]
    listed = directives(REFERENCE)["lmbatch.provider.BatchOperations"]
    assert user_facing is not None
    assert listed is not None
    provider_facing = set(public_members(BatchOperations)) - set(user_facing)
    assert provider_facing - set(listed) == set(), "provider-facing, but on neither page"
    # The interface's own list of methods (its module docstring) agrees with the page.
    table = re.findall(r"^``(\w+)``", lmbatch.provider.__doc__ or "", re.M)
    assert len(table) > 10
    assert set(table) - set(listed) == set()


def test_provider_methods_and_attributes_say_what_they_are() -> None:
    listed = directives(REFERENCE)["lmbatch.provider.BatchOperations"]
    assert listed is not None
    members = public_members(BatchOperations)
    described = docs_hook().attribute_docs(BatchOperations.__doc__)
    for name in listed:
        value = members[name]
        if callable(value) or isinstance(value, property | classmethod | staticmethod):
            assert inspect.getdoc(getattr(BatchOperations, name)), f"{name} has no docstring"
        else:  # a class attribute: the Attributes section of the class docstring says it
            assert described.get(name), f"{name} is not in BatchOperations' Attributes"


def test_reference_page_shows_the_version_and_the_promise() -> None:
    assert "<!-- lmbatch:provider-interface -->" in REFERENCE.read_text(encoding="utf-8")
    text = docs_hook().provider_interface()
    assert f"version **{lmbatch.provider.PROVIDER_INTERFACE_VERSION}**" in text
    assert "Compatibility promise: the names in `__all__` keep their meaning" in text
    assert "``__all__``" not in text  # reStructuredText turned into Markdown
