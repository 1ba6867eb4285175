"""Portable generation settings (``hyperparameters``) and their validation.

Portable names and what they mean:

=================  ==========================================================
``max_tokens``     most tokens to generate (int > 0)
``temperature``    sampling temperature (0 ≤ t ≤ 2)
``top_p``          nucleus sampling (0 < p ≤ 1)
``stop``           a stop sequence or a list of them
``seed``           sampling seed (int), where the vendor supports it
``response_schema``  a pydantic model class or a JSON schema dict (object schema):
                   the answer is structured output following it
``tools``          tool definitions: :class:`Tool`, dicts with ``name``,
                   ``description``, ``parameters``, or pydantic model classes
``tool_choice``    ``"auto"``, ``"none"``, ``"required"`` or a tool name
=================  ==========================================================

Any other key must be a field the provider declares (its vendor's documented request
fields: see :meth:`BatchOperations._request_fields`); it is passed to the vendor's request
body unchanged. A name that is neither is refused before anything is sent, with a
did-you-mean. A deliberate pass-through of fields lmbatch does not know goes under
``extra_body`` (a dict: ``{"extra_body": {"new_field": 1}}``), merged into every request
body as is. Each provider documents how the portable names map to its own fields.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from lmbatch._errors import ValidationError
from lmbatch._json import json_problem

__all__ = [
    "EXTRA_BODY",
    "PORTABLE_HYPERPARAMETERS",
    "Hyperparameters",
    "ResponseSchema",
    "Tool",
    "check_vendor_fields",
]

#: The hyperparameter whose fields go into request bodies unchecked (the escape hatch).
EXTRA_BODY = "extra_body"

PORTABLE_HYPERPARAMETERS = frozenset(
    {
        "max_tokens",
        "temperature",
        "top_p",
        "stop",
        "seed",
        "response_schema",
        "tools",
        "tool_choice",
    }
)
_T = TypeVar("_T")
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class Tool(BaseModel):
    """A function the model may call.

    Attributes:
        name: Tool name (letters, digits, ``_`` and ``-``; at most 64).
        description: What the tool does, for the model.
        parameters: JSON schema (an object schema) of the arguments.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ResponseSchema(BaseModel):
    """A normalised ``response_schema``: name, JSON schema and the model class if any."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    json_schema: dict[str, Any]
    model: type[BaseModel] | None = None

    @property
    def model_path(self) -> str | None:
        """``module:QualName`` of the model class, so another process can import it."""
        if self.model is None:
            return None
        return f"{self.model.__module__}:{self.model.__qualname__}"


class Hyperparameters(BaseModel):
    """Validated generation settings; ``extra`` holds vendor-specific pass-through keys."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    response_schema: ResponseSchema | None = None
    tools: list[Tool] | None = None
    tool_choice: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    #: Names in ``extra`` that came through ``extra_body``: sent without a name check.
    pass_through: frozenset[str] = frozenset()
    _derived: dict[tuple[str, int], Any] = PrivateAttr(default_factory=dict)

    def derived(self, name: str, build: Callable[[Hyperparameters], _T]) -> _T:
        """``build(self)``, computed on the first call and reused after.

        For request parts that depend on the settings alone (a provider's strict form
        of the response schema, say): the settings of a job are the same for each of its
        requests, so there is no reason to work them out again per request.
        """
        # Keyed by identity too: model_copy shares private state with the copy.
        slot = (name, id(self))
        cache = self._derived
        if slot not in cache:
            cache[slot] = build(self)
        value: _T = cache[slot]
        return value

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> Hyperparameters:
        """Validate a user's ``hyperparameters`` dict; raise :class:`ValidationError`."""
        if values is None:
            return cls()
        if not isinstance(values, dict):
            raise ValidationError(f"hyperparameters must be a dict, not {type(values).__name__}")
        portable: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in values.items():
            if not isinstance(name, str):
                raise ValidationError(f"hyperparameter names must be strings, got {name!r}")
            if name in PORTABLE_HYPERPARAMETERS:
                portable[name] = value
            elif name != EXTRA_BODY:
                extra[name] = _check_json(name, value)
        pass_through = _extra_body(values.get(EXTRA_BODY), portable, extra)
        extra.update(pass_through)
        return cls(
            max_tokens=_check_max_tokens(portable.get("max_tokens")),
            temperature=_check_range("temperature", portable.get("temperature"), 0.0, 2.0),
            top_p=_check_top_p(portable.get("top_p")),
            stop=_check_stop(portable.get("stop")),
            seed=_check_int("seed", portable.get("seed")),
            response_schema=normalize_response_schema(portable.get("response_schema")),
            tools=_check_tools(portable.get("tools")),
            tool_choice=_check_tool_choice(portable.get("tool_choice"), portable.get("tools")),
            extra=extra,
            pass_through=frozenset(pass_through),
        )

    def fingerprint_data(self) -> dict[str, Any]:
        """A JSON-able form used for the job fingerprint."""
        # ``pass_through`` changes no request body: it is not part of the identity.
        data = self.model_dump(
            exclude={"response_schema", "extra", "pass_through"}, exclude_none=True
        )
        if self.response_schema is not None:
            data["response_schema"] = self.response_schema.json_schema
        data["extra"] = self.extra
        return data


