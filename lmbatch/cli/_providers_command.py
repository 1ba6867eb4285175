"""``lmbatch providers``: what is installed, whether it works, and which one is selected."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from lmbatch._config import load_config
from lmbatch._errors import ConfigError
from lmbatch._plugins import DISTRIBUTION_PREFIX, ProviderEntry, registry
from lmbatch.cli._errors import reporting_errors
from lmbatch.cli._options import JsonOption, VerboseOption
from lmbatch.cli._progress import stderr_console
from lmbatch.cli._render import stdout_console, to_json

__all__ = ["providers_command"]


def _selected() -> tuple[str | None, str]:
    """The provider configuration selects, and where that comes from."""
    from_env = os.environ.get("LMBATCH_PROVIDER")
    if from_env:
        return from_env, "$LMBATCH_PROVIDER"
    config = load_config()
    if config.provider:
        return config.provider, str(config.source)
    return None, "nothing selects one"


def _limits(entry: ProviderEntry) -> dict[str, Any] | None:
    if entry.operations_class is None:
        return None
    limits = entry.operations_class.limits
    return {
        "max_requests_per_batch": limits.max_requests_per_batch,
        "max_bytes_per_batch": limits.max_bytes_per_batch,
        "custom_id_pattern": limits.custom_id_pattern,
        "custom_id_max_length": limits.custom_id_max_length,
    }


def _entry_json(entry: ProviderEntry, selected: str | None) -> dict[str, Any]:
    return {
        "name": entry.name,
        "distribution": entry.distribution,
        "version": entry.version,
        "status": entry.status,
        "reason": entry.reason,
        "limits": _limits(entry),
        "selected": entry.name == selected,
    }


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024:
            return f"{count:g} {unit}"
        count //= 1024
    return f"{count} TB"


#: Built-in providers for tests and examples, listed only with --all (or when selected).
HIDDEN_PROVIDERS = frozenset({"fake"})

AllOption = Annotated[
    bool,
    typer.Option("--all", "-a", help="Also list the built-in test provider (fake)."),
]


def providers_command(
    show_all: AllOption = False, json_output: JsonOption = False, verbose: VerboseOption = False
) -> None:
    """List installed providers: version, status (ok, or broken and why), limits, selection.

    The selected provider is the one commands use without --provider: $LMBATCH_PROVIDER,
    else "provider" in lmbatch.toml or [tool.lmbatch] of pyproject.toml. The built-in
    "fake" provider (for tests) is listed with --all, or when it is the selected one.

    Examples:

        lmbatch providers

        lmbatch providers --all --json
    """
    with reporting_errors(verbose=verbose, json_output=json_output):
        try:
            selected, source = _selected()
        except ConfigError as exc:
            selected, source = None, f"config error: {exc}"
        entries = [
            entry
            for entry in registry.entries()
            if show_all or entry.name not in HIDDEN_PROVIDERS or entry.name == selected
        ]
        if json_output:
            print(
                to_json(
                    {
                        "selected": selected,
                        "selected_by": source,
                        "providers": [_entry_json(entry, selected) for entry in entries],
                    }
                )
            )
            return
        table = Table()
        for column in ("provider", "version", "status", "requests/batch", "bytes/batch", ""):
            table.add_column(column)
        for entry in entries:
            limits = _limits(entry)
            status = (
                Text("ok", style="green")
                if entry.status == "ok"
                else Text(f"broken: {entry.reason}", style="red")
            )
            table.add_row(
                entry.name,
                entry.version or "",
                status,
                f"{limits['max_requests_per_batch']:,}" if limits else "",
                _size(limits["max_bytes_per_batch"]) if limits else "",
                Text("selected", style="bold") if entry.name == selected else "",
            )
        stdout_console().print(table)
        console = stderr_console()
        console.print(f"selected provider: {selected or 'none'} ({source})")
        # Providers are discovered, not listed in core: say how plugins are named instead.
        console.print(
            f"more: pip install {DISTRIBUTION_PREFIX}<provider>", markup=False, highlight=False
        )
