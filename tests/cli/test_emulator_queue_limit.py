"""`lmbatch emulator --enqueued-token-limit`: the batch queue cap, from the command line."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Invoke


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Capture what `lmbatch emulator` would serve, instead of serving it."""
    emulator = pytest.importorskip("lmbatch.testing.emulator")
    calls: list[Any] = []
    monkeypatch.setattr(emulator, "serve", lambda **kwargs: calls.append(kwargs["settings"]))
    return calls


def test_the_emulator_takes_an_enqueued_token_limit(lmbatch: Invoke, served: list[Any]) -> None:
    outcome = lmbatch("emulator", "--enqueued-token-limit", "2000000")
    assert outcome.exit_code == 0, outcome.stderr
    (settings,) = served
    # Every vendor of the OpenAI protocol is capped; the others have no such option.
    assert settings.vendor_options["openai"] == {"enqueued_token_limit": 2_000_000}
    assert settings.vendor_options["azure"] == {"enqueued_token_limit": 2_000_000}
    assert "anthropic" not in settings.vendor_options
    assert "enqueued-token limit 2,000,000 per model" in outcome.stderr


@pytest.mark.parametrize("value", ["0", "lots"])
def test_a_bad_enqueued_token_limit_names_the_option(
    lmbatch: Invoke, served: list[Any], value: str
) -> None:
    outcome = lmbatch("emulator", "--enqueued-token-limit", value)
    assert outcome.exit_code == 2
    assert "--enqueued-token-limit" in outcome.stderr
    assert served == []
