"""Deterministic sample values that satisfy a JSON schema (for fake answers)."""

from __future__ import annotations

from typing import Any

__all__ = ["sample_from_schema"]


def sample_from_schema(
    schema: dict[str, Any], seed_text: str = "", root: dict[str, Any] | None = None
) -> Any:
    """A value valid for ``schema`` (the subset of JSON schema used for structured output)."""
    root = root if root is not None else schema
    if "$ref" in schema:
        return sample_from_schema(_resolve(root, schema["$ref"]), seed_text, root)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if schema.get(combinator):
            return sample_from_schema(schema[combinator][0], seed_text, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][len(seed_text) % len(schema["enum"])]
    if "default" in schema:
        return schema["default"]
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties: dict[str, Any] = schema.get("properties", {})
        return {
            name: sample_from_schema(sub, f"{seed_text}.{name}", root)
            for name, sub in properties.items()
        }
    if kind == "array":
        items = schema.get("items", {"type": "string"})
        count = max(1, int(schema.get("minItems", 1)))
        return [sample_from_schema(items, f"{seed_text}[{i}]", root) for i in range(count)]
    if kind == "string":
        text = f"sample {seed_text}".strip()
        minimum = int(schema.get("minLength", 0))
        return text.ljust(minimum, "x")
    if kind == "integer":
        return int(schema.get("minimum", len(seed_text) % 10))
    if kind == "number":
        return float(schema.get("minimum", len(seed_text) % 10))
    if kind == "boolean":
        return len(seed_text) % 2 == 0
    return None


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)
