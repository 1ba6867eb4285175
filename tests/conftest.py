"""Settings for the whole test suite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

import lmbatch._unchecked

if TYPE_CHECKING:
    from lmbatch.testing.proxy import HostileProxy

# Decoders build their outputs without validation (see `build_unchecked`); in the tests
# every such output is validated, so a decoder that hands over a wrong value fails here
# rather than giving users a malformed LMOutput.
lmbatch._unchecked.validate_unchecked = True


@pytest.fixture
def hostile_proxy() -> Iterator[Callable[[str | None], HostileProxy]]:
    """Start :class:`~lmbatch.testing.proxy.HostileProxy` instances for one test.

    Call it with the upstream's base URL (e.g. ``emulator.base_url``), or with None for a
    recording "foreign host" that forwards nothing. Every proxy started is stopped when
    the test ends. Example::

        async def test_x(hostile_proxy):
            async with Emulator() as emulator:
                proxy = hostile_proxy(emulator.base_url)
                proxy.on("GET", "/v1/batches/*").rewrite({"status": "mystery"})
                ops = get_batch_operations("openai", base_url=proxy.openai_base_url, ...)
    """
    from lmbatch.testing.proxy import HostileProxy

    started: list[HostileProxy] = []

    def start(upstream: str | None = None) -> HostileProxy:
        proxy = HostileProxy(upstream)
        proxy.start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
