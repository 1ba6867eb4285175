"""Registration: found through the entry point; importing lmbatch imports none of it."""

from __future__ import annotations

import subprocess
import sys

from lmbatch_gemini import GeminiBatchOperations, GeminiSettings

import lmbatch


def test_found_by_name() -> None:
    ops = lmbatch.get_batch_operations("gemini", model="gemini-2.5-flash", store=":memory:")
    assert isinstance(ops, GeminiBatchOperations)
    assert isinstance(ops.settings, GeminiSettings)
    assert ops.name == "gemini"
    assert ops.settings.api_version == "v1"
    assert ops.settings.max_batches_in_flight == 100
    assert ops.limits.accepts_custom_id("q.1:a-b_c")
    assert not ops.limits.accepts_custom_id("doc/7")
    assert not ops.limits.accepts_custom_id('has"quote')
    assert ops.batch_discount == 0.5
    assert ops.completion_window == 48 * 3600


def test_the_sdk_resource_name_of_a_model_is_taken() -> None:
    ops = lmbatch.get_batch_operations("gemini", model="models/gemini-2.5-flash", store=":memory:")
    assert ops.model == "gemini-2.5-flash"  # priced and checked like the bare name
    assert isinstance(ops, GeminiBatchOperations)
    assert ops.model_path == "models/gemini-2.5-flash"
    tuned = GeminiBatchOperations(model="tunedModels/mine", store=":memory:")
    assert tuned.model_path == "tunedModels/mine"


def test_importing_lmbatch_imports_none_of_it() -> None:
    code = (
        "import sys, lmbatch\n"
        "assert 'lmbatch_gemini' not in sys.modules\n"
        "import lmbatch_gemini\n"
        "lmbatch.get_batch_operations('fake', store=':memory:')\n"
        "assert 'lmbatch_gemini._operations' in sys.modules  # every provider was looked up\n"
        "lmbatch.get_batch_operations('gemini', model='gemini-2.5-flash', store=':memory:')\n"
        "assert 'httpx' not in sys.modules, 'httpx imported before the first call'\n"
        "assert 'google.genai' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr


def test_listed_by_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lmbatch", "providers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "gemini" in result.stdout
