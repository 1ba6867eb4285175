"""MkDocs hook: fill generated sections so the docs follow the code.

Markers replaced in page Markdown:

* ``<!-- lmbatch:provider-options -->``: every option of every installed provider, from
  the providers' settings models.
* ``<!-- lmbatch:provider-options NAME -->``: the options of provider ``NAME`` alone (a
  provider's own page).
* ``<!-- lmbatch:providers-table -->``: the providers compared, from their declarations
  (methods, limits, discount, ...).
* ``<!-- lmbatch:provider-interface -->``: the version of ``lmbatch.provider`` and its
  compatibility promise, from that module.
* ``<!-- lmbatch:cli-reference -->``: the ``--help`` of every ``lmbatch`` command.
* ``<!-- lmbatch:error-tree -->``: the error tree drawn in ``lmbatch._errors``.

"Installed providers" are those the plugin registry finds (``available_providers()``),
so a provider added to the repository (or installed beside it) is documented without
editing anything here; the docs' own example plugins (``docs/examples/*``) are left out.

The navigation gets a "Providers" section: the ``providers/index.md`` entry of
``mkdocs.yml`` becomes a section holding that page and every other page under
``docs/providers/``, in the order of their file names (the provider names), each titled
by its first heading, so a vendor's page appears without editing ``mkdocs.yml``.
"""

from __future__ import annotations

import html
import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.nav import Navigation

    from lmbatch import ProviderEntry

PROVIDER_OPTIONS = "<!-- lmbatch:provider-options -->"
ONE_PROVIDER_OPTIONS = re.compile(r"<!-- lmbatch:provider-options ([\w-]+) -->")
PROVIDERS_TABLE = "<!-- lmbatch:providers-table -->"
PROVIDER_INTERFACE = "<!-- lmbatch:provider-interface -->"
CLI_REFERENCE = "<!-- lmbatch:cli-reference -->"
ERROR_TREE = "<!-- lmbatch:error-tree -->"
DOCS = Path(__file__).resolve().parents[1]
#: Where the docs' example plugins live: installed for the tests, not documented as providers.
EXAMPLES = DOCS / "examples"
#: The folder of per-provider pages, and its index (the providers compared).
PROVIDERS_DIR = "providers/"
PROVIDERS_INDEX = "providers/index.md"
PROVIDERS_SECTION = "Providers"
PROVIDERS_INDEX_TITLE = "All providers"


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """Replace the generated-section markers of a page."""
    if PROVIDER_OPTIONS in markdown:
        markdown = markdown.replace(PROVIDER_OPTIONS, provider_options())
    markdown = ONE_PROVIDER_OPTIONS.sub(
        lambda found: provider_options((found.group(1),), headings=False), markdown
    )
    if PROVIDERS_TABLE in markdown:
        markdown = markdown.replace(PROVIDERS_TABLE, providers_table())
    if PROVIDER_INTERFACE in markdown:
        markdown = markdown.replace(PROVIDER_INTERFACE, provider_interface())
    if CLI_REFERENCE in markdown:
        markdown = markdown.replace(CLI_REFERENCE, cli_reference())
    if ERROR_TREE in markdown:
        markdown = markdown.replace(ERROR_TREE, error_tree())
    return markdown


# -- installed providers -----------------------------------------------------------------


def documented_providers() -> list[ProviderEntry]:
    """Every installed provider that loads, vendors by name first, core's own (``fake``) last.

    Providers of the docs' example plugins (``docs/examples/*``) are not documented here:
    the tutorial does that.
    """
    from lmbatch import available_providers

    found = []
    for entry in available_providers():
        cls = entry.operations_class
        if entry.status != "ok" or cls is None:
            continue
        source = inspect.getsourcefile(cls)
        if source is not None and Path(source).resolve().is_relative_to(EXAMPLES):
            continue
        found.append(entry)
    return sorted(found, key=lambda entry: (entry.distribution == "lmbatch", entry.name))


def provider_page(name: str) -> str | None:
    """The docs page of provider ``name`` (``providers/<name>.md``), if there is one."""
    return f"{name}.md" if (DOCS / PROVIDERS_DIR / f"{name}.md").is_file() else None


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
    """A section per provider (by default every installed one) with its options."""
    from lmbatch import JobOptions, available_providers

    job_options = set(JobOptions.model_fields)
    entries = {entry.name: entry for entry in available_providers()}
    if names is None:
        names = tuple(entry.name for entry in documented_providers())
    sections: list[str] = []
    for name in names:
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


# -- providers compared ------------------------------------------------------------------


