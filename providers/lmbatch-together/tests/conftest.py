"""Fixtures of the Together provider tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_together_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's Together settings by accident."""
    for name in ("TOGETHER_API_KEY", "TOGETHER_BASE_URL", "LMBATCH_TOGETHER_MODEL"):
        monkeypatch.delenv(name, raising=False)
