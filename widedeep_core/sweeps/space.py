"""Search spaces declared on configuration fields, parsed from text and checked up front.

One parameter is written ``FIELD=LOW..HIGH`` (a float or int range), ``FIELD=LOW..HIGH:log``
(sampled on a log scale) or ``FIELD=A|B|C`` (a list of choices; a choice is written as
``--set`` would write the value, so ``hidden=64,32|256,128`` offers two towers). The same
text is what the CLI takes, what the app builds, and what a study stores, so a space
survives as a list of strings.

Every bound and every choice is checked by the configuration itself (``Config.replace``)
before a trial starts: a space can never ask a trial for a value the trainer refuses.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from widedeep_core.config import Config, config_fields, field_info, format_value, parse_value
from widedeep_core.errors import ConfigError

# Fields that decide bookkeeping or where a run computes, not the model it learns: a
# sweep over them would compare nothing. (ranking_k would change what NDCG@K means.)
NOT_SEARCHABLE: frozenset[str] = frozenset(
    {"name", "preset", "device", "amp", "eval_batch_size", "log_every", "ranking_k"}
)
RANGE_KINDS = ("int", "float")
SPACE_FIELD = "--space"


@dataclass(frozen=True)
class Param:
    """One searched field: a range (``low``..``high``, maybe on a log scale) or choices."""

    name: str
    kind: str  # "int" | "float" | "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[str, ...] = ()  # canonical ``format_value`` texts

    def text(self) -> str:
        """The canonical text ``parse_param`` reads back to this parameter."""
        if self.kind == "choice":
            return f"{self.name}={'|'.join(self.choices)}"
        lo, hi = (format_value(self.name, v) for v in (self.low, self.high))
        return f"{self.name}={lo}..{hi}{':log' if self.log else ''}"

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this parameter's value (text for choices)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        assert self.low is not None and self.high is not None  # a range has both bounds
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, float(self.low), float(self.high), log=self.log)

    def value(self, suggested: Any) -> Any:
        """The configuration value of a suggested parameter."""
        return parse_value(self.name, suggested) if self.kind == "choice" else suggested


@dataclass(frozen=True)
class SearchSpace:
    """The searched fields, in the order given."""

    params: tuple[Param, ...]

    def __len__(self) -> int:
        return len(self.params)

    def __iter__(self):
        return iter(self.params)

    @property
    def names(self) -> tuple[str, ...]:
        """Field names, in order."""
        return tuple(p.name for p in self.params)

    def texts(self) -> list[str]:
        """Canonical texts (what a study stores and compares)."""
        return [p.text() for p in self.params]

    def key(self) -> str:
        """A stable string of the space: two spaces are the same when their keys are."""
        return json.dumps(sorted(self.texts()))

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Suggest every parameter; returns field -> configuration value."""
        return {p.name: p.value(p.suggest(trial)) for p in self.params}

    def apply(self, base: Config, params: Mapping[str, Any]) -> Config:
        """``base`` with the trial's values (raw Optuna params or config values), validated."""
        values = {}
        for p in self.params:
            if p.name in params:
                raw = params[p.name]
                values[p.name] = p.value(raw) if isinstance(raw, str) else raw
        return base.replace(**values)


def _error(name: str, message: str) -> ConfigError:
    return ConfigError(f"{SPACE_FIELD} {name}", message)


def parse_param(text: str) -> Param:
    """Parse one ``FIELD=LOW..HIGH[:log]`` or ``FIELD=A|B`` item (syntax and types only)."""
    name, sep, spec = str(text).partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
        raise ConfigError(
            SPACE_FIELD,
            f"expected FIELD=LOW..HIGH[:log] or FIELD=A|B, got {text!r} "
            "(e.g. 'lr=1e-4..1e-2:log' or 'hidden=64,32|256,128')",
        )
    info = field_info(name)  # unknown field: ConfigError listing the known ones
    if name in NOT_SEARCHABLE:
        raise _error(
            name, "is not a hyperparameter (it does not change the model); fix it with --set"
        )
    spec = spec.strip()
    if not spec:
        raise _error(name, "no values given; write LOW..HIGH or A|B")
    if ".." in spec and "|" not in spec:
        return _parse_range(info, spec)
    if "|" not in spec:
        raise _error(
            name,
            f"{spec!r} is a single value, not a search; fix it with --set {name}={spec} "
            "or give a range LOW..HIGH or choices A|B",
        )
    choices = []
    for part in spec.split("|"):
        try:
            value = parse_value(name, part)
        except ConfigError as exc:
            raise _error(name, f"choice {part.strip()!r}: {exc.reason}") from None
        canonical = format_value(name, _normalised(name, value))
        if canonical in choices:
            raise _error(name, f"choice {part.strip()!r} is listed twice")
        choices.append(canonical)
    return Param(name, "choice", choices=tuple(choices))


