"""The Anthropic Message Batches API for the lmbatch emulator (``lmbatch.testing.emulator``).

Registered by the plugin (``lmbatch_anthropic._plugin``) through the
``lmbatch_register_emulator_vendors`` hook; needs the ``emulator`` extra of lmbatch.

* ``_routes``: `AnthropicEmulator`, the vendor, its options and request handlers.
* ``_jobs``: message-batch records: the status machine and the results file.
* ``_responder``: the deterministic model behind a batch's Messages API calls.
* ``_http``: Anthropic-shaped responses, errors, ids and the header checks.
"""

from __future__ import annotations

from lmbatch_anthropic._emulator._routes import (
    OPERATIONS,
    AnthropicEmulator,
    AnthropicEmulatorOptions,
)

__all__ = ["OPERATIONS", "AnthropicEmulator", "AnthropicEmulatorOptions"]
