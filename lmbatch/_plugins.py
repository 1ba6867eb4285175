"""Provider discovery: a typed facade over pluggy.

Plugins are found through the ``lmbatch`` entry-point group and loaded lazily, on the
first provider lookup. Each plugin loads in isolation: one that fails to import or to
register is reported (a warning, and a *broken* entry in :func:`available_providers`)
while every other provider keeps working. That holds for anything a plugin raises,
``SystemExit`` included (a plugin calling ``sys.exit()`` at import must not end the
program silently); only ``KeyboardInterrupt`` and ``GeneratorExit`` pass through. Two
plugins claiming one provider name is an error, never last-wins.
``LMBATCH_DISABLE_PLUGINS=a,b`` blocks plugins by name.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from lmbatch import hookspecs
from lmbatch._errors import ProviderConflictError, UnknownProviderError

if TYPE_CHECKING:
    from lmbatch._operations import BatchOperations
    from lmbatch.testing.emulator import EmulatorVendor

__all__ = [
    "DISTRIBUTION_PREFIX",
    "ProviderEntry",
    "ProviderRegistry",
    "install_hint",
    "registry",
]

ENTRY_POINT_GROUP = "lmbatch"
#: Provider plugins are distributions named ``lmbatch-<provider>``. Install hints follow
#: that convention rather than a list of known providers, which core would have to edit
#: for every new vendor.
DISTRIBUTION_PREFIX = "lmbatch-"
# A name that can be part of a distribution name (no spaces, quotes or shell syntax).
_DISTRIBUTION_SAFE = re.compile(r"[a-z0-9][a-z0-9._-]*")


#: What a plugin may raise that is not the plugin's failure but the program's: Ctrl-C, and
#: a generator being closed. Everything else (``SystemExit`` too) marks the plugin broken.
_PASS_THROUGH: tuple[type[BaseException], ...] = (KeyboardInterrupt, GeneratorExit)


class PluginLoadWarning(UserWarning):
    """A plugin could not be loaded; the other providers still work."""


@dataclass(frozen=True)
class ProviderEntry:
    """One provider as discovered (or as it failed to load).

    Attributes:
        name: Provider name (for a broken plugin: the plugin's name).
        plugin: Name of the plugin that registered it.
        distribution: The Python distribution shipping the plugin, when known.
        version: That distribution's version.
        status: ``"ok"`` or ``"broken"``.
        reason: Why a broken entry is broken.
        operations_class: The provider's class (None when broken).
    """

    name: str
    plugin: str
    distribution: str | None
    version: str | None
    status: Literal["ok", "broken"]
    reason: str | None = None
    operations_class: type[BatchOperations] | None = None


class ProviderRegistry:
    """Finds, loads and hands out providers."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._loaded = False
        # Every claim on a provider name; a name is usable only with exactly one claim.
        self._claims: dict[str, list[ProviderEntry]] = {}
        self._broken: dict[str, ProviderEntry] = {}

    # -- loading ---------------------------------------------------------------------

    def load(self) -> None:
        """Load every installed plugin once (later calls do nothing)."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            blocked = _blocked_plugins()
            for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
                if entry_point.name in blocked:
                    continue
                dist = entry_point.dist
                dist_name = dist.metadata["Name"] if dist is not None else None
                version = dist.version if dist is not None else None
                try:
                    plugin = entry_point.load()
                except _PASS_THROUGH:
                    raise
                except BaseException as exc:
                    self._report_broken(entry_point.name, dist_name, version, exc)
                    continue
                self._add(plugin, entry_point.name, dist_name, version)

    def register_plugin(self, plugin: object, name: str) -> None:
        """Register a plugin object directly (tests, or applications embedding a provider)."""
        with self._lock:
            self.load()
            if name in _blocked_plugins():
                return
            self._add(plugin, name, None, None)

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin and the providers it registered."""
        with self._lock:
            plugin = self._pm.get_plugin(name)
            if plugin is not None:
                self._pm.unregister(plugin, name=name)
            for provider, claims in list(self._claims.items()):
                claims[:] = [claim for claim in claims if claim.plugin != name]
                if not claims:
                    del self._claims[provider]
            self._broken.pop(name, None)

    def _add(self, plugin: object, name: str, dist: str | None, version: str | None) -> None:
        try:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
        except _PASS_THROUGH:
            raise
        except BaseException as exc:
            if self._pm.get_plugin(name) is not None:
                self._pm.unregister(name=name)
            self._report_broken(name, dist, version, exc)
            return
        registered: list[type[BatchOperations]] = []
        impls = [
            impl
            for impl in self._pm.hook.lmbatch_register_providers.get_hookimpls()
            if impl.plugin_name == name
        ]
        try:
            for impl in impls:
                impl.function(register=self._make_register(registered))
        except _PASS_THROUGH:
            raise
        except BaseException as exc:
            self._pm.unregister(name=name)
            self._report_broken(name, dist, version, exc)
            return
        for operations_class in registered:
            self._add_provider(operations_class, name, dist, version)

    @staticmethod
    def _make_register(
        sink: list[type[BatchOperations]],
    ) -> Callable[[type[BatchOperations]], None]:
        from lmbatch._operations import BatchOperations

        def register(operations_class: type[BatchOperations]) -> None:
            if not (
                isinstance(operations_class, type) and issubclass(operations_class, BatchOperations)
            ):
                raise TypeError(
                    f"register() takes a BatchOperations subclass, not {operations_class!r}"
                )
            if not operations_class.name:
                raise TypeError(f"{operations_class.__qualname__} does not set `name`")
            sink.append(operations_class)

        return register

    def _add_provider(
        self,
        operations_class: type[BatchOperations],
        plugin: str,
        dist: str | None,
        version: str | None,
    ) -> None:
        name = operations_class.name
        claims = self._claims.setdefault(name, [])
        claims.append(
            ProviderEntry(
                name=name,
                plugin=plugin,
                distribution=dist,
                version=version,
                status="ok",
                operations_class=operations_class,
            )
        )
        if len(claims) > 1:
            plugins = " and ".join(repr(claim.plugin) for claim in claims)
            warnings.warn(
                f"plugins {plugins} both register provider {name!r}; it is disabled until "
                "one is uninstalled or blocked with LMBATCH_DISABLE_PLUGINS",
                PluginLoadWarning,
                stacklevel=2,
            )

    def _report_broken(
        self, name: str, dist: str | None, version: str | None, exc: BaseException
    ) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, SystemExit):
            reason = f"SystemExit: the plugin called sys.exit({exc.code!r}) while loading"
        warnings.warn(
            f"lmbatch plugin {name!r} failed to load: {reason}", PluginLoadWarning, stacklevel=3
        )
        self._broken[name] = ProviderEntry(
            name=name,
            plugin=name,
            distribution=dist,
            version=version,
            status="broken",
            reason=reason,
        )

    # -- lookup ----------------------------------------------------------------------

    def entries(self) -> list[ProviderEntry]:
        """Every provider, working or broken, sorted by name."""
        self.load()
        with self._lock:
            entries = [*self._broken.values()]
            for name, claims in self._claims.items():
                if len(claims) == 1:
                    entries.append(claims[0])
                    continue
                plugins = ", ".join(claim.plugin for claim in claims)
                entries.append(
                    ProviderEntry(
                        name=name,
                        plugin=plugins,
                        distribution=None,
                        version=None,
                        status="broken",
                        reason=f"registered by several plugins: {plugins}",
                    )
                )
        return sorted(entries, key=lambda entry: entry.name)

    def get(self, name: str) -> type[BatchOperations]:
        """The provider class registered under ``name``.

        Raises:
            ProviderConflictError: Several plugins registered ``name``.
            UnknownProviderError: No working provider has that name.
        """
        self.load()
        with self._lock:
            claims = self._claims.get(name, [])
            if len(claims) == 1 and claims[0].operations_class is not None:
                return claims[0].operations_class
            if len(claims) > 1:
                raise ProviderConflictError(
                    f"provider {name!r} is registered by several plugins: "
                    f"{', '.join(claim.plugin for claim in claims)}; uninstall one or block "
                    "it with LMBATCH_DISABLE_PLUGINS"
                )
            available = sorted(n for n, c in self._claims.items() if len(c) == 1)
            broken = self._broken.get(name)
        raise UnknownProviderError(
            _unknown_message(name, available, broken), provider=name, available=available
        )

    # -- emulator vendors ------------------------------------------------------------

    def emulator_vendors(self, check: Callable[[Any], None]) -> list[type[EmulatorVendor[Any]]]:
        """Every emulator vendor the loaded plugins register, in plugin order.

        Asked only when an emulator is built (so plugins import Starlette then, not at
        load). A plugin whose hook fails, or registers something ``check`` refuses, is
        reported and skipped; a vendor name two plugins register is left out, with a
        warning, as for providers.

        Args:
            check: Raises ``TypeError`` for anything that is not a vendor class (the
                emulator's own rule, so core needs no emulator import).
        """
        self.load()
        with self._lock:
            impls = self._pm.hook.lmbatch_register_emulator_vendors.get_hookimpls()
        claims: dict[str, list[tuple[str, type[EmulatorVendor[Any]]]]] = {}
        for impl in impls:
            found: list[type[EmulatorVendor[Any]]] = []

            def register(vendor: type[EmulatorVendor[Any]], sink: list[Any] = found) -> None:
                check(vendor)
                sink.append(vendor)

            try:
                impl.function(register=register)
            except _PASS_THROUGH:
                raise
            except BaseException as exc:
                warnings.warn(
                    f"lmbatch plugin {impl.plugin_name!r} failed to register its emulator "
                    f"vendors: {type(exc).__name__}: {exc}",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                continue
            for vendor in found:
                claims.setdefault(vendor.name, []).append((impl.plugin_name, vendor))
        vendors: list[type[EmulatorVendor[Any]]] = []
        for name, claimed in claims.items():
            if len(claimed) == 1:
                vendors.append(claimed[0][1])
                continue
            plugins = " and ".join(repr(plugin) for plugin, _ in claimed)
            warnings.warn(
                f"plugins {plugins} both register emulator vendor {name!r}; it is not served "
                "until one is uninstalled or blocked with LMBATCH_DISABLE_PLUGINS",
                PluginLoadWarning,
                stacklevel=2,
            )
        return vendors


def _unknown_message(name: str, available: list[str], broken: ProviderEntry | None) -> str:
    if broken is not None:
        return f"provider {name!r} is installed but broken: {broken.reason}"
    message = f"unknown provider {name!r}; installed providers: {', '.join(available) or 'none'}"
    close = difflib.get_close_matches(name, available, n=1)
    if close and close[0] != name:
        return message + f". Did you mean {close[0]!r}?"
    hint = install_hint(name)
    if hint is not None:
        message += f". {hint}"
    return message


def install_hint(name: str) -> str | None:
    """How a provider that is not installed is usually installed, or None for a name no
    distribution could have.

    Example: ``install_hint("openai")`` says ``pip install lmbatch-openai``.
    """
    if not _DISTRIBUTION_SAFE.fullmatch(name):
        return None
    return (
        f"Provider plugins are named {DISTRIBUTION_PREFIX}<provider>; if one exists for it: "
        f"pip install {DISTRIBUTION_PREFIX}{name}"
    )


def _blocked_plugins() -> set[str]:
    raw = os.environ.get("LMBATCH_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


#: The process-wide registry.
registry = ProviderRegistry()
