"""Run in a subprocess by test_memory.py: encode and stream back N requests, report RSS."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lmbatch import BatchInfo, BatchStatus, JobStore, LMOutput, ProviderLimits, TextOutput
from lmbatch._operations import ResultRecord
from lmbatch._planning import PreparedBatch
from lmbatch._status import empty_counts
from lmbatch.testing import FakeBatchOperations


class DiskBackedProvider(FakeBatchOperations):
    """Answers every request by streaming the input file into a results file on disk."""

    name = "diskfake"

    def __init__(self, directory: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory = directory
        self.limits = ProviderLimits(
            max_requests_per_batch=50_000,
            max_bytes_per_batch=200 * 1024 * 1024,
            custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
        )
        self.counts: dict[str, int] = {}

    async def _submit_batch(self, batch: PreparedBatch) -> str:
        batch_id = f"disk_{batch.job_id}_{batch.chunk_index}"
        with (self.directory / f"{batch_id}.jsonl").open("w") as out:
            for record in batch.iter_records():
                text = record["messages"][-1]["contents"][0]
                out.write(json.dumps({"custom_id": record["custom_id"], "text": text}) + "\n")
        self.counts[batch_id] = batch.request_count
        return batch_id

    async def _fetch_batch(self, batch_id: str) -> BatchInfo:
        counts = empty_counts(self.counts[batch_id])
        return BatchInfo(
            id=batch_id,
            provider=self.name,
            status=BatchStatus.FINISHED,
            provider_status="completed",
            created_at=None,
            request_counts=counts,
            model=None,
            metadata={},
            errors=[],
            raw={},
        )

    async def _iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        with (self.directory / f"{info['id']}.jsonl").open() as handle:
            for line in handle:
                row = json.loads(line)
                yield ResultRecord(
                    row["custom_id"], LMOutput(outputs=[TextOutput(text=row["text"])])
                )


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(count: int) -> None:
    work = Path(tempfile.mkdtemp())
    # Keys that break the id rule, so the key map is exercised at full size.
    requests = {
        f"document/{i} — part": f"Summarise document number {i} in one line." for i in range(count)
    }
    ops = DiskBackedProvider(work, store=JobStore(work / "jobs.sqlite3"))
    baseline = rss_mb()
    job_id = await ops.create(requests)
    seen = 0
    async for _key, output in ops.iter_results(job_id):
        seen += output.ok
    print(
        json.dumps(
            {
                "baseline_mb": baseline,
                "peak_mb": rss_mb(),
                "results": seen,
                "batches": len(ops.counts),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
