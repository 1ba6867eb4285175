"""Griffe extension: Sphinx roles in docstrings render as code, not as raw text.

Docstrings here name other objects Sphinx-style (``:class:`BatchInfo```,
``:meth:`~lmbatch.BatchOperations.create```); mkdocstrings reads them as Markdown, where
the role would show as ``:class:BatchInfo``. This shows the name as inline code
(``~`` keeps only its last part, as in Sphinx).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`(~?)([^`]+)`")


def _as_code(match: re.Match[str]) -> str:
    name = match.group(2)
    return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring's Sphinx roles as inline code."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Called for every object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(_as_code, obj.docstring.value)
