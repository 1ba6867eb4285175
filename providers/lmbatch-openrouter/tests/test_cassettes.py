"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the OpenRouter emulator, stored with OpenRouter's host; with ``LMBATCH_LIVE_OPENROUTER_KEY``
set it records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar

import pytest
from lmbatch_openrouter import OpenRouterBatchOperations

from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]

#: Recorded against the emulator's ``/openrouter`` (or live), stored as OpenRouter's own
#: traffic; terminal batches carry their ``results``.
CASSETTES = CassetteVendor(
    provider=OpenRouterBatchOperations,
    origin="https://openrouter.ai",
    base_path="/api/v1",
    emulated_root="/openrouter",
    live_key_variable="LMBATCH_LIVE_OPENROUTER_KEY",
    options={"model": "openai/gpt-4.1-mini"},
)
#: The same, with results served only by ``GET /batches/{id}/results`` in pages of two.
PAGED_RESULTS = replace(
    CASSETTES,
    emulator_settings={
        "mode": "polls",
        "openrouter_inline_results": False,
        "openrouter_results_page_size": 2,
    },
)


class TestOpenRouterCassettes(CassetteSuite):
    """OpenRouter: one JSON body on create (``endpoint`` and ``model`` before
    ``requests``; answered 202); results inline in the terminal batch, a failed request as
    an ``error`` item with a canonical ``error_type``; no cancel; ``limit`` list pages,
    ``after`` the previous page's ``last_id`` while ``has_more``."""

    vendor = CASSETTES
    create_provider_options: ClassVar[Mapping[str, Any]] = {
        "providers": ["openai"],
        "allow_fallbacks": False,
    }
    finished_provider_status = "completed"  # and ended_at is finalized_at
    expected_errors: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "limited": {"kind": "errored", "code": "rate_limit_exceeded", "transient": True},
        "never": {"kind": "expired", "code": "batch_expired"},
    }
    supports_cancel = False
    list_page_size = 2

    async def test_retrieve_paged_results(self, record_mode: str) -> None:
        """Results from ``GET /batches/{id}/results``, following ``next_cursor``."""
        requests = {f"k{i}": f"Say {i}" for i in range(5)}
        with PAGED_RESULTS.target(record_mode) as target:
            async with target.operations() as ops:
                batch_id = await ops.create(requests, {"max_tokens": 20})
                await target.wait(ops, batch_id)
                results = await ops.retrieve(batch_id)
        assert {key: out.text for key, out in results.items()} == {
            key: f"echo: {prompt}" for key, prompt in requests.items()
        }
