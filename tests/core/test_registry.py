"""Provider discovery: entry points, isolation of broken plugins, conflicts, blocking."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

import lmbatch
from lmbatch import (
    BatchOperations,
    ProviderConflictError,
    UnknownProviderError,
    hookimpl,
)
from lmbatch._plugins import ENTRY_POINT_GROUP, PluginLoadWarning, ProviderRegistry
from lmbatch.testing import FakeBatchOperations


class OtherFake(FakeBatchOperations):
    name = "otherfake"


class ClashingFake(FakeBatchOperations):
    name = "otherfake"


def _plugin(*classes: type[BatchOperations]) -> object:
    module = types.SimpleNamespace()

    @hookimpl
    def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
        for cls in classes:
            register(cls)

    module.lmbatch_register_providers = lmbatch_register_providers
    return module


def _broken_plugin() -> object:
    module = types.SimpleNamespace()

    @hookimpl
    def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
        raise RuntimeError("vendor SDK missing")

    module.lmbatch_register_providers = lmbatch_register_providers
    return module


@pytest.fixture
def registry() -> ProviderRegistry:
    return ProviderRegistry()


def test_builtin_fake_is_found_through_its_entry_point(registry: ProviderRegistry) -> None:
    assert registry.get("fake") is FakeBatchOperations
    entry = next(e for e in registry.entries() if e.name == "fake")
    assert entry.status == "ok"
    assert entry.distribution == "lmbatch"


def test_plugins_load_lazily() -> None:
    fresh = ProviderRegistry()
    assert fresh._loaded is False
    fresh.get("fake")
    assert fresh._loaded is True


def test_broken_plugin_is_reported_and_others_keep_working(registry: ProviderRegistry) -> None:
    with pytest.warns(PluginLoadWarning, match="vendor SDK missing"):
        registry.register_plugin(_broken_plugin(), "brokenvendor")
    broken = next(e for e in registry.entries() if e.name == "brokenvendor")
    assert broken.status == "broken"
    assert broken.reason is not None
    assert "vendor SDK missing" in broken.reason
    assert registry.get("fake") is FakeBatchOperations
    with pytest.raises(UnknownProviderError, match="broken"):
        registry.get("brokenvendor")


def test_two_plugins_claiming_one_name_conflict(registry: ProviderRegistry) -> None:
    registry.register_plugin(_plugin(OtherFake), "plugin-a")
    with pytest.warns(PluginLoadWarning, match="plugin-a"):
        registry.register_plugin(_plugin(ClashingFake), "plugin-b")
    with pytest.raises(ProviderConflictError) as caught:
        registry.get("otherfake")
    assert "plugin-a" in str(caught.value)
    assert "plugin-b" in str(caught.value)
    assert registry.get("fake") is FakeBatchOperations
    conflicted = next(e for e in registry.entries() if e.name == "otherfake")
    assert conflicted.status == "broken"
    registry.unregister_plugin("plugin-b")
    assert registry.get("otherfake") is OtherFake


def test_disabled_plugins_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMBATCH_DISABLE_PLUGINS", "fake, other")
    fresh = ProviderRegistry()
    with pytest.raises(UnknownProviderError):
        fresh.get("fake")


def test_unknown_provider_lists_installed_and_suggests(registry: ProviderRegistry) -> None:
    with pytest.raises(UnknownProviderError) as caught:
        registry.get("fkae")
    message = str(caught.value)
    assert "fake" in message
    assert "Did you mean 'fake'" in message
    assert caught.value.provider == "fkae"


def test_first_party_provider_gets_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMBATCH_DISABLE_PLUGINS", "openai")
    fresh = ProviderRegistry()
    with pytest.raises(UnknownProviderError, match="pip install lmbatch-openai"):
        fresh.get("openai")


def test_install_hints_follow_the_naming_convention_not_a_list_of_providers() -> None:
    # No provider list in core: any name gets the lmbatch-<name> hint...
    with pytest.raises(UnknownProviderError, match="pip install lmbatch-newvendor"):
        ProviderRegistry().get("newvendor")
    # ...unless it is a near miss of an installed one, or no distribution could have it.
    with pytest.raises(UnknownProviderError) as caught:
        ProviderRegistry().get("fkae")
    assert "pip install" not in str(caught.value)
    with pytest.raises(UnknownProviderError) as caught:
        ProviderRegistry().get("new vendor; rm -rf")
    assert "pip install" not in str(caught.value)


def test_register_rejects_classes_without_a_name(registry: ProviderRegistry) -> None:
    class Nameless(FakeBatchOperations):
        name = ""

    with pytest.warns(PluginLoadWarning, match="does not set `name`"):
        registry.register_plugin(_plugin(Nameless), "nameless")


def test_available_providers_is_public() -> None:
    names = {entry.name for entry in lmbatch.available_providers()}
    assert "fake" in names


# -- a plugin that exits (or raises any BaseException) is just a broken plugin -----------


def _exiting_plugin() -> object:
    module = types.SimpleNamespace()

    @hookimpl
    def lmbatch_register_providers(register: Callable[[type[BatchOperations]], None]) -> None:
        sys.exit(0)

    module.lmbatch_register_providers = lmbatch_register_providers
    return module


def _with_entry_point(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module_source: str
) -> ProviderRegistry:
    """A fresh registry that also finds plugin ``exiter`` (a module of ``module_source``)."""
    (tmp_path / "lmbatch_exiter_plugin.py").write_text(module_source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lmbatch_exiter_plugin", raising=False)
    real = metadata.entry_points
    extra = metadata.EntryPoint("exiter", "lmbatch_exiter_plugin", ENTRY_POINT_GROUP)

    def entry_points(**selection: str) -> list[metadata.EntryPoint]:
        return [*real(**selection), extra]

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    return ProviderRegistry()


@pytest.mark.parametrize("statement", ["sys.exit(0)", "sys.exit('bye')", "raise SystemExit"])
def test_a_plugin_exiting_at_import_is_reported_and_others_keep_working(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, statement: str
) -> None:
    fresh = _with_entry_point(monkeypatch, tmp_path, f"import sys\n{statement}\n")
    with pytest.warns(PluginLoadWarning, match="'exiter' failed to load: SystemExit"):
        assert fresh.get("fake") is FakeBatchOperations
    broken = next(e for e in fresh.entries() if e.name == "exiter")
    assert broken.status == "broken"
    assert broken.reason is not None
    assert broken.reason.startswith("SystemExit")


def test_a_plugin_exiting_while_registering_is_reported(registry: ProviderRegistry) -> None:
    with pytest.warns(PluginLoadWarning, match="'exits' failed to load: SystemExit"):
        registry.register_plugin(_exiting_plugin(), "exits")
    assert next(e for e in registry.entries() if e.name == "exits").status == "broken"
    assert registry.get("fake") is FakeBatchOperations


def test_ctrl_c_while_a_plugin_loads_still_interrupts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fresh = _with_entry_point(monkeypatch, tmp_path, "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        fresh.load()
