"""``summarize``: the figures the Data page and ``widedeep info`` show about a loaded release."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np

from .types import MovieLensData, Problem

QUANTILES = (("min", 0.0), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("max", 1.0))


@dataclass(frozen=True)
class DataSummary:
    """Counts, sparsity, rating histogram, activity quantiles and problems of one release.

    ``n_users`` and ``n_movies`` count the ids that occur in the ratings; ``users_listed``
    and ``movies_listed`` count the rows of the companion files (None without a users file).
    """

    name: str
    layout: str
    fingerprint: str
    n_ratings: int
    n_users: int
    n_movies: int
    users_listed: int | None
    movies_listed: int
    sparsity: float  # share of the user x movie matrix with no rating
    rating_scale: tuple[float, float]
    rating_histogram: dict[float, int]
    mean_rating: float
    ratings_per_user: dict[str, float]
    ratings_per_movie: dict[str, float]
    time_range: tuple[int, int]  # unix seconds of the first and the last rating
    has_demographics: bool
    n_genres: int
    problems: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-able dict (histogram keys as strings, times also as ISO 8601 UTC)."""
        d = asdict(self)
        d["rating_scale"] = list(self.rating_scale)
        d["rating_histogram"] = {f"{k:g}": v for k, v in self.rating_histogram.items()}
        d["time_range"] = list(self.time_range)
        d["time_range_iso"] = [_iso(t) for t in self.time_range]
        d["problems"] = [asdict(p) for p in self.problems]
        return d


def summarize(data: MovieLensData) -> DataSummary:
    """Summarise a loaded release: counts, sparsity, histogram, quantiles, time range, problems."""
    r = data.ratings
    users_idx, per_user = _counts(r["user"].to_numpy())
    movies_idx, per_movie = _counts(r["item"].to_numpy())
    n_users, n_movies = len(users_idx), len(movies_idx)
    values, counts = np.unique(r["rating"].to_numpy(), return_counts=True)
    cells = n_users * n_movies
    ts = r["timestamp"].to_numpy()
    return DataSummary(
        name=data.name,
        layout=data.layout,
        fingerprint=data.fingerprint,
        n_ratings=len(r),
        n_users=n_users,
        n_movies=n_movies,
        users_listed=None if data.users is None else len(data.users),
        movies_listed=len(data.movies),
        sparsity=float(1.0 - len(r) / cells) if cells else 1.0,
        rating_scale=(float(data.rating_scale[0]), float(data.rating_scale[1])),
        rating_histogram={float(v): int(c) for v, c in zip(values, counts, strict=True)},
        mean_rating=float(np.mean(r["rating"].to_numpy(), dtype=np.float64)) if len(r) else 0.0,
        ratings_per_user=_quantiles(per_user),
        ratings_per_movie=_quantiles(per_movie),
        time_range=(int(ts.min()), int(ts.max())) if len(ts) else (0, 0),
        has_demographics=data.has_demographics,
        n_genres=len(data.genres),
        problems=list(data.problems),
    )


def _counts(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ids and how often each occurs; bincount when ids are compact (fast at 25M)."""
    if len(ids) and ids.min() >= 0 and ids.max() < 4 * len(ids) + 1_000_000:
        counts = np.bincount(ids)
        present = np.flatnonzero(counts)
        return present, counts[present]
    return np.unique(ids, return_counts=True)


def _quantiles(counts: np.ndarray) -> dict[str, float]:
    if not len(counts):
        return {name: 0.0 for name, _ in QUANTILES}
    qs = np.quantile(counts, [q for _, q in QUANTILES])
    return {name: float(v) for (name, _), v in zip(QUANTILES, qs, strict=True)}


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")
