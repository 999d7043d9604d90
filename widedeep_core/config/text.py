"""Configuration values as text: the CLI's ``--set KEY=VALUE`` and the form's entries."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from widedeep_core.config.availability import check_against_data
from widedeep_core.config.schema import (
    Config,
    FieldInfo,
    config_fields,
    field_info,
    unknown_key_message,
)
from widedeep_core.config.validation import TYPE_WORDS, coerce, errors_of
from widedeep_core.errors import ConfigError

_TRUE = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE = frozenset({"false", "no", "off", "0", "n", "f"})
_NONE = frozenset({"none", "null", "default", "-"})


def parse_value(name: str, text: str) -> Any:
    """Parse the text of one field (CLI ``--set`` value or form entry) by the field's type."""
    info = field_info(name)
    raw = text.strip()
    if info.optional and (raw == "" or raw.lower() in _NONE):
        return None
    if info.kind.endswith("_tuple"):
        inner = raw[1:-1] if raw[:1] in "([" and raw[-1:] in ")]" else raw
        if inner.strip() == "" or inner.strip().lower() in _NONE:
            return ()
        base = info.kind[: -len("_tuple")]
        return tuple(_parse_scalar(info, base, part.strip(), text) for part in inner.split(","))
    return _parse_scalar(info, info.kind, raw, text)


def _parse_scalar(info: FieldInfo, kind: str, raw: str, whole: str) -> Any:
    if kind == "str":
        return raw
    if kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(info.name, f"cannot read {whole!r} as true or false")
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        extra = "; separate values with commas" if info.kind.endswith("_tuple") else ""
        raise ConfigError(
            info.name, f"cannot read {whole!r} as {TYPE_WORDS[info.kind]}{extra}"
        ) from None


def format_value(name: str, value: Any) -> str:
    """Text of a field value that ``parse_value`` reads back to the same value."""
    info = field_info(name)
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(format_value_item(v) for v in value)
    return format_value_item(value) if info.kind != "str" else str(value)


def format_value_item(value: Any) -> str:
    """Text of one scalar: floats as their shortest round-tripping repr."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def from_strings(base: Config, strings: Mapping[str, str]) -> Config:
    """Apply ``{"key": "text"}`` settings (CLI ``--set``, form entries) to ``base``, validated."""
    changes = {key: parse_value(key, str(text)) for key, text in strings.items()}
    return base.replace(**changes)


config_from_strings = from_strings


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Split CLI ``KEY=VALUE`` items into a dict; a malformed item raises ``ConfigError``."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError("--set", f"expected KEY=VALUE, got {item!r}")
        out[key] = value  # an unknown key is reported by check_strings, beside the rest
    return out


def validate_all(values: Mapping[str, Any], base: Config | None = None) -> dict[str, str]:
    """Every error of ``values`` applied over ``base`` (default ``Config()``), by field.

    One call checks everything a form or a command line sets; an empty dict means
    ``base.replace(**values)`` succeeds. Unknown keys are reported under their name.
    """
    merged = {info.name: getattr(base or Config(), info.name) for info in config_fields()}
    errors = {key: unknown_key_message(key) for key in values if key not in merged}
    for info in config_fields():
        if info.name in values:
            merged[info.name] = coerce(info, values[info.name])
    return {**errors, **errors_of(merged, config_fields())}


def check_strings(
    base: Config,
    strings: Mapping[str, str],
    available_fields: Iterable[str] | None = None,
) -> tuple[Config | None, dict[str, str]]:
    """Parse and check text settings at once: (the config or None, {field: message}).

    Every unparsable or invalid setting is reported, each under its own field; with
    ``available_fields`` the fields the data lacks are reported too.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, text in strings.items():
        try:
            values[key] = parse_value(key, str(text))
        except ConfigError as exc:
            errors[exc.field] = exc.reason
    for key, message in validate_all(values, base).items():
        errors.setdefault(key, message)
    if errors:
        return None, errors
    config = base.replace(**values)
    if available_fields is not None:
        try:
            check_against_data(config, available_fields)
        except ConfigError as exc:
            return None, {exc.field: exc.reason}
    return config, {}
