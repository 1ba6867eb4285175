"""Deterministic JSON-schema sampling for structured output and tool arguments.

The one sampler of the testing kit: the ``fake`` provider, the emulator's vendor responders
and third-party test providers all answer schemas with it. It covers the subset of JSON
Schema that strict structured outputs and tool schemas use: ``type`` (single or list),
``enum``, ``const``, ``anyOf``/``oneOf``/``allOf``, local ``$ref`` (``#/$defs/…``,
``#/definitions/…``), object ``properties``, array ``items``/``prefixItems`` with
``minItems``, string length and common ``format`` values, number bounds. ``pattern`` is not
solved; such strings get a plain value.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["sample_from_schema"]

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "duration": "P1D",
}
_MAX_DEPTH = 8


def sample_from_schema(schema: Any, seed_text: str = "example") -> Any:
    """Build a value that validates against ``schema``.

    Args:
        schema: A JSON schema (dict or bool).
        seed_text: Text used for free-form strings, so answers echo the prompt.

    Returns:
        A JSON-compatible value; the same inputs always give the same value.
    """
    return _Gen(schema, seed_text).make(schema, 0, "value")


class _Gen:
    def __init__(self, root: Any, seed_text: str) -> None:
        self.root = root
        self.seed_text = seed_text

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return {}
        node = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node

    def make(self, schema: Any, depth: int, name: str) -> Any:
        if not isinstance(schema, dict):
            return self.seed_text if schema else None
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            return self.make({**target, **extra} if extra else target, depth + 1, name)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = schema[key]
                # Prefer a non-null branch: a null answer teaches a test nothing.
                chosen = next((o for o in options if _type_of(o) != "null"), options[0])
                return self.make(chosen, depth + 1, name)
        if schema.get("allOf"):
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part["$ref"]) if "$ref" in part else part
                for k, v in part.items():
                    if k in ("properties",):
                        merged[k] = {**merged.get(k, {}), **v}
                    elif k == "required":
                        merged[k] = [*merged.get(k, []), *v]
                    else:
                        merged.setdefault(k, v)
            return self.make(merged, depth + 1, name)
        kind = _type_of(schema)
        if kind == "object":
            return self.make_object(schema, depth, name)
        if kind == "array":
            return self.make_array(schema, depth, name)
        if kind == "string":
            return self.make_string(schema, name)
        if kind == "integer":
            return int(_number(schema, integer=True))
        if kind == "number":
            return _number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.seed_text

    def make_object(self, schema: dict[str, Any], depth: int, name: str) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        out: dict[str, Any] = {}
        for key, sub in props.items():
            # Past the depth limit only required keys are filled, so recursion terminates.
            if depth >= _MAX_DEPTH and key not in required:
                continue
            out[key] = self.make(sub, depth + 1, key)
        for key in sorted(required - out.keys()):
            out[key] = self.seed_text
        return out

    def make_array(self, schema: dict[str, Any], depth: int, name: str) -> list[Any]:
        prefix: list[Any] = schema.get("prefixItems") or []
        out = [self.make(sub, depth + 1, name) for sub in prefix]
        want = int(schema.get("minItems", 0 if depth >= _MAX_DEPTH else 1))
        if "maxItems" in schema:
            want = min(want, int(schema["maxItems"]))
        items = schema.get("items", {})
        while len(out) < want and items is not False:
            out.append(self.make(items, depth + 1, name))
        return out

    def make_string(self, schema: dict[str, Any], name: str) -> str:
        fmt = schema.get("format")
        value = _FORMATS.get(fmt, self.seed_text) if isinstance(fmt, str) else self.seed_text
        min_len = int(schema.get("minLength", 0))
        if len(value) < min_len:
            value = value + "x" * (min_len - len(value))
        if "maxLength" in schema:
            value = value[: int(schema["maxLength"])]
        return value


def _type_of(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        return str(non_null[0]) if non_null else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _number(schema: dict[str, Any], *, integer: bool) -> float:
    low = schema.get("minimum")
    ex_low = schema.get("exclusiveMinimum")
    high = schema.get("maximum")
    ex_high = schema.get("exclusiveMaximum")
    step = 1 if integer else 0.5
    value: float = 1
    if isinstance(low, int | float):
        value = max(value, low) if high is None else low
    if isinstance(ex_low, int | float):
        value = max(value, ex_low + step)
    if isinstance(high, int | float):
        value = min(value, high)
    if isinstance(ex_high, int | float) and value >= ex_high:
        value = ex_high - step
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = math.ceil(value / multiple) * multiple
    return math.ceil(value) if integer else float(value)
