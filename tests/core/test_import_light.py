"""`import lmbatch` stays light: no vendor SDK, no HTTP client, no CLI toolkit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def test_import_lmbatch_imports_no_vendor_sdk_or_http_client() -> None:
    code = (
        "import json, sys, lmbatch, lmbatch.testing;"
        "heavy = ('openai', 'anthropic', 'httpx', 'requests', 'aiohttp', 'typer', 'rich',"
        " 'starlette', 'uvicorn', 'jsonschema', 'genai_prices', 'tiktoken', 'pyarrow',"
        " 'pandas', 'polars', 'datasets', 'numpy');"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def _modules_after(code: str) -> set[str]:
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in json.loads(out.stdout.strip().splitlines()[-1])}


def test_import_lmbatch_loads_its_parts_only_when_used() -> None:
    # The exports are lazy: a bare import does not pay for pydantic, asyncio or SQLite.
    bare = _modules_after("import lmbatch")
    assert not bare & {"pydantic", "asyncio", "sqlite3", "pluggy", "orjson"}
    used = _modules_after("import lmbatch; lmbatch.LMOutput")
    assert "pydantic" in used
    assert "asyncio" not in used
    # jsonschema (a dependency) is imported only when a JSON Schema dict is checked.
    settings = "lmbatch.Hyperparameters.from_mapping({'temperature': 1, 'tools': [Tool]})"
    plain = _modules_after(
        f"import lmbatch, pydantic\nclass Tool(pydantic.BaseModel): x: int\n{settings}"
    )
    assert "jsonschema" not in plain
    schema = "{'type': 'object'}"
    checked = _modules_after(
        f"import lmbatch; lmbatch.Hyperparameters.from_mapping({{'response_schema': {schema}}})"
    )
    assert "jsonschema" in checked


def test_lmbatch_map_and_the_cli_import_no_table_library() -> None:
    # pyarrow, pandas, polars and datasets come in only with a table of theirs.
    loaded = _modules_after("import lmbatch, lmbatch.cli; lmbatch.map; lmbatch.map_sync")
    assert not loaded & {"pyarrow", "pandas", "polars", "datasets", "numpy"}
    rows = _modules_after(
        "import lmbatch._map, lmbatch._tables\n"
        "lmbatch._tables.source_for([{'a': 1}])\n"
        "lmbatch._map.MapSpec('{a}', response_schema={'type': 'object', 'properties': "
        "{'x': {'type': 'string'}}})"
    )
    assert not rows & {"pyarrow", "pandas", "polars", "datasets", "numpy"}


def test_lmbatch_map_is_exported_but_a_star_import_keeps_the_builtin() -> None:
    import lmbatch

    assert "map" in dir(lmbatch)
    assert lmbatch.map.__module__ == "lmbatch._map"
    namespace: dict[str, object] = {}
    exec("from lmbatch import *", namespace)
    assert "map" not in namespace
    assert "map_sync" in namespace


def test_every_export_resolves_and_is_listed() -> None:
    import lmbatch

    for name in lmbatch.__all__:
        assert getattr(lmbatch, name) is not None, name
    assert set(lmbatch.__all__) <= set(dir(lmbatch))


def test_unknown_attribute_is_an_attribute_error() -> None:
    import lmbatch

    with pytest.raises(AttributeError, match="no attribute 'LMOutputs'"):
        _ = lmbatch.LMOutputs  # type: ignore[attr-defined]
