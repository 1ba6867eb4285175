"""``python -m lmbatch``: the same as the ``lmbatch`` command."""

from __future__ import annotations

from lmbatch.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
