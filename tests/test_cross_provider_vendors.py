"""One script on every OpenAI-shaped vendor: only ``provider = ...`` in lmbatch.toml changes.

The script of :mod:`tests.test_cross_provider` runs against the emulator on OpenAI, Together,
Groq, Azure OpenAI, a named OpenAI-compatible server, OpenRouter and Mistral, each configured in one
``lmbatch.toml``; what comes back has the same shape everywhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from lmbatch.testing.emulator import Emulator
from tests.test_cross_provider import script

pytestmark = pytest.mark.timeout(180)

VENDORS = ["together", "groq", "azure", "openai-compatible", "openrouter", "mistral"]
#: What a vendor without cancel cannot show (the script skips cancelling there).
CANCEL_SHAPE = ("cancelled_status", "cancelled_keys", "cancelled_kinds_allowed")


def config(emulator: Emulator) -> str:
    """Every vendor's table, pointed at the emulator (the file is trusted in this test)."""
    return f"""
[providers.openai]
model = "gpt-4.1-mini"
base_url = "{emulator.openai_base_url}"

[providers.together]
model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
base_url = "{emulator.together_base_url}"

[providers.groq]
model = "llama-3.1-8b-instant"
base_url = "{emulator.groq_base_url}"
completion_window = "48h"

[providers.azure]
model = "gpt-4.1-mini"
deployment = "gpt-4-1-mini-batch"
endpoint = "{emulator.azure_base_url}"

[providers.selfhosted]
type = "openai-compatible"
model = "meta-llama/Llama-3.3-70B-Instruct"
base_url = "{emulator.base_url_for("openai-compatible")}"
api_key_env = "SELFHOSTED_KEY"

[providers.openrouter]
model = "openai/gpt-4.1-mini"
base_url = "{emulator.base_url_for("openrouter")}"

[providers.mistral]
model = "mistral-small-latest"
base_url = "{emulator.base_url_for("mistral")}"
"""


@pytest.fixture
def trusted_config(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("LMBATCH_PROVIDER", "LMBATCH_MODEL", "LMBATCH_STORE", "LMBATCH_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMBATCH_TRUST_CONFIG", "1")
    for name in (
        "OPENAI_API_KEY",
        "TOGETHER_API_KEY",
        "GROQ_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "SELFHOSTED_KEY",
        "OPENROUTER_API_KEY",
        "MISTRAL_API_KEY",
    ):
        monkeypatch.setenv(name, "test")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "lmbatch.toml"


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_same_script_gives_the_same_shapes_as_on_openai(
    vendor: str, trusted_config: Path, emulator: Emulator
) -> None:
    distribution = f"lmbatch_{vendor.replace('-', '_')}"
    if importlib.util.find_spec(distribution) is None:
        pytest.skip(f"{distribution} is not installed")
    tables = config(emulator)

    def select(provider: str) -> None:
        trusted_config.write_text(f'provider = "{provider}"\n' + tables)

    select("openai")
    expected: dict[str, Any] = await script()
    select("selfhosted" if vendor == "openai-compatible" else vendor)
    shape = await script()
    if shape.pop("cancel", None) == "unsupported":
        expected = {key: value for key, value in expected.items() if key not in CANCEL_SHAPE}
    assert shape == expected
