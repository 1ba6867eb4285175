"""One step of core's job machinery, for provider tests that check how it meets a vendor."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch._store import JobRecord

__all__ = ["reconcile_chunks"]


async def reconcile_chunks(operations: BatchOperations, job: JobRecord, chunks: list[int]) -> None:
    """Settle chunks of ``job`` whose create call was interrupted, as a re-run would.

    What ``invoke``/``resume`` do before sending anything again: find the batch the
    interrupted create made (the provider's ``find_submitted_batch``, or core's search of
    ``list_batches_page``) and adopt it, or record that none was made. It never waits.

    Raises:
        SubmissionAmbiguousError: lmbatch cannot prove which batch, if any, is a chunk's.
    """
    from lmbatch._jobs._reconcile import reconcile_chunks as reconcile

    await reconcile(operations._jobs, job, chunks)
