"""Making a JSON schema acceptable to OpenAI's strict structured outputs.

Strict mode wants every object closed (``additionalProperties: false``) and every property
listed in ``required``. lmbatch adds both wherever they are missing. Core still validates
answers against the schema exactly as the caller gave it.
"""

from __future__ import annotations

import copy
from typing import Any

from lmbatch.provider import Hyperparameters

__all__ = ["strict_response_schema", "strict_schema"]

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")


def strict_response_schema(params: Hyperparameters) -> dict[str, Any]:
    """The strict form of ``params.response_schema``, worked out once per job's settings."""
    return params.derived("openai.strict_schema", _strict_response_schema)


def _strict_response_schema(params: Hyperparameters) -> dict[str, Any]:
    assert params.response_schema is not None
    return strict_schema(params.response_schema.json_schema)


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``schema`` with every object closed and all its properties required."""
    result = copy.deepcopy(schema)
    _close(result)
    return result


def _close(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _close(item)
        return
    if not isinstance(node, dict):
        return
    is_object = node.get("type") == "object" or "properties" in node
    if is_object:
        node.setdefault("additionalProperties", False)
        properties = node.get("properties")
        if isinstance(properties, dict):
            node["required"] = list(properties)
    for name in _SCHEMA_MAPS:
        children = node.get(name)
        if isinstance(children, dict):
            for child in children.values():
                _close(child)
    for name in _SCHEMA_LISTS:
        _close(node.get(name))
    for name in ("items", "not", "if", "then", "else", "additionalProperties"):
        child = node.get(name)
        if isinstance(child, dict):
            _close(child)
