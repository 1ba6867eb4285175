"""Where the vendor OpenAPI specs used by the tests live."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: The spec directory: ``$LMBATCH_SPECS_DIR`` if set, else the copies in ``specs/openapi``.
SPECS = Path(os.environ.get("LMBATCH_SPECS_DIR") or REPO / "specs" / "openapi")
