"""A generic OpenAI-compatible batch server for the lmbatch emulator, at ``/compatible/v1``.

The OpenAI protocol as self-hosted gateways serve it: chat completions and embeddings,
no token-count endpoint, ids numbered from the start when ``sequential_ids`` is set.
"""

from __future__ import annotations

from lmbatch_openai._emulator import OpenAIEmulator


class CompatibleEmulator(OpenAIEmulator):
    """An OpenAI-compatible server's Files + Batches API, as the emulator serves it."""

    name = "openai-compatible"
    title = "OpenAI-compatible server"
    route_prefix = "/compatible"
    base_path = "/compatible/v1"
    path_prefixes = ("/compatible/",)
    batch_endpoints = frozenset({"/v1/chat/completions", "/v1/embeddings"})
    counts_tokens = False