def _rst_to_markdown(text: str) -> str:
    """Inline reStructuredText of a docstring as Markdown (````x```` and roles)."""
    text = re.sub(r":(?:class|func|meth|data|attr|mod|exc):`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _size(count: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"


def _methods(supported: frozenset[str]) -> str:
    from lmbatch.provider import ALL_METHODS

    # The order users meet them in (create first), not alphabetical.
    order = ["create", "status", "info", "retrieve", "list", "cancel", "invoke"]
    order += sorted(ALL_METHODS - set(order))
    missing = [method for method in order if method not in supported]
    if not missing:
        return "all"
    return "all but " + ", ".join(f"`{method}`" for method in missing)


def _window(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    hours = seconds / 3600
    return f"{hours:g} h"


def _declared(cls: type, attribute: str, missing: str = "–") -> str:
    """A declarative class attribute that not every provider has (newer interfaces)."""
    value = getattr(cls, attribute, None)
    if not value:
        return missing
    values = [value] if isinstance(value, str) else list(value)
    return ", ".join(f"`{item}`" for item in values)


def providers_table() -> str:
    """One row per installed provider, from what its class declares."""
    rows = [
        "| provider | what | package | API key from | methods | requests / batch "
        "| bytes / batch | batch discount | ends within | endpoints |",
        "|---|---|---|---|---|--:|--:|--:|--:|---|",
    ]
    for entry in documented_providers():
        cls = entry.operations_class
        assert cls is not None
        page = provider_page(entry.name)
        name = f"[`{entry.name}`]({page})" if page else f"`{entry.name}`"
        what = _rst_to_markdown((cls.__doc__ or "").strip().splitlines()[0])
        what = re.sub(r"\s*\(provider name [^)]*\)", "", what)  # the first column says it
        package = f"`{entry.distribution}` {entry.version or ''}".strip()
        if entry.distribution == "lmbatch":
            package = "built in (`lmbatch.testing`)"
        limits = cls.limits
        discount = f"{cls.batch_discount:.0%}" if cls.batch_discount else "none declared"
        key = _declared(cls, "api_key_env", "not declared")
        rows.append(
            f"| {name} | {_escape(what)} | {package} | {key} "
            f"| {_methods(cls.supported_methods)} "
            f"| {limits.max_requests_per_batch:,} | {_size(limits.max_bytes_per_batch)} "
            f"| {discount} | {_window(cls.completion_window)} "
            f"| {_escape(_declared(cls, 'endpoints'))} |"
        )
    return "\n".join(rows)


# -- the provider interface --------------------------------------------------------------


def provider_interface() -> str:
    """The interface version and the compatibility promise of ``lmbatch.provider``."""
    import lmbatch.provider as provider

    doc = inspect.cleandoc(provider.__doc__ or "")
    promise = doc[doc.index("Compatibility promise:") :]
    text, _, example = promise.partition("::\n")
    parts = [
        f"`lmbatch.provider` is at version **{provider.PROVIDER_INTERFACE_VERSION}**.\n",
        _rst_to_markdown(text.strip()) + ":\n",
    ]
    if example.strip():
        parts += ["```python", inspect.cleandoc(example), "```"]
    return "\n".join(parts)


# -- navigation --------------------------------------------------------------------------


def _first_heading(path: Path) -> str | None:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return None


def _remove_pages(items: list[Any], pages: set[int]) -> list[Any]:
    """``items`` without the pages whose ``id()`` is in ``pages``, and without sections
    that held only them (pages compare by value and are not hashable)."""
    from mkdocs.structure.nav import Section

    kept: list[Any] = []
    for item in items:
        if id(item) in pages:
            continue
        if isinstance(item, Section):
            item.children = _remove_pages(item.children, pages)
            if not item.children:
                continue
        kept.append(item)
    return kept


def _replace(items: list[Any], old: Any, new: Any) -> bool:
    """Put ``new`` where ``old`` is in the navigation tree; whether it was there."""
    from mkdocs.structure.nav import Section

    for position, item in enumerate(items):
        if item is old:
            items[position] = new
            return True
        if isinstance(item, Section) and _replace(item.children, old, new):
            return True
    return False


def _flatten(items: list[Any], parent: Any = None) -> list[Any]:
    """Every page of the navigation in reading order, with parent links set."""
    from mkdocs.structure.nav import Section
    from mkdocs.structure.pages import Page

    pages: list[Any] = []
    for item in items:
        item.parent = parent
        if isinstance(item, Page):
            pages.append(item)
        elif isinstance(item, Section):
            pages += _flatten(item.children, item)
    return pages


def on_nav(nav: Navigation, config: MkDocsConfig, files: Files) -> Navigation:
    """Turn the ``providers/index.md`` entry into a section of every provider page."""
    from mkdocs.structure.nav import Section

    docs_dir = Path(config.docs_dir)
    index = files.get_file_from_path(PROVIDERS_INDEX)
    vendor_files = [
        file
        for file in files.documentation_pages()
        if file.src_uri.startswith(PROVIDERS_DIR) and file.src_uri != PROVIDERS_INDEX
    ]
    if index is None or index.page is None:
        return nav
    vendor_pages = []
    for file in sorted(vendor_files, key=lambda file: file.src_uri):
        if file.page is not None:
            file.page.title = _first_heading(docs_dir / file.src_path) or file.name
            vendor_pages.append(file.page)
    index_page = index.page
    # Wherever mkdocs.yml placed these pages, they live in the section only (no duplicates).
    items = _remove_pages(nav.items, {id(page) for page in vendor_pages})
    index_page.title = PROVIDERS_INDEX_TITLE
    section = Section(PROVIDERS_SECTION, [index_page, *vendor_pages])
    if not _replace(items, index_page, section):
        items.append(section)  # mkdocs.yml does not list the index: the section goes last
    nav.items = items
    nav.pages = _flatten(items)
    for previous, current in zip([None, *nav.pages], nav.pages, strict=False):
        current.previous_page = previous
        if previous is not None:
            previous.next_page = current
    if nav.pages:
        nav.pages[-1].next_page = None
    return nav


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
