"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the Together emulator, stored with Together's host; with ``LMBATCH_LIVE_TOGETHER_KEY`` set
it records the live API instead. See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from lmbatch_together import TogetherBatchOperations

from lmbatch.provider import BatchInfo
from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

from .conftest import MODEL

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


class TestTogetherCassettes(CassetteSuite):
    """Together: the signed-URL upload (302, PUT, preprocess), then ``{"job": ...}`` on
    create; upper-case statuses, ``progress`` instead of counts, ISO 8601 times; output and
    error files of an ``EXPIRED`` job; one unpaginated list array."""

    #: Recorded against the emulator's ``/together`` (or live), stored as Together's own
    #: traffic; the signed upload URL (a 302 ``Location``) is rewritten the same way.
    vendor = CassetteVendor(
        provider=TogetherBatchOperations,
        origin="https://api.together.ai",
        emulated_root="/together",
        live_key_variable="LMBATCH_LIVE_TOGETHER_KEY",
        options={"model": MODEL},
    )
    create_provider_options: ClassVar[Mapping[str, Any]] = {"priority": 1}
    running_provider_statuses = ("VALIDATING", "IN_PROGRESS")
    finished_provider_status = "COMPLETED"
    counts_succeeded = False
    cancels_every_request = True

    def check_running(self, info: BatchInfo) -> None:
        assert info["expires_at"] is not None  # job_deadline

    def check_finished(self, info: BatchInfo) -> None:
        assert info["raw"]["progress"] == 100
