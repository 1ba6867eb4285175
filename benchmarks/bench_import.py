"""Import: what a fresh process pays before it can do anything.

Each case is a separate ``python -c`` process, started alternately with its baseline, so
the figures include interpreter start-up as a user experiences it (``python -c pass`` is
the floor). ``import lmbatch`` loads its exports lazily; ``get_batch_operations`` loads
the core, discovers every installed provider plugin and builds the OpenAI provider, still
without importing the vendor SDK (that happens on the first network call).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

from benchmarks._harness import Result, alternate

_VENDOR_MODULES = ("openai", "anthropic", "httpx", "httpx2")


def _python(code: str) -> None:
    subprocess.run([sys.executable, "-c", code], check=True)


def vendor_modules_after(code: str) -> list[str]:
    """Vendor SDK modules present in ``sys.modules`` after running ``code``."""
    script = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {_VENDOR_MODULES})))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    found: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


_GET_OPS = (
    "import lmbatch; "
    "lmbatch.get_batch_operations('openai', model='gpt-4.1-mini', api_key='k', store=':memory:')"
)


def run(rounds: int) -> list[Result]:
    """Median wall time of each import case against its baseline."""
    cases: list[tuple[str, str, str, str, float | None]] = [
        ("import lmbatch", "import lmbatch", "pass", "python -c pass", 0.100),
        ("get_batch_operations('openai')", _GET_OPS, "import openai", "import openai", None),
    ]
    results = []
    for name, code, baseline_code, baseline_name, absolute in cases:
        ours, baseline = alternate(
            functools.partial(_python, code), functools.partial(_python, baseline_code), rounds
        )
        leaked = vendor_modules_after(code)
        results.append(
            Result(
                name=name,
                unit="run",
                items=1,
                ours=ours,
                baseline=baseline,
                absolute_target_s=absolute,
                notes=[f"baseline: {baseline_name}"]
                + ([f"vendor modules imported: {', '.join(leaked)}"] if leaked else []),
                extra={"vendor_modules": leaked},
            )
        )
    return results
