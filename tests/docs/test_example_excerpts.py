"""Code the docs quote from the example plugin is the plugin's code, verbatim.

The tutorial shows its code inline (readable as raw Markdown too) rather than through
include markers. A block whose title names a file of ``docs/examples/`` is an excerpt of
that file: its lines must appear in the file as they are, in order; a ``# ...`` line
stands for lines left out.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lmbatch.provider import BatchOperations
from tests.docs.conftest import DOCS, EXAMPLE_PLUGIN, excerpt_source, markdown_files

_TITLED_BLOCK = re.compile(
    r'^(?P<indent>[ \t]*)```\w+[^\n]*?\btitle="(?P<title>[^"]+)"[^\n]*\n'
    r"(?P<body>.*?)^(?P=indent)```",
    re.M | re.S,
)
_ELISION = re.compile(r"^[ \t]*# \.\.\.[ \t]*$")
TUTORIAL = DOCS / "plugins" / "tutorial.md"


def excerpts(page: Path) -> list[tuple[str, str]]:
    """``(title, body)`` of every block of ``page`` that quotes an example plugin's file."""
    found = []
    for match in _TITLED_BLOCK.finditer(page.read_text(encoding="utf-8")):
        if excerpt_source(match["title"]) is not None:
            indent = match["indent"]
            lines = match["body"].splitlines()
            found.append((match["title"], "\n".join(line.removeprefix(indent) for line in lines)))
    return found


def segments(body: str) -> list[str]:
    """The runs of lines between ``# ...`` elisions, without blank lines at their ends."""
    parts: list[list[str]] = [[]]
    for line in body.splitlines():
        if _ELISION.match(line):
            parts.append([])
        else:
            parts[-1].append(line)
    return ["\n".join(part).strip("\n") for part in parts if "".join(part).strip()]


def is_excerpt_of(body: str, source: str) -> bool:
    """Whether every segment of ``body`` is whole lines of ``source``, in order."""
    text = "\n" + source
    position = 0
    for segment in segments(body):
        found = text.find("\n" + segment + "\n", position)
        if found < 0:
            return False
        position = found + len(segment) + 1
    return True


_ALL = [
    pytest.param(title, body, id=f"{page.name}:{title}#{index}")
    for page in markdown_files()
    for index, (title, body) in enumerate(excerpts(page))
]


@pytest.mark.parametrize(("title", "body"), _ALL)
def test_excerpt_matches_its_file(title: str, body: str) -> None:
    source = excerpt_source(title)
    assert source is not None
    assert is_excerpt_of(body, source.read_text(encoding="utf-8")), (
        f"this block is no longer an excerpt of {title}; copy the file's lines:\n{body}"
    )


def test_tutorial_quotes_every_provider_method_of_the_example() -> None:
    quoted = "\n".join(body for _, body in excerpts(TUTORIAL))
    module = ast.parse((EXAMPLE_PLUGIN / "lmbatch_echo" / "_operations.py").read_text())
    (provider,) = [
        node
        for node in module.body
        if isinstance(node, ast.ClassDef) and node.name == "EchoBatchOperations"
    ]
    methods = [
        node.name
        for node in provider.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and hasattr(BatchOperations, node.name)  # the provider methods it implements
    ]
    assert "encode_request" in methods
    for name in methods:
        assert re.search(rf"def {name}\(", quoted), f"the tutorial does not show {name}"


def test_the_tutorial_shows_no_include_markers() -> None:
    text = TUTORIAL.read_text(encoding="utf-8")
    assert "--8<--" not in text
    assert len(excerpts(TUTORIAL)) >= 10


def test_segments_split_at_elisions() -> None:
    body = "a\nb\n    # ...\nc\n"
    assert segments(body) == ["a\nb", "c"]
    assert is_excerpt_of(body, "a\nb\nx\nc\n")
    assert not is_excerpt_of(body, "c\na\nb\n")  # order matters
    assert not is_excerpt_of("a\nb", "xa\nb\n")  # whole lines only
