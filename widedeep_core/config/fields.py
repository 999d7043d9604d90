"""What a configuration field is (``FieldInfo``) and how one is declared (``declare``).

The lowest module of ``config``: the rule book (``validation``) reads ``FieldInfo``
records and the cross spelling from here, and ``schema`` declares ``Config``'s fields
with ``declare``, so neither needs the other's module to describe a field.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from widedeep_core.constants import CROSS_SEPARATOR, FIELDS
from widedeep_core.errors import ConfigError


def declare(
    default: Any,
    help: str,
    *,
    group: str,
    label: str | None = None,
    min: float | None = None,
    max: float | None = None,
    min_exclusive: bool = False,
    max_exclusive: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """Declare a config field with the metadata the form, the CLI and ``validate`` share."""
    meta = {
        "help": help,
        "group": group,
        "label": label,
        "min": min,
        "max": max,
        "min_exclusive": min_exclusive,
        "max_exclusive": max_exclusive,
        "choices": choices,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldInfo:
    """What a form or CLI needs to know about one ``Config`` field."""

    name: str
    kind: str  # bool, int, float, str, str_tuple, int_tuple, float_tuple
    optional: bool  # None allowed
    length: int | None  # fixed tuple length, None when any length
    default: Any
    help: str
    group: str
    label: str
    min: float | None
    max: float | None
    min_exclusive: bool
    max_exclusive: bool
    choices: tuple[str, ...] | None  # for str_tuple: allowed items

    def describe_range(self) -> str:
        """Human text of the allowed values, e.g. '(0, 10]' or 'one of: adam, sgd'."""
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        if self.min is None and self.max is None:
            return "any value"
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        left = "(" if self.min_exclusive or self.min is None else "["
        right = ")" if self.max_exclusive or self.max is None else "]"
        return f"{left}{lo}, {hi}{right}"


def _num(value: float) -> str:
    """Short text of a bound: 1 not 1.0, 4294967295 in full."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _kind_of(tp: Any) -> tuple[str, bool, int | None]:
    """Map a field annotation to (kind, optional, fixed tuple length)."""
    optional = False
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        (tp,) = [a for a in args if a is not type(None)]
    if tp in (bool, int, float, str):
        return tp.__name__, optional, None
    if typing.get_origin(tp) is tuple:
        items = typing.get_args(tp)
        length = None if (len(items) == 2 and items[1] is Ellipsis) else len(items)
        return f"{items[0].__name__}_tuple", optional, length
    raise TypeError(f"unsupported config field type {tp!r}")  # a programming error, not user input


def field_infos(cls: type) -> tuple[FieldInfo, ...]:
    """The ``FieldInfo`` of every field of a dataclass declared with ``declare``, in order."""
    hints = typing.get_type_hints(cls)
    infos = []
    for f in dataclasses.fields(cls):
        kind, optional, length = _kind_of(hints[f.name])
        m = f.metadata
        infos.append(
            FieldInfo(
                name=f.name,
                kind=kind,
                optional=optional,
                length=length,
                default=f.default,
                help=m["help"],
                group=m["group"],
                label=m["label"] or f.name.replace("_", " "),
                min=m["min"],
                max=m["max"],
                min_exclusive=m["min_exclusive"],
                max_exclusive=m["max_exclusive"],
                choices=m["choices"],
            )
        )
    return tuple(infos)


def normalize_cross(text: str) -> str:
    """Canonical spelling of a cross: 'Gender  X genres' -> 'gender x genres' (not validated)."""
    parts = re.split(r"\s+[xX×]\s+|\s*[×*]\s*", text.strip())
    if len(parts) != 2:
        return text.strip()
    return parts[0].strip().lower() + CROSS_SEPARATOR + parts[1].strip().lower()


def split_cross(cross: str) -> tuple[str, str]:
    """Split 'a x b' into two known, different fields; anything else raises ``ConfigError``."""
    parts = normalize_cross(cross).split(CROSS_SEPARATOR)
    if len(parts) != 2:
        raise ConfigError(
            "crosses", f"{cross!r} is not of the form 'a x b' (e.g. 'gender x genres')"
        )
    a, b = parts
    for part in (a, b):
        if part not in FIELDS:
            raise ConfigError(
                "crosses", f"{cross!r}: unknown field {part!r}; fields: {', '.join(FIELDS)}"
            )
    if a == b:
        raise ConfigError("crosses", f"{cross!r} crosses a field with itself")
    return a, b


__all__ = ["FieldInfo", "declare", "field_infos", "normalize_cross", "split_cross"]
