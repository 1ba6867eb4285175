"""Estimate: pricing a file of prompts before submitting it, against a hand-written loop.

lmbatch's side is ``ops.estimate``: validate every request, count input tokens (the
offline approximation), bound output by ``max_tokens``, and price both with and without
the batch discount (the price lookup included). The baseline is the shortest loop a user
would write: characters / 4 times a hard-coded price. The issue's bar is "well under a
second for 10,000 prompts", kept as an absolute target.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from benchmarks._harness import Result, alternate
from benchmarks.workload import MAX_TOKENS, MODEL_OPENAI, make_workload
from lmbatch import get_batch_operations

#: gpt-4.1-mini list prices, USD per million tokens (the baseline's hard-coded table).
_INPUT, _OUTPUT = 0.40, 1.60


def run(n: int, rounds: int) -> list[Result]:
    """Median time of one estimate of ``n`` prompts against the baseline loop."""
    workload = make_workload(n)
    prompts = {record.key: record.prompt for record in [*workload.plain, *workload.structured]}
    params: dict[str, Any] = {"max_tokens": MAX_TOKENS}
    ops = get_batch_operations("openai", model=MODEL_OPENAI, api_key="bench", store=":memory:")

    def ours() -> object:
        return asyncio.run(ops.estimate(prompts, params))

    def baseline() -> object:
        tokens = sum(math.ceil(len(text) / 4) for text in prompts.values())
        return (tokens * _INPUT + len(prompts) * MAX_TOKENS * _OUTPUT) / 1e6 / 2

    ours_s, baseline_s = alternate(ours, baseline, rounds)
    return [
        Result(
            name=f"estimate {len(prompts):,} prompts",
            unit="prompt",
            items=len(prompts),
            ours=ours_s,
            baseline=baseline_s,
            absolute_target_s=1.0,
            notes=["baseline: characters / 4 times a hard-coded price"],
        )
    ]
