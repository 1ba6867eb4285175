"""The ``lmbatch`` command line (also ``python -m lmbatch``).

Only the console script imports this package: ``import lmbatch`` never pulls in typer
or rich. They come with the ``cli`` extra; without it, :func:`main` says how to install
it and exits 1 instead of failing with a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["INSTALL_COMMAND", "main"]

#: The command that installs what the command line needs.
INSTALL_COMMAND = "pip install 'lmbatch[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lmbatch`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Without the ``cli`` extra (typer, rich), print the command that installs it to stderr
    and return 1.
    """
    try:
        # Checked here, before the app is imported, so a missing extra is one clear line.
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError as exc:
        print(
            f"The lmbatch command line needs the 'cli' extra ({exc}).\n"
            f"Install it with: {INSTALL_COMMAND}",
            file=sys.stderr,
        )
        return 1
    from lmbatch.cli._app import run

    return run(argv)
