"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Mistral emulator, stored with Mistral's host; with ``LMBATCH_LIVE_MISTRAL_KEY`` set it
records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from lmbatch_mistral import MistralBatchOperations

from lmbatch import BatchStatus, LMOutput
from lmbatch.provider import BatchOperations
from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]

_MODES = {"file": {"input": "file"}, "inline": {"input": "inline"}}


class TestMistralCassettes(CassetteSuite):
    """Mistral: input by file or inline; ``page``/``page_size`` list pages, newest first,
    until ``total`` is reached; a job that ran out of time is ``TIMEOUT_EXCEEDED`` and
    writes no line for a request it never ran."""

    #: Recorded against the emulator's ``/mistral`` (or live), stored as Mistral's own
    #: traffic (the SDK adds ``/v1`` to the base URL itself).
    vendor = CassetteVendor(
        provider=MistralBatchOperations,
        origin="https://api.mistral.ai",
        emulated_root="/mistral",
        live_key_variable="LMBATCH_LIVE_MISTRAL_KEY",
        options={"model": "mistral-small-latest"},
    )
    create_variants = _MODES
    create_options: ClassVar[Mapping[str, Any]] = {"max_tokens": 20, "temperature": 0.2, "seed": 7}
    finished_provider_status = "SUCCESS"
    expired_provider_status = "TIMEOUT_EXCEEDED"
    expected_errors: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "limited": {"kind": "errored", "status_code": 429, "transient": True},
        "never": {"kind": "expired"},
    }
    cancels_every_request = True
    statuses_after_cancel = (BatchStatus.CANCELING, BatchStatus.CANCELLED)
    list_page_size = 2
    invoke_variants: ClassVar[Mapping[str, Mapping[str, Any]]] = _MODES

    async def check_created(self, ops: BatchOperations, batch_id: str) -> None:
        info = await ops.info(batch_id)
        assert info["provider_status"] in ("QUEUED", "RUNNING")
        assert info["request_counts"]["total"] == 2

    def check_invoked(self, results: Mapping[str, LMOutput]) -> None:
        usage = results["q1"].token_usage
        assert usage is not None
        assert usage.output_tokens > 0
