"""JSON Schema checks, with ``jsonschema`` imported only when a schema is used.

``jsonschema`` comes with the ``jsonschema`` extra (``pip install 'lmbatch[jsonschema]'``;
the ``cli`` and ``dev`` extras include it). A dict ``response_schema`` (or a dict tool's
parameters) is always checked, both up front (is it a JSON Schema at all?) and against
every answer; without the package such a schema is refused with a :class:`ConfigError`
that names the install command, never let through unchecked. Pydantic models need no
``jsonschema``. It is imported here, lazily, because it costs tens of milliseconds that
``import lmbatch`` should not pay.
"""

from __future__ import annotations

from typing import Any

from lmbatch._errors import ConfigError

__all__ = ["INSTALL_HINT", "compile_schema", "schema_problem"]

#: The command that installs what checking a JSON Schema dict needs.
INSTALL_HINT = "pip install 'lmbatch[jsonschema]'"

# jsonschema's messages quote the offending value, which may be a whole sub-schema.
_MAX_MESSAGE = 300


def _validators() -> Any:
    try:
        import jsonschema.validators
    except ImportError as exc:
        # An optional extra that is missing: refuse, never fall back to not checking.
        raise ConfigError(
            "a JSON Schema dict (response_schema, or a tool's parameters) is checked with "
            f"the 'jsonschema' package, which cannot be imported ({exc}); install it with: "
            f"{INSTALL_HINT} (or give a pydantic model instead)"
        ) from None
    return jsonschema.validators


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (for its ``$schema`` draft), or None.

    Raises:
        ConfigError: ``jsonschema`` cannot be imported.
    """
    validators = _validators()
    import jsonschema.exceptions

    validator_class = validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(
        validator_class(validator_class.META_SCHEMA).iter_errors(schema)
    )
    if error is None:
        return None
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[:_MAX_MESSAGE] + "..."
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{message} (at {where})" if where else message


def compile_schema(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, built once (checking the schema itself costs far more
    than checking an answer).

    Raises:
        ConfigError: ``jsonschema`` cannot be imported.
        ValueError: ``schema`` is not a valid JSON Schema (the message says why).
    """
    validator_class = _validators().validator_for(schema)
    import jsonschema.exceptions

    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise ValueError(exc.message) from None
    return validator_class(schema)
