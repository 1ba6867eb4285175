"""Generation settings given on the command line: ``--param k=v`` and ``--schema``."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pydantic

from lmbatch.cli._errors import CLIError

__all__ = ["load_schema", "parse_assignments"]


def parse_assignments(values: list[str] | None, option: str) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; a VALUE that is JSON is decoded, anything else is text.

    ``--param temperature=0.2`` gives ``0.2``, ``--param stop='["END"]'`` a list and
    ``--param user=alice`` the string ``"alice"``.

    Raises:
        CLIError: A pair has no ``=`` or no key, or a key is given twice.
    """
    parsed: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CLIError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} temperature=0")
        if key in parsed:
            raise CLIError(f"{option} {key!r} is given twice")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def load_schema(spec: str) -> type[pydantic.BaseModel] | dict[str, Any]:
    """Load ``--schema``: a JSON schema file, or ``module:Model`` naming a pydantic model.

    The current directory is importable, so ``--schema models:Answer`` finds
    ``./models.py``.

    Raises:
        CLIError: The file or model cannot be loaded.
    """
    file = Path(spec)
    if file.suffix.lower() == ".json" or file.is_file():
        return _schema_file(spec, file)
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise CLIError(
            f"--schema {spec!r}: expected a JSON schema file (schema.json) or "
            "module:Model naming a pydantic model"
        )
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CLIError(f"--schema {spec!r}: cannot import {module_name!r}: {exc}") from None
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise CLIError(f"--schema {spec!r}: {module_name!r} has no {attribute!r}")
    if not (isinstance(found, type) and issubclass(found, pydantic.BaseModel)):
        raise CLIError(f"--schema {spec!r}: {attribute!r} is not a pydantic model class")
    return found


def _schema_file(spec: str, file: Path) -> dict[str, Any]:
    try:
        schema = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CLIError(f"--schema {spec!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"--schema {spec!r}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CLIError(
            f"--schema {spec}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(schema, dict):
        raise CLIError(f"--schema {spec!r}: a JSON schema must be an object")
    return schema
