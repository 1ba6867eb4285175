"""The Gemini Developer API's batch mode for the lmbatch emulator (``lmbatch.testing.emulator``).

Registered by the plugin (``lmbatch_gemini._plugin``) through the
``lmbatch_register_emulator_vendors`` hook, so ``lmbatch emulator`` and
``lmbatch.testing.emulator.Emulator`` serve it (``emulator.gemini_base_url``); needs the
``emulator`` extra of lmbatch.

* ``_routes``: `GeminiEmulator`, the vendor: batch, file and download routes.
* ``_jobs``: batch records: the state machine, the results, the operation envelope.
* ``_responder``: the deterministic model behind a batch's requests.
"""

from __future__ import annotations

from lmbatch_gemini._emulator._routes import OPERATIONS, GeminiEmulator, GeminiEmulatorOptions

__all__ = ["OPERATIONS", "GeminiEmulator", "GeminiEmulatorOptions"]
