"""Validation in one place: every error of a set of values, keyed by field name.

``errors_of`` checks complete, coerced values against their ``FieldInfo`` records
(``config.text.validate_all`` takes any partial mapping over a base config and
``config.text.check_strings`` parses form or CLI text first). A ``Config`` calls
``errors_of`` on construction and raises the first error, so it is valid by
construction; this module reads field descriptions only (``config.fields``), never
the ``Config`` class. Lower layers (model, optimisers, splits) keep only cheap
asserts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from widedeep_core.config.fields import FieldInfo, _num, normalize_cross, split_cross
from widedeep_core.config.memory import mlp_memory_error
from widedeep_core.constants import DEVICE_SPEC_RE, DEVICE_SPECS_TEXT
from widedeep_core.errors import ConfigError


def coerce(info: FieldInfo, value: Any) -> Any:
    """Apply the harmless normalisations JSON and forms need; anything else is left to validate."""
    if value is None:
        return value
    if info.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if info.kind == "str" and isinstance(value, str):
        value = value.strip()
        if info.optional and not value:
            return None  # an empty form entry means "not set"
        # Choices and devices are case-insensitive; free text (names) keeps its case.
        return value.lower() if (info.choices or info.name == "device") else value
    if info.kind.endswith("_tuple") and isinstance(value, (list, tuple)):
        items = list(value)
        if info.kind == "float_tuple":
            items = [
                float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in items
            ]
        if info.kind == "str_tuple":
            items = [v.strip() for v in items] if all(isinstance(v, str) for v in items) else items
            if info.name == "crosses":
                items = [normalize_cross(v) if isinstance(v, str) else v for v in items]
            elif info.choices:
                items = [v.lower() if isinstance(v, str) else v for v in items]
        return tuple(items)
    return value


TYPE_WORDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "str_tuple": "a list of names",
    "int_tuple": "a list of whole numbers",
    "float_tuple": "a list of numbers",
}


def _is_type(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, float)
    if kind == "str":
        return isinstance(value, str)
    return isinstance(value, tuple) and all(_is_type(kind[: -len("_tuple")], v) for v in value)


def _in_range(info: FieldInfo, value: float) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if info.min is not None and (value <= info.min if info.min_exclusive else value < info.min):
        return False
    return not (
        info.max is not None and (value >= info.max if info.max_exclusive else value > info.max)
    )


def field_error(info: FieldInfo, value: Any) -> str | None:
    """The error of one (coerced) value on its own: type, range, choices, repeats."""
    if value is None:
        return None if info.optional else f"must be set ({TYPE_WORDS[info.kind]})"
    if not _is_type(info.kind, value):
        return f"must be {TYPE_WORDS[info.kind]}, got {value!r} ({type(value).__name__})"
    if info.length is not None and len(value) != info.length:
        return f"needs exactly {info.length} values, got {len(value)}"
    items = value if isinstance(value, tuple) else (value,)
    if info.kind in ("int", "float", "int_tuple", "float_tuple"):
        for item in items:
            if not _in_range(info, item):
                what = "each value" if isinstance(value, tuple) else "value"
                return f"{what} must be in {info.describe_range()}, got {item!r}"
    if info.choices is not None:
        for item in items:
            if item not in info.choices:
                return f"unknown value {item!r}; allowed: {', '.join(info.choices)}"
    if info.kind == "str_tuple":
        seen = set()
        for item in items:
            if item in seen:
                return f"{item!r} is listed twice"
            seen.add(item)
    return None


def _split_fractions(v: Mapping[str, Any]) -> str | None:
    total = sum(v["split_fractions"])
    if abs(total - 1.0) > 1e-6:
        fractions = ", ".join(_num(f) for f in v["split_fractions"])
        return f"must sum to 1, got {fractions} (sum {total:.6g})"
    return None


def _crosses(v: Mapping[str, Any]) -> str | None:
    seen_pairs: dict[frozenset[str], str] = {}
    for cross in v["crosses"]:
        try:
            a, b = split_cross(cross)
        except ConfigError as exc:
            return exc.reason
        pair = frozenset((a, b))
        if pair in seen_pairs:
            return f"{cross!r} repeats {seen_pairs[pair]!r}"
        seen_pairs[pair] = cross
    return None


def _hidden(v: Mapping[str, Any]) -> str | None:
    if v["deep_fields"] and not v["hidden"]:
        return "needs at least one layer size when deep_fields is set (e.g. 64,32)"
    return None


def _has_input(v: Mapping[str, Any]) -> str | None:
    if not (v["wide_fields"] or v["deep_fields"] or v["crosses"]):
        return "the model has no input: set wide_fields, crosses or deep_fields"
    return None


def _device(v: Mapping[str, Any]) -> str | None:
    if not DEVICE_SPEC_RE.match(v["device"]):
        return f"{v['device']!r} is not understood; use {DEVICE_SPECS_TEXT}"
    return None


def _preset_name(v: Mapping[str, Any]) -> str | None:
    if not v["preset"] or len(v["preset"]) > 100:
        return "must be a name of 1 to 100 characters"
    if any(ord(ch) < 32 for ch in v["preset"]):
        return "must not contain control characters"
    return None


def _run_name(v: Mapping[str, Any]) -> str | None:
    name = v["name"]
    if name is not None and (not name or len(name) > 200):
        return "must be empty or a name of at most 200 characters"
    if any(ord(ch) < 32 for ch in name or ""):
        return "must not contain control characters"
    return None


def _candidates(v: Mapping[str, Any]) -> str | None:
    if v["retrieval"] != "none" and v["candidates"] < v["ranking_k"]:
        return (
            f"M = {v['candidates']} candidates cannot fill a top-{v['ranking_k']} list; "
            f"set candidates >= ranking_k ({v['ranking_k']})"
        )
    return None


def _two_stage_negatives(v: Mapping[str, Any]) -> str | None:
    if v["retrieval"] != "none" and v["negatives"] == 0:
        return "two-stage ranking (retrieval set) needs sampled negatives: set negatives >= 1"
    return None


def _hard_negatives(v: Mapping[str, Any]) -> str | None:
    if v["hard_negatives"] and v["retrieval"] == "none":
        return "hard negatives come from the retrieval candidates: set retrieval too"
    return None


def _folds(v: Mapping[str, Any]) -> str | None:
    if v["retrieval_folds"] == 1:
        return "must be 0 (in-sample features) or 2 to 10 folds, got 1"
    return None


# Rules that involve the meaning of a field or more than one field, in the order they
# are reported: (field the error belongs to, fields read, rule). A rule is skipped when
# a field it reads already has an error of its own.
_RULES: tuple[tuple[str, tuple[str, ...], Callable[[Mapping[str, Any]], str | None]], ...] = (
    ("split_fractions", ("split_fractions",), _split_fractions),
    ("crosses", ("crosses",), _crosses),
    ("hidden", ("hidden", "deep_fields"), _hidden),
    (
        "hidden",
        ("hidden", "deep_fields", "embed_dim", "batch_norm", "batch_size"),
        mlp_memory_error,
    ),
    ("wide_fields", ("wide_fields", "deep_fields", "crosses"), _has_input),
    ("device", ("device",), _device),
    ("preset", ("preset",), _preset_name),
    ("name", ("name",), _run_name),
    ("candidates", ("candidates", "ranking_k", "retrieval"), _candidates),
    ("negatives", ("negatives", "retrieval"), _two_stage_negatives),
    ("hard_negatives", ("hard_negatives", "retrieval"), _hard_negatives),
    ("retrieval_folds", ("retrieval_folds",), _folds),
)


def errors_of(values: Mapping[str, Any], infos: Iterable[FieldInfo]) -> dict[str, str]:
    """Every error of a complete set of coerced values (one per field of ``infos``):
    {field: message}, fields in order."""
    errors: dict[str, str] = {}
    for info in infos:
        message = field_error(info, values[info.name])
        if message:
            errors[info.name] = message
    for target, reads, rule in _RULES:
        if target in errors or any(name in errors for name in reads):
            continue
        message = rule(values)
        if message:
            errors[target] = message
    return errors
