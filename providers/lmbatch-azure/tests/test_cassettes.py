"""Recorded traffic: every operation replays from ``cassettes/`` here with no network.

Replay is the default. ``--record-mode=once`` (after deleting a cassette) re-records against
the emulator's Azure resource (``/azure``), stored as the resource
``https://lmbatch-test.openai.azure.com``. See ``cassettes/README.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from lmbatch_azure import AzureBatchOperations

from lmbatch.provider import BatchInfo
from lmbatch.testing.cassette_suite import CassetteSuite
from lmbatch.testing.cassettes import CassetteVendor

from .conftest import API_VERSION, DEPLOYMENT, MODEL

pytestmark = [pytest.mark.vcr, pytest.mark.timeout(120)]


class TestAzureCassettes(CassetteSuite):
    """Azure OpenAI: the GA API (the deployment on every line, ``expires_after`` on the
    upload) and, for ``invoke``, the classic one too; list in pages of two."""

    #: Recorded against the emulator's ``/azure`` resource, stored as a resource
    #: ``lmbatch-test`` of Azure OpenAI; ``endpoint`` is the option taking its URL. Never
    #: recorded live: a live resource's name would end up in the cassettes.
    vendor = CassetteVendor(
        provider=AzureBatchOperations,
        origin="https://lmbatch-test.openai.azure.com",
        emulated_root="/azure",
        options={"model": MODEL, "deployment": DEPLOYMENT},
        base_url_option="endpoint",
    )
    batch_id_prefix = "batch_"
    list_page_size = 2
    #: The GA ``/openai/v1/`` API (bearer key), and the classic one (``api-key`` header,
    #: ``?api-version=`` on every call, ``/chat/completions`` lines).
    invoke_variants: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "ga": {},
        "classic": {"api_version": API_VERSION},
    }

    def check_running(self, info: BatchInfo) -> None:
        assert info["expires_at"] is None  # Azure does not expire late batches at 24 h
