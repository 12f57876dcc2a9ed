"""Building a model's data straight from the YAML parser's events, without a node tree.

libyaml's composer builds a node for every value, with two position marks each, calling back into
Python to resolve every scalar's tag; for a model of 10,000 servers that is most of the loading time
and memory. This builder reads the parser's events instead and keeps only the data, in one loop with
its own stack (no recursion). It reads exactly what :func:`ctlplane.model.load.parse_yaml` reads from
the node tree (the same tag resolution and constructors, plain strings and decimal integers taken
directly) and refuses the same things at the same places: aliases (located at the anchored value),
merge keys, keys that are not scalars, duplicate keys, and a second document. Positions of values are
not recorded here: they are found again, lazily, only when an error needs one.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError

from ctlplane.errors import Finding, ModelError

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MERGE = "tag:yaml.org,2002:merge"
EMPTY = object()  # a stream without a document


def _at(mark: Any, message: str, name: str) -> Finding:
    return Finding(message, file=name, line=mark.line + 1, column=mark.column + 1)


def _tag(loader: Any, event: Any) -> str:
    tag = event.tag
    if tag is None or tag == "!":
        return str(loader.resolve(yaml.ScalarNode, event.value, event.implicit))
    return str(tag)


def scalar_value(loader: Any, tag: str, value: str, start: Any, end: Any, style: str | None) -> Any:
    """Plain strings and decimal integers directly; every other tag through the safe constructor (a node is
    built only then: this runs for every value of the model)."""
    if tag == _STR:
        return value
    if tag == _INT and value.isdigit() and (value[0] != "0" or value == "0"):
        return int(value)
    return loader.construct_object(yaml.ScalarNode(tag, value, start, end, style))


def _scalar(loader: Any, event: Any) -> Any:
    return scalar_value(loader, _tag(loader, event), event.value, event.start_mark, event.end_mark, event.style)


class _Mapping:
    __slots__ = ("data", "key")

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.key: str | None = None  # the key whose value comes next


def build(loader: Any, name: str) -> Any:
    """The data of the single document ``loader`` (a PyYAML loader over the text) parses, or :data:`EMPTY`."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return EMPTY
    document = loader.get_event()
    data = _document(loader, name)
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        extra = loader.get_event()
        raise ComposerError("expected a single document in the stream", document.start_mark,
                            "but found another document", extra.start_mark)
    return data


def _document(loader: Any, name: str) -> Any:
    stack: list[_Mapping | list[Any]] = []
    anchors: dict[str, Any] = {}
    while True:
        event = loader.get_event()
        kind = type(event)
        top = stack[-1] if stack else None
        if isinstance(top, _Mapping) and top.key is None and kind is not yaml.MappingEndEvent:
            top.key = _key(loader, event, top, name)
            continue
        if kind is yaml.ScalarEvent:
            if event.anchor is not None:
                anchors[event.anchor] = event.start_mark
            value = _scalar(loader, event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.anchor is not None:
                anchors[event.anchor] = event.start_mark
            stack.append(_Mapping() if kind is yaml.MappingStartEvent else [])
            continue
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = stack.pop()
            value = done.data if isinstance(done, _Mapping) else done
        else:  # an alias: the composer would hand back the anchored value a second time
            mark = anchors.get(event.anchor, event.start_mark)
            raise ModelError("alias", [_at(mark, "YAML anchors and aliases are not allowed in a model", name)])
        if not stack:
            return value
        parent = stack[-1]
        if isinstance(parent, _Mapping):
            parent.data[parent.key] = value  # type: ignore[index]  # a key was read before its value
            parent.key = None
        else:
            parent.append(value)


def _key(loader: Any, event: Any, mapping: _Mapping, name: str) -> str:
    if type(event) is yaml.ScalarEvent and event.tag is None and event.value != "<<":  # no merge key: most keys
        if event.value in mapping.data:
            raise ModelError("duplicate key", [_at(event.start_mark, f"duplicate key {event.value!r}", name)])
        return str(event.value)
    if type(event) is yaml.AliasEvent:
        raise ModelError("alias", [_at(event.start_mark, "YAML anchors and aliases are not allowed in a model", name)])
    if type(event) is not yaml.ScalarEvent:
        raise ModelError("bad key", [_at(event.start_mark, "mapping keys must be plain scalars", name)])
    if _tag(loader, event) == _MERGE:
        raise ModelError("merge key", [_at(event.start_mark, "YAML merge keys ('<<') are not allowed", name)])
    key = str(event.value)
    if key in mapping.data:
        raise ModelError("duplicate key", [_at(event.start_mark, f"duplicate key {key!r}", name)])
    return key
