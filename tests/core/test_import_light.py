"""`import lmbatch` stays light: no vendor SDK, no HTTP client, no CLI toolkit."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_lmbatch_imports_no_vendor_sdk_or_http_client() -> None:
    code = (
        "import json, sys, lmbatch, lmbatch.testing;"
        "heavy = ('openai', 'anthropic', 'httpx', 'requests', 'aiohttp', 'typer', 'rich',"
        " 'starlette', 'uvicorn');"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
