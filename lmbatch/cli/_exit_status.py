"""Exit status 3 when some keys failed, for every command that writes a job's results.

``run`` (request files and tables), ``wait -o``, ``results`` and ``resume`` write every
result and then exit :data:`~lmbatch.cli._errors.EXIT_SOME_FAILED` when any key failed,
so that a script cannot take a mostly failed batch for a success; ``--allow-failures``
makes that 0.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lmbatch.cli._errors import EXIT_SOME_FAILED
from lmbatch.cli._results_file import ResultsSummary

__all__ = ["AllowFailuresOption", "exit_for_failures"]

AllowFailuresOption = Annotated[
    bool,
    typer.Option(
        "--allow-failures",
        help=f"Exit 0 even when some keys failed (by default the command exits "
        f"{EXIT_SOME_FAILED} then, after writing every result).",
    ),
]


def exit_for_failures(summary: ResultsSummary, allow_failures: bool) -> None:
    """Exit with :data:`EXIT_SOME_FAILED` when some written results failed, unless allowed.

    Raises:
        typer.Exit: Some keys failed and ``allow_failures`` is false.
    """
    failed = summary.total - summary.outcomes["ok"]
    if failed and not allow_failures:
        raise typer.Exit(EXIT_SOME_FAILED)
