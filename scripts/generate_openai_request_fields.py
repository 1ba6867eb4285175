"""Generate ``lmbatch_openai/_request_fields.py``: OpenAI's request fields per endpoint.

The OpenAI provider refuses a hyperparameter that is neither portable nor a documented
field of the endpoint's request body (with a did-you-mean). The documented fields come
from the vendored OpenAPI spec, which is not shipped with the package, so their names
are generated into a small module, committed, and checked against the spec by the tests
(providers/lmbatch-openai/tests/test_request_fields.py).

Usage::

    python scripts/generate_openai_request_fields.py          # rewrite the module
    python scripts/generate_openai_request_fields.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SPECS = Path(os.environ.get("LMBATCH_SPECS_DIR") or REPO / "specs" / "openapi")
SPEC_FILE = "openai-request-bodies.subset.yaml"
MODULE = REPO / "providers" / "lmbatch-openai" / "lmbatch_openai" / "_request_fields.py"
#: Endpoint → the spec's schema of its request body.
ENDPOINT_SCHEMAS = {
    "/v1/chat/completions": "CreateChatCompletionRequest",
    "/v1/responses": "CreateResponse",
}


def load_spec(directory: Path = SPECS) -> dict[str, Any]:
    """The OpenAPI document of OpenAI's request bodies."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (directory / SPEC_FILE).open(encoding="utf-8") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)
    return spec


def field_names(spec: dict[str, Any], schema_name: str) -> set[str]:
    """Every property name of a schema, through ``$ref``, ``allOf`` and ``anyOf``."""
    schemas = spec["components"]["schemas"]
    names: set[str] = set()
    seen: set[str] = set()

    def visit(schema: dict[str, Any]) -> None:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                visit(schemas[name])
            return
        names.update(schema.get("properties") or {})
        for combinator in ("allOf", "anyOf", "oneOf"):
            for part in schema.get(combinator) or []:
                if isinstance(part, dict) and (
                    "properties" in part or "$ref" in part or "allOf" in part
                ):
                    visit(part)

    visit(schemas[schema_name])
    return names


def render(spec: dict[str, Any]) -> str:
    """The text of the generated module."""
    lines = [
        '"""OpenAI request-body fields per batch endpoint (generated: do not edit).',
        "",
        "Written by scripts/generate_openai_request_fields.py from the vendored OpenAPI",
        f"spec (specs/openapi/{SPEC_FILE}); the tests check that it matches the spec.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        '__all__ = ["REQUEST_FIELDS"]',
        "",
        "#: Endpoint → the names of the fields its request body documents.",
        "REQUEST_FIELDS: dict[str, frozenset[str]] = {",
    ]
    for endpoint, schema_name in ENDPOINT_SCHEMAS.items():
        lines.append(f'    "{endpoint}": frozenset(')
        lines.append("        {")
        lines += [f'            "{name}",' for name in sorted(field_names(spec, schema_name))]
        lines.append("        }")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the module is stale")
    args = parser.parse_args(argv)
    text = render(load_spec())
    if args.check:
        if MODULE.read_text(encoding="utf-8") != text:
            print(f"{MODULE} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    MODULE.write_text(text, encoding="utf-8")
    print(f"wrote {MODULE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