def _normalised(name: str, value: Any) -> Any:
    """The value as the configuration stores it ('Adam' -> 'adam'), when it accepts it."""
    try:
        return getattr(Config().replace(**{name: value}), name)
    except ConfigError:
        return value  # validate_space says why, with the base configuration in hand


def _parse_range(info: Any, spec: str) -> Param:
    name = info.name
    body, _, option = spec.partition(":")
    option = option.strip().lower()
    if option not in ("", "log"):
        raise _error(name, f"unknown range option {option!r}; the only one is ':log'")
    if info.kind not in RANGE_KINDS:
        raise _error(
            name,
            f"is {'a list' if info.kind.endswith('_tuple') else info.kind}, not a number: "
            "give choices A|B instead of a range",
        )
    parts = body.split("..")
    if "..." in body or len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise _error(name, f"expected LOW..HIGH, got {spec!r}")
    bounds = []
    for part in parts:
        try:
            bound = int(part) if info.kind == "int" else float(part)
        except ValueError:
            word = "a whole number" if info.kind == "int" else "a number"
            raise _error(name, f"bound {part.strip()!r} is not {word}") from None
        if not math.isfinite(bound):
            raise _error(name, f"bound {part.strip()!r} is not finite")
        bounds.append(float(bound) if info.kind == "float" else bound)
    low, high = bounds
    if low >= high:
        raise _error(name, f"the range needs LOW < HIGH, got {spec!r}")
    log = option == "log"
    if log and low <= 0:
        raise _error(name, f"a log range needs bounds > 0, got {spec!r}")
    return Param(name, info.kind, low=low, high=high, log=log)


def parse_space(items: Iterable[str]) -> SearchSpace:
    """Parse every ``--space`` item; an empty space or a field given twice is refused."""
    params: list[Param] = []
    for item in items:
        param = parse_param(item)
        if param.name in (p.name for p in params):
            raise _error(param.name, "is given twice; give each field once")
        params.append(param)
    if not params:
        raise ConfigError(
            SPACE_FIELD,
            "the search space is empty: give at least one field, e.g. --space 'lr=1e-4..1e-2:log'",
        )
    return SearchSpace(tuple(params))


def validate_space(
    space: SearchSpace, base: Config, available_fields: Sequence[str] | None = None
) -> None:
    """Check every bound and choice against the configuration rules (and the data's fields).

    Each value is tried alone on ``base``; a combination of values that only fails
    together (rare) fails its trial, which the study then records as failed.
    """
    from widedeep_core.config import check_against_data

    for p in space:
        values = (p.low, p.high) if p.kind != "choice" else p.choices
        for raw in values:
            try:
                cfg = space.apply(base, {p.name: raw})
                if available_fields is not None:
                    check_against_data(cfg, available_fields)
            except ConfigError as exc:
                shown = raw if isinstance(raw, str) else format_value(p.name, raw)
                raise _error(p.name, f"the configuration rejects {shown!r}: {exc}") from None


def space_from_texts(texts: Iterable[str]) -> SearchSpace:
    """Rebuild a stored space (the canonical texts of ``SearchSpace.texts``)."""
    return parse_space(texts)


def searchable_fields() -> list[Any]:
    """``FieldInfo`` of every field a sweep may search, in form order."""
    return [info for info in config_fields() if info.name not in NOT_SEARCHABLE]


def suggested_text(name: str, base: Config) -> str:
    """A sensible starting space for one field (what the app pre-fills), around ``base``."""
    info = field_info(name)
    value = getattr(base, name)
    if info.kind == "bool":
        return f"{name}=true|false"
    if info.kind == "str" and info.choices:
        return f"{name}={'|'.join(info.choices)}"
    if name == "hidden":
        return f"{name}=64,32|128,64|256,128"
    if info.kind in RANGE_KINDS:
        if value is None:
            value = 1 if info.kind == "int" else 1e-3
        if info.kind == "float" and value > 0 and info.group == "optimisation":
            return f"{name}={value / 10:g}..{min(value * 10, info.max or math.inf):g}:log"
        if info.kind == "int":
            low = max(int(info.min or 0), max(1, value // 2) if value else 0)
            high = max(low + 1, value * 2)
            return f"{name}={low}..{high}"
        low = max(info.min or 0.0, 0.0)
        high = min(info.max if info.max is not None else 1.0, 1.0)
        if info.max_exclusive and high == info.max:
            high = round(high * 0.9, 6)
        return f"{name}={low:g}..{high:g}"
    return f"{name}={format_value(name, value)}|{format_value(name, info.default)}"
