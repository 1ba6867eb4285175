"""A process running one ``invoke`` against the emulator, optionally killed mid-way.

Usage: python _child.py VENDOR BASE_URL STORE [STAGE]

STAGE names the moment this process SIGKILLs itself:

* ``planning`` — halfway through encoding the requests into a plan folder;
* ``before-submit`` — a chunk was claimed in the store, nothing sent yet;
* ``after-upload`` — (OpenAI) the input file was uploaded, no batch created;
* ``after-create`` — the vendor created the batch, its id not yet recorded;
* ``polling`` — the second status check;
* ``downloading`` — after the first result line was read.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

from tests.faults._harness import REQUESTS, VENDORS, make_operations


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(ops: Any, stage: str) -> None:
    if stage == "planning":
        original_encode = ops.encode_request
        encoded = {"n": 0}

        def encode(*args: Any) -> Any:
            encoded["n"] += 1
            if encoded["n"] == len(REQUESTS) // 2:
                die()
            return original_encode(*args)

        ops.encode_request = encode
    elif stage == "before-submit":

        async def submit(batch: Any) -> str:
            die()
            raise AssertionError("unreachable")

        ops.submit_batch = submit
    elif stage == "after-upload":
        client = ops._client()
        original_create = client.batches.create

        async def create(*args: Any, **kwargs: Any) -> Any:
            die()
            return await original_create(*args, **kwargs)

        # with_options() copies the client; patch the class method the copy will use.
        type(client.batches).create = lambda self, *a, **k: create(*a, **k)  # type: ignore[method-assign]
    elif stage == "after-create":
        original_submit = ops.submit_batch

        async def submit_then_die(batch: Any) -> str:
            await original_submit(batch)
            die()
            raise AssertionError("unreachable")

        ops.submit_batch = submit_then_die
    elif stage == "polling":
        original_fetch = ops.fetch_batch
        calls = {"n": 0}

        async def fetch(batch_id: str) -> Any:
            calls["n"] += 1
            if calls["n"] == 2:
                die()
            return await original_fetch(batch_id)

        ops.fetch_batch = fetch
    elif stage == "downloading":
        original_iter = ops.iter_result_records

        async def records(info: Any, context: Any) -> Any:
            async for record in original_iter(info, context):
                yield record
                die()

        ops.iter_result_records = records
    elif stage != "none":
        raise SystemExit(f"unknown stage {stage}")


async def main(vendor_name: str, base_url: str, store: str, stage: str) -> None:
    vendor = next(v for v in VENDORS if v.name == vendor_name)
    ops = make_operations(vendor, base_url, store)
    arm(ops, stage)
    async with ops:
        results = await ops.invoke(REQUESTS, status_check_interval=0.01, max_iterations=500)
    print(json.dumps({key: output.ok for key, output in results.items()}))


if __name__ == "__main__":
    stage = sys.argv[4] if len(sys.argv) > 4 else "none"
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], stage))
