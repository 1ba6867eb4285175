"""Testing kit shipped with lmbatch.

* :class:`FakeBatchOperations` — the in-memory ``fake`` provider, scriptable.
* :mod:`lmbatch.testing.contract` — :class:`~lmbatch.testing.contract.BatchOperationsContract`,
  the behavioural tests every provider must pass (needs pytest).
* :mod:`lmbatch.testing.emulator` — a local batch-API server serving every installed
  provider's vendor routes (needs the ``emulator`` extra).
* :func:`reconcile_chunks` — core's reconciliation of interrupted creates, one step, for
  provider tests.
* :func:`sample_from_schema` — the deterministic JSON-schema sampler the fake provider and
  the emulator answer with.
* :mod:`lmbatch.testing.pytest_plugin` — pytest fixtures (emulator, hostile proxy,
  OpenAPI mock server, cassette checks), loaded automatically by pytest.
* :mod:`lmbatch.testing.cassettes` — VCR settings for provider cassette tests.
"""

# Exports are loaded on first use (PEP 562): pytest imports this package for its plugin
# in every run, which must not pay for the fake provider (pydantic, asyncio, SQLite).

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lmbatch.testing._fake import (
        FakeBackend,
        FakeBatchOperations,
        FakeBatchScript,
        FakeRequestScript,
        FakeSettings,
        default_backend,
    )
    from lmbatch.testing._jobs import reconcile_chunks
    from lmbatch.testing._schema_sample import sample_from_schema

__all__ = [
    "FakeBackend",
    "FakeBatchOperations",
    "FakeBatchScript",
    "FakeRequestScript",
    "FakeSettings",
    "default_backend",
    "reconcile_chunks",
    "sample_from_schema",
]

#: Where each exported name lives.
_EXPORTS: dict[str, str] = {
    "FakeBackend": "lmbatch.testing._fake",
    "FakeBatchOperations": "lmbatch.testing._fake",
    "FakeBatchScript": "lmbatch.testing._fake",
    "FakeRequestScript": "lmbatch.testing._fake",
    "FakeSettings": "lmbatch.testing._fake",
    "default_backend": "lmbatch.testing._fake",
    "reconcile_chunks": "lmbatch.testing._jobs",
    "sample_from_schema": "lmbatch.testing._schema_sample",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
