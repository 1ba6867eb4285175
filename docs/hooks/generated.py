"""MkDocs hook: fill generated sections so the docs follow the code.

Markers replaced in page Markdown:

* ``<!-- lmbatch:provider-options -->``: every option of every provider of this repository
  (``providers/*``, discovered) and of the built-in ``fake``, from their settings models.
* ``<!-- lmbatch:provider-options NAME -->``: the options of provider ``NAME`` alone (a
  provider's own page).
* ``<!-- lmbatch:cli-reference -->``: the ``--help`` of every ``lmbatch`` command.
* ``<!-- lmbatch:error-tree -->``: the error tree drawn in ``lmbatch._errors``.
"""

from __future__ import annotations

import html
import re
import tomllib
from pathlib import Path
from typing import Any

PROVIDER_OPTIONS = "<!-- lmbatch:provider-options -->"
ONE_PROVIDER_OPTIONS = re.compile(r"<!-- lmbatch:provider-options ([\w-]+) -->")
CLI_REFERENCE = "<!-- lmbatch:cli-reference -->"
ERROR_TREE = "<!-- lmbatch:error-tree -->"
ROOT = Path(__file__).resolve().parents[2]


def documented_providers() -> list[str]:
    """The providers this repository ships: those registered by ``providers/*`` (each
    entry-point name in group ``lmbatch`` is a provider), then core's own (``fake``).

    Discovered, so adding a provider needs no edit here.
    """
    names: list[str] = []
    for pyproject in [*sorted(ROOT.glob("providers/*/pyproject.toml")), ROOT / "pyproject.toml"]:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        names += list(project.get("entry-points", {}).get("lmbatch", {}))
    return names


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the generated-section markers of a page."""
    if PROVIDER_OPTIONS in markdown:
        markdown = markdown.replace(PROVIDER_OPTIONS, provider_options())
    markdown = ONE_PROVIDER_OPTIONS.sub(
        lambda found: provider_options((found.group(1),), headings=False), markdown
    )
    if CLI_REFERENCE in markdown:
        markdown = markdown.replace(CLI_REFERENCE, cli_reference())
    if ERROR_TREE in markdown:
        markdown = markdown.replace(ERROR_TREE, error_tree())
    return markdown


# -- provider options --------------------------------------------------------------------


def attribute_docs(docstring: str | None) -> dict[str, str]:
    """The ``Attributes:`` section of a Google-style docstring, as ``{name: text}``."""
    found: dict[str, str] = {}
    lines = (docstring or "").splitlines()
    inside = False
    current: str | None = None
    base_indent = 0
    for line in lines:
        stripped = line.strip()
        if stripped == "Attributes:":
            inside = True
            continue
        if not inside:
            continue
        if not stripped:
            current = None
            continue
        match = re.match(r"^(\w+)(?: \([^)]*\))?: (.*)$", stripped)
        indent = len(line) - len(line.lstrip())
        if match and (current is None or indent <= base_indent):
            current = match.group(1)
            base_indent = indent
            found[current] = match.group(2)
        elif current is not None:
            found[current] += " " + stripped
        else:
            break
    return found


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    text = re.sub(r"\b(?:typing|pydantic\.types|pydantic)\.", "", text)
    return text.replace("NoneType", "None")


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    return _code(repr(value))


def _escape(text: str) -> str:
    return text.replace("|", "&#124;")


def _code(text: str) -> str:
    """Inline code that may hold ``|`` (a Markdown table cell cannot use backticks then)."""
    return f"<code>{html.escape(text).replace('|', '&#124;')}</code>"


def provider_options(names: tuple[str, ...] | None = None, *, headings: bool = True) -> str:
    """A section per provider (by default every one of this repository) with its options."""
    from lmbatch import JobOptions, available_providers

    job_options = set(JobOptions.model_fields)
    entries = {entry.name: entry for entry in available_providers()}
    sections: list[str] = []
    for name in names if names is not None else documented_providers():
        entry = entries.get(name)
        if headings:
            sections.append(f"### `{name}`\n")
        if entry is None or entry.operations_class is None:
            sections.append(
                f"*The `{name}` provider was not installed when these docs were built.*\n"
            )
            continue
        settings = entry.operations_class.settings_class
        described: dict[str, str] = {}
        for klass in reversed(settings.__mro__):  # subclasses override their bases' words
            described.update(attribute_docs(klass.__doc__))
        summary = (settings.__doc__ or "").strip().splitlines()[0]
        sections.append(
            f"{summary} Settings model: `{settings.__module__}.{settings.__qualname__}`"
            f"{f' (distribution `{entry.distribution}`)' if entry.distribution else ''}.\n"
        )
        sections.append("| option | type | default | meaning |")
        sections.append("|---|---|---|---|")
        # The vendor's own options first, lmbatch's job options (the same everywhere) last.
        fields = sorted(settings.model_fields.items(), key=lambda item: item[0] in job_options)
        for option, field in fields:
            meaning = field.description or described.get(option, "")
            sections.append(
                f"| `{option}` | {_code(_type_name(field.annotation))} | "
                f"{_default(field)} | {_escape(meaning)} |"
            )
        sections.append("")
    return "\n".join(sections)


# -- CLI reference -----------------------------------------------------------------------


def cli_reference() -> str:
    """The help text of ``lmbatch`` and of each of its commands."""
    from typer.testing import CliRunner

    from lmbatch.cli._app import app

    runner = CliRunner(env={"COLUMNS": "100", "NO_COLOR": "1"})
    parts = ["### `lmbatch`\n", "```text", runner.invoke(app, ["--help"]).stdout.rstrip(), "```\n"]
    for command in app.registered_commands:
        name = command.name
        assert name is not None
        help_text = runner.invoke(app, [name, "--help"]).stdout.rstrip()
        parts += [f"### `lmbatch {name}`\n", "```text", help_text, "```\n"]
    return "\n".join(parts)


# -- error tree --------------------------------------------------------------------------


def error_tree() -> str:
    """The tree drawn in the docstring of ``lmbatch._errors``."""
    import lmbatch._errors as errors

    doc = errors.__doc__ or ""
    tree = doc.split("::", 1)[1] if "::" in doc else doc
    lines = [
        line[4:] if line.startswith("    ") else line for line in tree.strip("\n").splitlines()
    ]
    return "```text\n" + "\n".join(lines).strip() + "\n```"