def _extra_body(value: Any, portable: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``extra_body``, checked: a dict of JSON values, no name given twice."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(name, str) for name in value):
        raise _fail(EXTRA_BODY, f"must be a dict of request-body fields, got {value!r}")
    twice = sorted(set(value) & (set(portable) | set(extra)))
    if twice:
        raise _fail(EXTRA_BODY, f"{twice} also given as hyperparameters; give each once")
    return {name: _check_json(f"{EXTRA_BODY}.{name}", field) for name, field in value.items()}


def check_vendor_fields(params: Hyperparameters, fields: Collection[str], *, where: str) -> None:
    """Refuse a pass-through hyperparameter that is not one of the vendor's ``fields``.

    The one rule every provider that declares its fields follows: portable names, the
    vendor's documented request fields and anything under ``extra_body`` are accepted;
    any other name is a typo or a field of another vendor, refused before anything is
    sent, with the closest accepted names.

    Args:
        params: The validated hyperparameters.
        fields: The request-body field names the vendor documents.
        where: What the fields belong to, for the message (``openai /v1/responses``).

    Raises:
        ValidationError: Naming the hyperparameter, a did-you-mean and the escape hatch.
    """
    for name in params.extra:
        if name in fields or name in params.pass_through:
            continue
        known = sorted(PORTABLE_HYPERPARAMETERS | set(fields))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise _fail(
            name,
            f"not a portable hyperparameter nor a request field of {where}{hint} (to send "
            f"it to the vendor as it is, put it in hyperparameters['{EXTRA_BODY}'], a dict "
            "of request-body fields)",
        )


def _fail(name: str, reason: str) -> ValidationError:
    return ValidationError(f"hyperparameters[{name!r}]: {reason}")


def _check_json(name: str, value: Any) -> Any:
    """A pass-through value goes into every request line as is: it must be JSON."""
    problem = json_problem(value)
    if problem is not None:
        raise _fail(name, problem)
    return value


def _check_int(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(name, f"must be an integer, got {value!r}")
    return value


def _check_max_tokens(value: Any) -> int | None:
    checked = _check_int("max_tokens", value)
    if checked is not None and checked <= 0:
        raise _fail("max_tokens", f"must be greater than 0, got {checked}")
    return checked


def _check_range(name: str, value: Any, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise _fail(name, f"must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def _check_top_p(value: Any) -> float | None:
    checked = _check_range("top_p", value, 0.0, 1.0)
    if checked is not None and checked == 0:
        raise _fail("top_p", "must be greater than 0")
    return checked


def _check_stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) and s for s in value):
        raise _fail("stop", f"must be a non-empty string or a list of them, got {value!r}")
    return list(value)


def normalize_response_schema(value: Any) -> ResponseSchema | None:
    """Turn a pydantic model class or a JSON schema dict into a :class:`ResponseSchema`."""
    if value is None:
        return None
    if isinstance(value, ResponseSchema):
        return value
    if isinstance(value, type) and issubclass(value, BaseModel):
        schema = value.model_json_schema()
        return ResponseSchema(name=_schema_name(value.__name__), json_schema=schema, model=value)
    if isinstance(value, dict):
        if value.get("type") != "object":
            raise _fail(
                "response_schema",
                'must be an object schema ({"type": "object", ...}) or a pydantic model class',
            )
        _check_json_schema("response_schema", value)
        title = value.get("title")
        name = _schema_name(title if isinstance(title, str) else "response")
        return ResponseSchema(name=name, json_schema=dict(value))
    raise _fail(
        "response_schema",
        f"must be a pydantic model class or a JSON schema dict, got {type(value).__name__}",
    )


def _check_json_schema(name: str, schema: dict[str, Any], tool: str | None = None) -> None:
    """Refuse a schema that is not JSON, or not valid JSON Schema, before anything is sent.

    Only schemas users write are checked: the ones pydantic generates are valid, and
    checking them would import ``jsonschema`` for nothing.
    """
    from lmbatch._jsonschema import schema_problem

    problem = json_problem(schema)
    if problem is not None:
        subject = f"tool {tool!r}: the parameters schema" if tool else "the schema"
        raise _fail(name, f"{subject} {problem}")
    problem = schema_problem(schema)
    if problem is not None:
        subject = f"tool {tool!r}: parameters are " if tool else ""
        raise _fail(name, f"{subject}not a valid JSON Schema: {problem}")


def _schema_name(raw: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_-]", "_", raw)[:64]
    return cleaned or "response"


def _check_tools(value: Any) -> list[Tool] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise _fail("tools", f"must be a list, got {type(value).__name__}")
    tools: list[Tool] = []
    for index, item in enumerate(value):
        tool = _to_tool(index, item)
        if not _NAME_RE.fullmatch(tool.name):
            raise _fail("tools", f"tool #{index} has an invalid name {tool.name!r}")
        if tool.parameters.get("type") != "object":
            raise _fail("tools", f"tool {tool.name!r}: parameters must be an object schema")
        if not (isinstance(item, type) and issubclass(item, BaseModel)):
            _check_json_schema("tools", tool.parameters, tool=tool.name)
        tools.append(tool)
    names = [tool.name for tool in tools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise _fail("tools", f"duplicate tool names {duplicates}")
    return tools


def _to_tool(index: int, item: Any) -> Tool:
    if isinstance(item, Tool):
        return item
    if isinstance(item, type) and issubclass(item, BaseModel):
        return Tool(
            name=item.__name__,
            description=(item.__doc__ or "").strip(),
            parameters=item.model_json_schema(),
        )
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        unknown = set(item) - {"name", "description", "parameters"}
        if unknown:
            raise _fail("tools", f"tool #{index} has unknown fields {sorted(unknown)}")
        return Tool(**item)
    raise _fail(
        "tools",
        f"tool #{index} must be a Tool, a dict with 'name', or a pydantic model class",
    )


def _check_tool_choice(value: Any, tools: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail("tool_choice", f"must be 'auto', 'none', 'required' or a tool name: {value!r}")
    if value in ("auto", "none", "required"):
        return value
    names = {tool.name for tool in (_check_tools(tools) or [])}
    if value not in names:
        raise _fail("tool_choice", f"names no tool in `tools`: {value!r}")
    return value
