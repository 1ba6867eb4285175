"""Speed of lmbatch's own work, as ratios against a baseline measured in the same run.

Run with ``python3 dev.py bench`` (or ``.venv/bin/python benchmarks/bench_pipeline.py``).
Nothing here asserts timings: machines are noisy, so results are reported as ratios to a
plain-Python baseline doing the least work that the same job needs.

* encode: validating and encoding N requests into split JSONL files (core planning with
  the OpenAI Responses encoder) against ``json.dumps`` of ready-made request bodies
  written to one file;
* decode: reading N result lines back into ``LMOutput`` (core + OpenAI decoder) against
  ``json.loads`` of the same lines.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lmbatch_openai import OpenAIBatchOperations
from lmbatch_openai._decoding import decode_line

from lmbatch import Hyperparameters
from lmbatch._keys import map_custom_ids
from lmbatch._planning import plan_batches


def best_of(repeat: int, work: Callable[[], object]) -> float:
    """Fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count = args.requests
    ops = OpenAIBatchOperations(model="gpt-4.1-mini", api_key="bench", store=":memory:")
    requests = {f"doc-{i}": f"Summarise document {i} in one sentence." for i in range(count)}
    params = Hyperparameters.from_mapping({"max_tokens": 100, "temperature": 0})
    custom_ids = map_custom_ids(requests, ops.limits)
    scratch = Path(tempfile.mkdtemp(prefix="lmbatch-bench-"))

    def lmbatch_encode() -> None:
        plan = plan_batches(
            requests,
            custom_ids,
            params,
            limits=ops.limits,
            encode=ops._encode_request,
            check=ops._validate_request,
            fingerprint_salt="bench",
            spool_root=scratch,
        )
        plan.cleanup()

    bodies = [
        {
            "custom_id": key,
            "method": "POST",
            "url": "/v1/responses",
            "body": {"model": "gpt-4.1-mini", "input": text, "max_output_tokens": 100},
        }
        for key, text in requests.items()
    ]

    def baseline_encode() -> None:
        with (scratch / "baseline.jsonl").open("w") as handle:
            for body in bodies:
                handle.write(json.dumps(body) + "\n")

    lines = [
        json.dumps(
            {
                "id": f"batch_req_{i}",
                "custom_id": f"doc-{i}",
                "response": {
                    "status_code": 200,
                    "request_id": f"req_{i}",
                    "body": {
                        "id": f"resp_{i}",
                        "object": "response",
                        "status": "completed",
                        "model": "gpt-4.1-mini",
                        "output": [
                            {
                                "type": "message",
                                "id": f"msg_{i}",
                                "role": "assistant",
                                "status": "completed",
                                "content": [
                                    {
                                        "type": "output_text",
                                        "text": f"Summary {i}.",
                                        "annotations": [],
                                    }
                                ],
                            }
                        ],
                        "usage": {
                            "input_tokens": 12,
                            "input_tokens_details": {"cached_tokens": 0},
                            "output_tokens": 3,
                            "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": 15,
                        },
                    },
                },
                "error": None,
            }
        )
        for i in range(count)
    ]

    def lmbatch_decode() -> None:
        for line in lines:
            decode_line(line, "/v1/responses", False)

    def baseline_decode() -> None:
        for line in lines:
            json.loads(line)

    print(f"{count:,} requests, best of {args.repeat}")
    for name, ours, baseline in (
        ("encode", lmbatch_encode, baseline_encode),
        ("decode", lmbatch_decode, baseline_decode),
    ):
        mine = best_of(args.repeat, ours)
        base = best_of(args.repeat, baseline)
        print(
            f"  {name}: {mine / count * 1e6:7.1f} µs/request, "
            f"{mine / base:5.1f}× the plain-json baseline"
        )


if __name__ == "__main__":
    main()
