"""Typed dataclass configs ↔ the plain dicts stored in checkpoints and ``metrics.json``.

``asdict`` turns a config into JSON-able data (tuples become lists once written as JSON);
:func:`config_from_dict` turns such a dict back into the typed config, so that a config read
from a checkpoint compares equal to the preset it came from.
"""
from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


def _is_tuple_type(t: Any) -> bool:
    """``tuple[...]``, or a union that admits one (``tuple[int, int] | None``)."""
    if typing.get_origin(t) is tuple or t is tuple:
        return True
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(t))
    return False


def config_from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
    """``cls(**d)`` for a dataclass ``cls``, tolerant of stored data: keys that are not fields
    are dropped (a checkpoint from a newer or older version), missing fields keep their
    defaults, lists become tuples where the field is a tuple, and nested dataclass fields
    are rebuilt from their dicts."""
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        value, hint = d[f.name], hints[f.name]
        if is_dataclass(hint) and isinstance(value, Mapping):
            value = config_from_dict(hint, value)
        elif isinstance(value, list) and _is_tuple_type(hint):
            value = tuple(value)
        kw[f.name] = value
    return cls(**kw)
