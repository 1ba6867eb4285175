"""The public provider interface, ``lmbatch.provider``, is all a provider needs from core."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import lmbatch
import lmbatch.provider

REPO = Path(__file__).resolve().parents[2]
# Every provider distribution in the repository, and the tutorial's example plugins.
PLUGIN_TREES = sorted(
    path.parent
    for pattern in ("providers/*/pyproject.toml", "docs/examples/*/pyproject.toml")
    for path in REPO.glob(pattern)
)


def _private_core_imports(path: Path) -> list[str]:
    """``lmbatch._x`` modules (or ``lmbatch.x._y``) a source file imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "lmbatch" and any(part.startswith("_") for part in parts[1:]):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} imports {module}")
    return found


def test_the_repository_has_plugin_trees_to_check() -> None:
    assert len(PLUGIN_TREES) >= 3  # openai, anthropic, the echo example


@pytest.mark.parametrize("tree", PLUGIN_TREES, ids=lambda path: path.name)
def test_no_plugin_module_imports_a_private_core_module(tree: Path) -> None:
    offenders = [
        problem
        for path in sorted(tree.rglob("*.py"))
        if ".venv" not in path.parts
        for problem in _private_core_imports(path)
    ]
    assert offenders == []


def test_every_interface_name_resolves_and_is_documented() -> None:
    undocumented = []
    for name in lmbatch.provider.__all__:
        value = getattr(lmbatch.provider, name)  # AttributeError: exported but missing
        if (inspect.isclass(value) or inspect.isfunction(value)) and not (
            value.__doc__ or ""
        ).strip():
            undocumented.append(name)
    assert undocumented == []


def test_the_interface_is_versioned() -> None:
    assert isinstance(lmbatch.provider.PROVIDER_INTERFACE_VERSION, int)
    assert lmbatch.provider.PROVIDER_INTERFACE_VERSION >= 1


@pytest.mark.parametrize(
    "name",
    [
        "PreparedBatch",
        "ResultRecord",
        "BatchPage",
        "ProviderLimits",
        "ProviderSettings",
        "EndpointOption",
        "ConnectionOption",
        "hookimpl",
        "JOB_ID_METADATA_KEY",
        "CHUNK_METADATA_KEY",
        "parse_json_object",
        "salvage_custom_id",
        "empty_counts",
    ],
)
def test_provider_facing_names_are_not_part_of_the_user_api(name: str) -> None:
    assert name not in lmbatch.__all__
    assert name in lmbatch.provider.__all__
    # Still importable from lmbatch, for code written against 0.1.
    assert getattr(lmbatch, name) is getattr(lmbatch.provider, name)


def test_the_provider_methods_are_public_on_the_base_class() -> None:
    base = lmbatch.provider.BatchOperations
    for method in (
        "encode_request",
        "submit_batch",
        "fetch_batch",
        "iter_result_records",
        "iter_result_lines",
        "decode_record",
        "result_context",
        "decode_result_line",
        "list_batches_page",
        "cancel_batch",
        "find_submitted_batch",
        "after_results",
        "api_key",
        "base_url",
        "aclose",
    ):
        assert (getattr(base, method).__doc__ or "").strip(), method
    # Results: iter_result_records, or (JSONL) iter_result_lines and decode_record; the
    # choice is checked when an instance is made (see tests/core/test_provider_support.py).
    assert {"encode_request", "submit_batch", "fetch_batch"} <= set(base.__abstractmethods__)
