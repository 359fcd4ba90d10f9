"""Typed dataclass configs ↔ the plain dicts stored in checkpoints and ``metrics.json``, and the
preset conventions every paper's ``config`` module shares.

``asdict`` turns a config into JSON-able data (tuples become lists once written as JSON);
:func:`config_from_dict` turns such a dict back into the typed config, so that a config read
from a checkpoint compares equal to the preset it came from. :func:`pick_preset` and
:func:`checkpoint_name` are the one spelling of "preset by name" and "its exported file".
"""
from __future__ import annotations

import types
import typing
from dataclasses import asdict, fields, is_dataclass, replace
from typing import Any, Callable, Mapping, TypeVar

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


class DictConfig:
    """Mixin for a paper's config dataclass: ``to_dict`` (JSON-able, for checkpoints and
    ``metrics.json``) and ``from_dict`` (:func:`config_from_dict`: tolerant of stored data)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls: type[T], d: Mapping[str, Any]) -> T:
        return config_from_dict(cls, d)


def pick_preset(presets: Mapping[str, Callable[[], T]], name: str, method: str, **overrides) -> T:
    """``presets[name]()`` with field overrides; an unknown name is a one-line
    :class:`~faceinpaint.errors.FaceInpaintError` listing the known ones."""
    from .errors import FaceInpaintError

    if name not in presets:
        raise FaceInpaintError(f"unknown preset {name!r} for {method} (known: {', '.join(presets)})")
    return replace(presets[name](), **overrides)


def checkpoint_name(method: str, preset: str) -> str:
    """The exported inference file of ``preset``: ``<method>_cpu.pt``; an ablation preset
    ``<scale>_<variant>`` puts the variant first, ``cpu_nolandmarks`` → ``lafin_nolandmarks_cpu.pt``
    (the shipped names in ``checkpoints/``)."""
    base, _, variant = preset.partition("_")
    return f"{method}_{variant}_{base}.pt" if variant else f"{method}_{base}.pt"
