"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Groq emulator, stored with Groq's host; with ``LMBATCH_LIVE_GROQ_KEY`` set it records
the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from lmbatch_groq import GroqBatchOperations

from lmbatch import LMOutput
from lmbatch.provider import BatchInfo
from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

from .conftest import MODEL

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


class TestGroqCassettes(CassetteSuite):
    """Groq: a batch object with ``project_id`` and no usage; one-page list."""

    #: Recorded against the emulator's ``/groq`` (or live), stored as Groq's own traffic.
    vendor = CassetteVendor(
        provider=GroqBatchOperations,
        origin="https://api.groq.com",
        base_path="/openai/v1",
        emulated_root="/groq",
        live_key_variable="LMBATCH_LIVE_GROQ_KEY",
        options={"model": MODEL},
    )
    batch_id_prefix = "batch_"
    create_provider_options: ClassVar[Mapping[str, Any]] = {"completion_window": "3d"}
    status_provider_options: ClassVar[Mapping[str, Any]] = {"completion_window": "7d"}
    expected_errors: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "limited": {"kind": "errored", "status_code": 429},
        "never": {"kind": "expired", "code": "batch_expired"},
    }

    def check_running(self, info: BatchInfo) -> None:
        assert info["raw"]["project_id"]  # Groq's batch object: project_id, no usage
        assert info["raw"].get("usage") is None
        assert info["expires_at"] is not None
        assert (info["expires_at"] - info["created_at"]).days == 7

    def check_outcomes(self, results: Mapping[str, LMOutput]) -> None:
        """Answers carry Groq's extras."""
        good = results["good"]
        assert good.finish_details["groq_request_id"].startswith("req_01")
        assert set(good.finish_details["timings"]) == {
            "queue_time",
            "prompt_time",
            "completion_time",
            "total_time",
        }
        assert good.token_usage is not None
        assert good.token_usage.output_tokens > 0
