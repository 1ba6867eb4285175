"""Building pydantic models from values already known to be valid, without validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["build_unchecked", "validate_unchecked"]

_Model = TypeVar("_Model", bound=BaseModel)

#: Validate in :func:`build_unchecked` after all; the test suite turns this on, so
#: every decoder's output is checked there while users get the fast path.
validate_unchecked = False


def build_unchecked(model: type[_Model], fields: dict[str, Any]) -> _Model:
    """Build ``model`` from values already known to be valid, skipping validation.

    For decoders' hot paths (tens of thousands of results), where validation would
    only re-check what the decoder just built. ``fields`` must give every field, each
    of its declared type, and nothing else: the caller is responsible, as with
    pydantic's ``model_construct``.
    """
    if validate_unchecked:
        if set(fields) != set(model.model_fields):
            raise TypeError(f"build_unchecked({model.__name__}) needs exactly its fields")
        return model.model_validate(fields)
    instance = _new(model)
    # What pydantic's model_construct sets, without its per-field default handling.
    _set_object_attribute(instance, "__dict__", fields)
    _set_fields_set(instance, _all_fields(model))
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    # BaseModel keeps these in slots; their descriptors set them a third faster than
    # object.__setattr__ does (measured), which counts at tens of thousands of results.
    descriptor = BaseModel.__dict__.get(name)
    if descriptor is not None and hasattr(descriptor, "__set__"):
        setter: Callable[[Any, Any], None] = descriptor.__set__
        return setter
    return lambda instance, value: object.__setattr__(instance, name, value)


_new = object.__new__
_set_object_attribute = object.__setattr__
_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _all_fields(model: type[BaseModel]) -> set[str]:
    # One "fields set" shared by every instance of a model: every field is set, so the
    # only change pydantic ever makes to it (adding a field on assignment) changes
    # nothing. A set per instance would be one more object for the garbage collector
    # to walk per result: with 50,000 results held, that alone costs more than decoding
    # (measured: OpenAI results read ~1.4× faster with shared sets).
    names = _ALL_FIELDS.get(model)
    if names is None:
        names = _ALL_FIELDS[model] = set(model.model_fields)
    return names
