"""The one object every loader returns: ratings, users, movies and what was found wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from widedeep_core.constants import LAYOUTS  # noqa: F401  (re-exported by data)
from widedeep_core.fileio import display_path


@dataclass(frozen=True)
class Problem:
    """One thing the loader noticed; ``count`` says how many rows it concerns."""

    kind: str  # e.g. "duplicates", "unknown-user", "missing-file", "out-of-scale"
    message: str
    path: str | None = None
    line: int | None = None
    count: int = 0

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = self.path + (f", line {self.line}" if self.line else "") + ": "
        return where + self.message


@dataclass
class MovieLensData:
    """A loaded MovieLens release.

    ratings: columns ``user`` (int32, original id), ``item`` (int32, original id),
      ``rating`` (float32), ``timestamp`` (int64, unix seconds); RangeIndex, file order.
    movies: columns ``item`` (int32), ``title`` (str), ``year`` (float64, NaN when
      the title has none), ``genres`` (tuple[str, ...]); one row per movie id.
    users: columns ``user`` (int32), ``gender`` (str), ``age`` (int32, raw age or
      the ML-1M age code), ``occupation`` (str), ``zip`` (str); None when the
      layout has no demographics.
    """

    layout: str
    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame | None
    fingerprint: str
    source: Path
    rating_scale: tuple[float, float] = (1.0, 5.0)
    genres: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    # what ``data.index`` computed for these tables (catalogue, rating codes); a copy
    # made with ``dataclasses.replace`` starts empty
    index_memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def has_demographics(self) -> bool:
        return self.users is not None

    @property
    def n_ratings(self) -> int:
        return len(self.ratings)

    @property
    def name(self) -> str:
        """The folder or zip name, printable (see ``display_path``)."""
        return display_path(Path(self.source).name or str(self.source))

    @property
    def source_display(self) -> str:
        """``source`` as printable text; ``source`` itself keeps the exact bytes to reopen it."""
        return display_path(self.source)
