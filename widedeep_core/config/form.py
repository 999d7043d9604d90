"""A settings form's state, headless: what the Configure page shows, checked by the core.

``FormState`` holds, over a preset, every field's parsed value, the fields whose text
fails on its own (parse, or range against the preset) and the whole configuration once
none does. One edit costs one ``Config`` validation: while other fields are marked the
edited one is checked alone, otherwise the whole configuration is, and an error it finds
goes to the field the core names (``ConfigError.field``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from widedeep_core.config.availability import check_against_data
from widedeep_core.config.presets import PRESETS
from widedeep_core.config.schema import Config
from widedeep_core.config.text import parse_value
from widedeep_core.errors import ConfigError, WideDeepError

# (field, message) when a valid configuration still cannot run here (e.g. its device)
ExtraCheck = Callable[[Config], "tuple[str, str] | None"]


class FormState:
    """The validation state of a form over the preset ``preset``."""

    def __init__(self, preset: str, extra_check: ExtraCheck | None = None):
        self.preset = preset
        self.extra_check = extra_check
        self.available: tuple[str, ...] | None = None  # fields the loaded data has
        self.values: dict[str, Any] = {}  # parsed entries
        self.alone: dict[str, str] = {}  # field -> its error checked alone
        self.errors: dict[str, str] = {}  # what the form marks
        self.config: Config | None = None  # the whole configuration, when valid
        self.validations = 0  # full Config validations so far (one per change at most)

    @property
    def valid(self) -> bool:
        return self.config is not None

    def edit(self, name: str, text: str) -> None:
        """One entry changed: re-check that entry, then the whole configuration, once."""
        error = self._parse(name, text)
        self.alone.pop(name, None)
        if error is None and self.alone:
            error = self._alone_error(name)
        if error is not None:
            self.alone[name] = error
        self._finish()

    def revalidate(self, texts: Mapping[str, str]) -> None:
        """Re-check every entry (a preset, a loaded config, new data): one validation when
        all is valid; else every entry that fails alone is marked, not only the first."""
        self.alone = {}
        for name, text in texts.items():
            error = self._parse(name, text)
            if error is not None:
                self.alone[name] = error
        self._finish(every_error=True)

    def set_available(self, fields: Iterable[str] | None) -> None:
        """The fields the loaded data set has (None: no data)."""
        self.available = tuple(fields) if fields is not None else None

    # ---------------------------------------------------------------- internals
    def _parse(self, name: str, text: str) -> str | None:
        try:
            self.values[name] = parse_value(name, text)
        except WideDeepError as exc:
            self.values.pop(name, None)
            return getattr(exc, "reason", str(exc))
        return None

    def _alone_error(self, name: str) -> str | None:
        """The error of one parsed value checked alone against the preset (1 validation)."""
        self.validations += 1
        try:
            PRESETS[self.preset].replace(**{name: self.values[name]})
        except ConfigError as exc:
            return exc.reason if exc.field == name else None  # other fields: the full check
        return None

    def _finish(self, every_error: bool = False) -> None:
        cfg = None
        field = reason = ""
        if not self.alone:
            cfg, field, reason = self._check_whole()
        if cfg is None and every_error:
            # several entries may be wrong at once (restored settings, a run's config):
            # mark every one that fails alone, not only the first the core meets
            for name in self.values:
                if name not in self.alone:
                    alone = self._alone_error(name)
                    if alone is not None:
                        self.alone[name] = alone
        errors = dict(self.alone)
        if cfg is None and field and field not in errors:
            errors[field] = reason
        self.errors = errors
        self.config = cfg

    def _check_whole(self) -> tuple[Config | None, str, str]:
        """(config, "", "") when valid, else (None, field, reason): one validation."""
        self.validations += 1
        try:
            cfg = PRESETS[self.preset].replace(**{**self.values, "preset": self.preset})
            if self.available is not None:
                check_against_data(cfg, self.available)
        except ConfigError as exc:
            return None, exc.field, exc.reason
        problem = self.extra_check(cfg) if self.extra_check is not None else None
        if problem is not None:
            return None, *problem
        return cfg, "", ""


__all__ = ["FormState"]
