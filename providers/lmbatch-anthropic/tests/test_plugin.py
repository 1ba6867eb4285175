"""Registration: found through the entry point; the SDK is imported only when used."""

from __future__ import annotations

import subprocess
import sys

from lmbatch_anthropic import AnthropicBatchOperations, AnthropicSettings

import lmbatch


def test_found_by_name() -> None:
    ops = lmbatch.get_batch_operations("anthropic", model="claude-sonnet-4-5", store=":memory:")
    assert isinstance(ops, AnthropicBatchOperations)
    assert isinstance(ops.settings, AnthropicSettings)
    assert ops.settings.default_max_tokens == 4096
    assert ops.limits.max_requests_per_batch == 100_000
    assert ops.limits.max_bytes_per_batch == 256 * 1024 * 1024
    assert not ops.limits.accepts_custom_id("doc/7")
    assert not ops.limits.accepts_custom_id("x" * 65)


def test_importing_never_imports_the_sdk() -> None:
    code = (
        "import sys, lmbatch, lmbatch_anthropic\n"
        "lmbatch.get_batch_operations('anthropic', model='m', store=':memory:')\n"
        "assert 'anthropic' not in sys.modules, 'anthropic imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
