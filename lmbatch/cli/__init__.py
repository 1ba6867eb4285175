"""The ``lmbatch`` command line (also ``python -m lmbatch``).

Only the console script imports this package: ``import lmbatch`` never pulls in typer
or rich.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lmbatch`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    from lmbatch.cli._app import run

    return run(argv)
