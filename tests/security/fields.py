"""Every string-valued field of the model, found by walking the pydantic
classes from :class:`Model` (so a new field is covered the day it is added),
and every string slot of a concrete model instance."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel

from ctlplane.model.root import Model

Slot = tuple[tuple[str | int, ...], str, str]  # (path in the data, class name, field name)


def _leaves(annotation: Any) -> Iterator[Any]:
    """The leaf types of an annotation: through Annotated, unions, Optional and lists."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _leaves(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, list, tuple, set, frozenset, dict):
        for arg in typing.get_args(annotation):
            yield from _leaves(arg)
    else:
        yield annotation


def _is_string(leaf: Any) -> bool:
    if leaf is str:
        return True
    return typing.get_origin(leaf) is Literal and any(isinstance(v, str) for v in typing.get_args(leaf))


def _accepts_string(schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    if "$ref" in schema:
        return False  # a nested model, walked on its own
    if schema.get("type") == "string" or any(isinstance(v, str) for v in schema.get("enum", [])):
        return True
    if isinstance(schema.get("const"), str):
        return True
    subs = schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", [])
    if isinstance(schema.get("items"), dict):
        subs = [*subs, schema["items"]]
    return any(_accepts_string(sub, defs) for sub in subs)


def schema_string_fields(root: type[BaseModel] = Model) -> set[tuple[str, str]]:
    """(class name, field name) of every property whose JSON schema accepts a string (durations and sizes
    included: they are typed as text such as '5s' or '10m')."""
    schema = root.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    found = set()
    for cls, body in [(root.__name__, schema), *defs.items()]:
        for name, prop in body.get("properties", {}).items():
            if _accepts_string(prop, defs):
                found.add((cls, name))
    return found


def string_fields(root: type[BaseModel] = Model) -> set[tuple[str, str]]:
    """Every (class name, field name) that accepts a string: by the JSON schema and by the annotations."""
    return schema_string_fields(root) | annotated_string_fields(root)


def annotated_string_fields(root: type[BaseModel] = Model) -> set[tuple[str, str]]:
    """(class name, field name) of every field of every model class that can hold a string."""
    found: set[tuple[str, str]] = set()
    seen: set[type] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, info in cls.model_fields.items():
            for leaf in _leaves(info.annotation):
                if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                    walk(leaf)
                elif _is_string(leaf):
                    found.add((cls.__name__, name))

    walk(root)
    return found


def slots(instance: BaseModel, fields: set[tuple[str, str]], path: tuple[str | int, ...] = ()) -> Iterator[Slot]:
    """Every place in a validated model that takes a string (a string-typed field, set or not, or one element
    of a list of strings), with the field it belongs to; nested models are walked."""
    cls = type(instance).__name__
    for name in type(instance).model_fields:
        value = getattr(instance, name)
        here = (*path, name)
        if isinstance(value, BaseModel):
            yield from slots(value, fields, here)
        elif isinstance(value, dict) and (cls, name) in fields:
            for key in value:  # a mapping of strings (label selectors): each value is a slot
                yield (*here, key), cls, name
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from slots(item, fields, (*here, i))
                elif (cls, name) in fields:
                    yield (*here, i), cls, name
        elif (cls, name) in fields:
            yield here, cls, name
