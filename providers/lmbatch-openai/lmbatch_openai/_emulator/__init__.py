"""The OpenAI Files + Batches API for the lmbatch emulator (``lmbatch.testing.emulator``).

Registered by the plugin (``lmbatch_openai._plugin``) through the
``lmbatch_register_emulator_vendors`` hook; needs the ``emulator`` extra of lmbatch.

* ``_routes``: `OpenAIEmulator`, the vendor and its request handlers.
* ``_jobs``: batch records: input-file validation, status machine, output/error files.
* ``_responder``: the deterministic model behind ``/v1/responses``, chat and embeddings.
* ``_files``: file records and the vendor's options (limits).
* ``_http``: OpenAI-shaped responses, errors and the auth check.
"""

from __future__ import annotations

from lmbatch_openai._emulator._files import OpenAIEmulatorOptions
from lmbatch_openai._emulator._routes import OPERATIONS, OpenAIEmulator

__all__ = ["OPERATIONS", "OpenAIEmulator", "OpenAIEmulatorOptions"]
