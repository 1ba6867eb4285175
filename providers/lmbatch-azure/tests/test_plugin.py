"""The plugin registers the ``azure`` provider and its emulator routes."""

from __future__ import annotations

import lmbatch
from lmbatch.testing.emulator import installed_vendors


def test_the_provider_is_installed_under_its_name() -> None:
    entries = {entry.name: entry for entry in lmbatch.available_providers()}
    entry = entries["azure"]
    assert entry.operations_class is not None
    assert entry.operations_class.name == "azure"
    assert entry.distribution == "lmbatch-azure"


def test_the_emulator_serves_the_vendor() -> None:
    assert "azure" in {vendor.name for vendor in installed_vendors()}
