"""Testing kit shipped with lmbatch.

* :class:`FakeBatchOperations` — the in-memory ``fake`` provider, scriptable.
* :mod:`lmbatch.testing.contract` — :class:`~lmbatch.testing.contract.BatchOperationsContract`,
  the behavioural tests every provider must pass (needs pytest).
* :mod:`lmbatch.testing.emulator` — a local batch-API server serving every installed
  provider's vendor routes (needs the ``emulator`` extra).
* :func:`sample_from_schema` — the deterministic JSON-schema sampler the fake provider and
  the emulator answer with.
"""

from __future__ import annotations

from lmbatch.testing._fake import (
    FakeBackend,
    FakeBatchOperations,
    FakeBatchScript,
    FakeRequestScript,
    FakeSettings,
    default_backend,
)
from lmbatch.testing._schema_sample import sample_from_schema

__all__ = [
    "FakeBackend",
    "FakeBatchOperations",
    "FakeBatchScript",
    "FakeRequestScript",
    "FakeSettings",
    "default_backend",
    "sample_from_schema",
]
