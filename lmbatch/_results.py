"""Reading results: structured-output validation and outcome completion helpers."""

from __future__ import annotations

import importlib
import json
import re
from typing import Any

import pydantic

from lmbatch._jsonschema import compile_schema
from lmbatch._outputs import LMError, LMOutput, StructuredOutput

__all__ = ["StructuredOutputValidator", "parse_json_object", "salvage_custom_id"]

_CUSTOM_ID_RE = re.compile(r'"custom_id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def salvage_custom_id(line: str | bytes) -> str | None:
    """Find the ``custom_id`` of a result line that is not valid JSON, if it shows."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    match = _CUSTOM_ID_RE.search(text)
    if match is None:
        return None
    try:
        value = json.loads(f'"{match.group(1)}"')
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, str) else None


def parse_json_object(text: str) -> tuple[Any, str | None]:
    """Parse model text as JSON; return ``(data, None)`` or ``(None, reason)``."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"structured output is not valid JSON: {exc}"


class StructuredOutputValidator:
    """Checks structured outputs against the ``response_schema`` given at create time.

    A pydantic model class is used when it is known (given in this process, or
    importable from the path recorded in the job store); otherwise the JSON schema is
    checked with ``jsonschema`` (an extra; without it reading the answers is a
    :class:`~lmbatch.ConfigError`: answers are never let through unchecked).
    """

    def __init__(
        self,
        json_schema: dict[str, Any] | None,
        model_path: str | None = None,
        model: type[pydantic.BaseModel] | None = None,
    ) -> None:
        self.json_schema = json_schema
        self.model = model or _import_model(model_path)
        self._compiled: Any = None

    @classmethod
    def from_context(
        cls, context: dict[str, Any], model: type[pydantic.BaseModel] | None = None
    ) -> StructuredOutputValidator | None:
        """A validator for a job's context, or None when no schema was requested."""
        schema = context.get("response_schema")
        if schema is None:
            return None
        return cls(schema, context.get("response_model"), model)

    def check(self, output: LMOutput) -> LMOutput:
        """Return ``output`` unchanged when valid, else with an ``invalid_response`` error."""
        if output.error is not None:
            return output
        items = [item for item in output.outputs if isinstance(item, StructuredOutput)]
        if not items:
            if output.tool_calls or output.refusal is not None:
                return output  # the model called a tool or refused: nothing to validate
            return _invalid(output, "no structured output in the response")
        reason = self._problem(items[0].data)
        return output if reason is None else _invalid(output, reason)

    def _problem(self, data: Any) -> str | None:
        if self.model is not None:
            try:
                self.model.model_validate(data)
            except pydantic.ValidationError as exc:
                return f"structured output does not match {self.model.__name__}: {exc}"
            return None
        if self.json_schema is None:
            return None
        if self._compiled is None:
            self._compiled = self._schema_validator(self.json_schema)
        if isinstance(self._compiled, str):
            return self._compiled
        import jsonschema.exceptions

        # The error jsonschema.validate would raise, without re-checking the schema.
        error = jsonschema.exceptions.best_match(self._compiled.iter_errors(data))
        if error is None:
            return None
        return f"structured output does not match the schema: {error.message}"

    @staticmethod
    def _schema_validator(schema: dict[str, Any]) -> Any:
        """A jsonschema validator, built once per batch (or why none can be built).

        ``jsonschema.validate`` checks the schema itself on every call, which costs far
        more than checking an answer (70× slower results reading, measured).
        """
        try:
            return compile_schema(schema)
        except ValueError as exc:
            # Refused at create time now; a job recorded before may still hold one. Its
            # answers cannot be checked, so none is passed as valid.
            return f"the job's response_schema is not a valid JSON Schema: {exc}"


def _invalid(output: LMOutput, reason: str) -> LMOutput:
    provider = output.error.provider if output.error else None
    error = LMError(
        kind="invalid_response", code="schema_mismatch", message=reason, provider=provider
    )
    return output.model_copy(update={"error": error})


def _import_model(path: str | None) -> type[pydantic.BaseModel] | None:
    if not path or ":" not in path:
        return None
    module_name, _, qualname = path.partition(":")
    if "<locals>" in qualname:
        return None
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        return None
    if isinstance(target, type) and issubclass(target, pydantic.BaseModel):
        return target
    return None
