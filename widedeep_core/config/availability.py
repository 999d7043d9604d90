"""Which fields a data set provides, and a configuration checked or adapted to them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from widedeep_core.config.schema import Config, split_cross
from widedeep_core.constants import DEMOGRAPHIC_FIELDS, FIELDS
from widedeep_core.errors import ConfigError


def fields_available(data: Any) -> tuple[str, ...]:
    """Fields a loaded ``MovieLensData`` can provide (no demographics in ml-10m / csv)."""
    has_users = bool(getattr(data, "has_demographics", False))
    return tuple(f for f in FIELDS if has_users or f not in DEMOGRAPHIC_FIELDS)


def _missing_uses(cfg: Config, available: set[str]) -> list[tuple[str, str, str]]:
    """(config key, item, missing field) for every use of an unavailable field."""
    uses = []
    for key in ("wide_fields", "deep_fields"):
        uses += [(key, f, f) for f in getattr(cfg, key) if f not in available]
    for cross, (a, b) in zip(cfg.crosses, cfg.cross_pairs, strict=True):
        uses += [("crosses", cross, f) for f in (a, b) if f not in available]
    return uses


def check_against_data(cfg: Config, available_fields: Iterable[str]) -> Config:
    """Return ``cfg`` if the data has every field it uses, else raise ConfigError naming them."""
    available = set(available_fields)
    uses = _missing_uses(cfg, available)
    if not uses:
        return cfg
    missing = sorted({f for _, _, f in uses}, key=FIELDS.index)
    keys = sorted({k for k, _, _ in uses}, key=["wide_fields", "deep_fields", "crosses"].index)
    raise ConfigError(
        keys[0],
        f"this data set has no {', '.join(missing)} (used in {', '.join(keys)}); "
        f"available fields: {', '.join(f for f in FIELDS if f in available)}",
    )


def adapt_to_data(cfg: Config, available_fields: Iterable[str]) -> tuple[Config, list[str]]:
    """Drop unavailable fields and the crosses using them; return the new config and notes."""
    available = set(available_fields)
    uses = _missing_uses(cfg, available)
    if not uses:
        return cfg, []
    notes = []
    for key in ("wide_fields", "deep_fields"):
        dropped = [f for f in getattr(cfg, key) if f not in available]
        if dropped:
            notes.append(f"{key}: dropped {', '.join(dropped)} (not in this data set)")
    bad_crosses = [c for c in cfg.crosses if any(f not in available for f in split_cross(c))]
    if bad_crosses:
        notes.append(f"crosses: dropped {', '.join(bad_crosses)} (field not in this data set)")
    adapted = cfg.replace(
        wide_fields=tuple(f for f in cfg.wide_fields if f in available),
        deep_fields=tuple(f for f in cfg.deep_fields if f in available),
        crosses=tuple(c for c in cfg.crosses if c not in bad_crosses),
    )
    return adapted, notes
