"""Caller keys → provider request ids: deterministic, collision-free, flat in memory."""

from __future__ import annotations

import hashlib

from lmbatch import ProviderLimits
from lmbatch._keys import CustomIdMapper

LIMITS = ProviderLimits(
    max_requests_per_batch=100,
    max_bytes_per_batch=10**6,
    custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
)


def test_accepted_keys_map_to_themselves_and_others_to_a_hash() -> None:
    mapper = CustomIdMapper(["doc-1", "doc/2"], LIMITS)
    assert mapper("doc-1") == "doc-1"
    expected = "k-" + hashlib.sha256(b"doc/2").hexdigest()[:40]
    assert mapper("doc/2") == expected
    assert CustomIdMapper(["doc/2"], LIMITS)("doc/2") == expected  # deterministic


def test_a_caller_key_shaped_like_a_mapped_id_is_never_handed_out_twice() -> None:
    taken = "k-" + hashlib.sha256(b"doc/2").hexdigest()[:40]
    mapper = CustomIdMapper([taken, "doc/2"], LIMITS)
    assert mapper(taken) == taken
    mapped = mapper("doc/2")
    assert mapped != taken
    assert mapped.startswith("k-")
    assert len(mapped) == 42


def test_only_keys_shaped_like_mapped_ids_are_remembered() -> None:
    keys = [f"document/{i}" for i in range(1000)] + [f"ok-{i}" for i in range(1000)]
    mapper = CustomIdMapper(keys, LIMITS)
    assert mapper._reserved == set()
    assert len({mapper(key) for key in keys}) == len(keys)
