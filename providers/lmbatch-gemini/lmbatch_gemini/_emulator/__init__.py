"""The Gemini Developer API's batch mode for the lmbatch emulator (``lmbatch.testing.emulator``).

Needs the ``emulator`` extra of lmbatch (starlette, uvicorn).

* ``_routes``: `GeminiEmulator`, the vendor: batch, file and download routes.
* ``_jobs``: batch records: the state machine, the results, the operation envelope.
* ``_responder``: the deterministic model behind a batch's requests.
* ``_host``: what the emulator host gives a plugin vendor (until its hook lands).

Example::

    from lmbatch.testing.emulator import EmulatorSettings
    from lmbatch_gemini._emulator import gemini_server

    with gemini_server(EmulatorSettings(mode="polls")) as server:
        ops = GeminiBatchOperations(model="gemini-2.5-flash", api_key="test",
                                    base_url=server.base_url)
"""

from __future__ import annotations

from lmbatch.testing.emulator import EmulatorSettings
from lmbatch_gemini._emulator._host import VendorHost, VendorServer
from lmbatch_gemini._emulator._routes import OPERATIONS, GeminiEmulator, GeminiEmulatorOptions

__all__ = [
    "OPERATIONS",
    "GeminiEmulator",
    "GeminiEmulatorOptions",
    "VendorHost",
    "VendorServer",
    "gemini_server",
]


def gemini_server(
    settings: EmulatorSettings | None = None, options: GeminiEmulatorOptions | None = None
) -> VendorServer:
    """A (not yet started) local server of the Gemini vendor alone.

    Args:
        settings: The emulator's behaviour (lifecycle mode, faults...).
        options: The Gemini vendor's own (limits, state spelling, result placement).
    """
    return VendorServer(lambda state: GeminiEmulator(state, options), settings)
