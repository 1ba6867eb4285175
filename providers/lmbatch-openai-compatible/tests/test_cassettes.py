"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the emulator's generic server (``/compatible``), stored as ``https://llm.example.com/v1``.
See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from lmbatch_openai_compatible import OpenAICompatibleServerBatchOperations

from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

from .conftest import MODEL

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


class TestCompatibleServerCassettes(CassetteSuite):
    """A generic OpenAI-compatible server: a failed line is a server error (500)."""

    #: Recorded against the emulator's ``/compatible`` server, stored as a self-hosted
    #: gateway's traffic (``llm.example.com`` stands for any such server).
    vendor = CassetteVendor(
        provider=OpenAICompatibleServerBatchOperations,
        origin="https://llm.example.com",
        base_path="/v1",
        emulated_root="/compatible",
        live_key_variable="LMBATCH_LIVE_OPENAI_COMPATIBLE_KEY",
        options={"model": MODEL},
    )
    batch_id_prefix = "batch_"
    running_provider_statuses = ("validating", "in_progress")
    outcome_requests: ClassVar[Mapping[str, str]] = {
        "good": "Say hello",
        "broken": "x [[lmbatch:error=500]]",
        "never": "x [[lmbatch:expire]]",
    }
    expected_errors: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "broken": {"kind": "errored", "status_code": 500, "transient": True},
        "never": {"kind": "expired", "code": "batch_expired"},
    }
    list_page_size = 2
