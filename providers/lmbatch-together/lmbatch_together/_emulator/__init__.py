"""The Together AI Files + Batches API for the lmbatch emulator.

Registered by the plugin through the ``lmbatch_register_emulator_vendors`` hook; needs the
``emulator`` extra of lmbatch. ``_routes``: the vendor and its handlers; ``_jobs``: batch
jobs (input check, status machine, result files).
"""

from __future__ import annotations

from lmbatch_together._emulator._routes import OPERATIONS, TogetherEmulator

__all__ = ["OPERATIONS", "TogetherEmulator"]
