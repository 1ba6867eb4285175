"""Write the JSON Schema of a Gemini batch request, from the google-genai SDK's own types.

The tests validate every request lmbatch encodes against it (``tests/data/``), without
needing the SDK installed. Regenerate after upgrading google-genai::

    pip install google-genai
    python providers/lmbatch-gemini/scripts/generate_request_schema.py

A test compares the file with a fresh generation whenever the SDK is installed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "generate_content_request.schema.json"
)


def request_models() -> dict[str, Any]:
    """Pydantic models of the wire shapes, built from the SDK's types (camelCase aliases).

    The fields are those google-genai's Developer-API converters write into a batch
    request (``batches._InlinedRequest_to_mldev``, ``_GenerateContentConfig_to_mldev``);
    ``extra="forbid"``, like the SDK's types, so an unknown field fails.
    """
    import pydantic
    from google.genai import types
    from pydantic.alias_generators import to_camel

    config = pydantic.ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    class GenerateContentRequest(pydantic.BaseModel):
        model_config = config
        model: str | None = None
        contents: list[types.Content]
        system_instruction: types.Content | None = None
        tools: list[types.Tool] | None = None
        tool_config: types.ToolConfig | None = None
        safety_settings: list[types.SafetySetting] | None = None
        generation_config: types.GenerationConfig | None = None
        cached_content: str | None = None
        labels: dict[str, str] | None = None
        service_tier: str | None = None
        store: bool | None = None

    class InlinedRequest(pydantic.BaseModel):
        model_config = config
        request: GenerateContentRequest
        metadata: dict[str, str] | None = None

    class FileLine(pydantic.BaseModel):
        model_config = config
        key: str
        request: GenerateContentRequest

    return {"request": GenerateContentRequest, "inline": InlinedRequest, "line": FileLine}


def schema() -> dict[str, Any]:
    """The schema: ``$defs`` shared, one entry point per shape."""
    from pydantic.json_schema import models_json_schema

    models = request_models()
    refs, document = models_json_schema(
        [(model, "validation") for model in models.values()], by_alias=True
    )
    entries = {name: refs[(model, "validation")] for name, model in models.items()}
    return {"$defs": _bare(document["$defs"], names=True), "entries": entries}


def _bare(node: Any, names: bool = False) -> Any:
    """``node`` without the ``description``/``title``/``default`` annotations (the file is
    for validating, not reading); names under ``properties`` are kept as they are."""
    if isinstance(node, list):
        return [_bare(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {key: _bare(value) for key, value in node.items()}
    return {
        key: _bare(value, names=key in ("properties", "$defs"))
        for key, value in node.items()
        if key not in ("description", "title", "default")
    }


def render() -> str:
    """The file's text."""
    return json.dumps(schema(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)
