"""Categorical feature encoding fitted on the training rows only.

Every field (and every cross) maps its values to ``1..V``; index 0 means out of
vocabulary, so prediction never meets an index error. In multi-valued fields (``genres``
and any cross with ``genres``) 0 also pads a row and the model masks it out when pooling.

Values are bucketed first (``features.buckets``), looked up by ``features.lookup``, and
the rows come out as ``features.inputs.Encoded``.

Crosses are named ``"a x b"`` with the components in the canonical field order
(``"gender x genres"``); a cross with ``genres`` holds one value per genre of the item.
Lookups are vectorised: per-user and per-item code tables are built once per data set
and then indexed by row.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import torch

from widedeep_core.config import fields_available
from widedeep_core.constants import AGE_CODES, FIELDS, MULTI_VALUED_FIELDS
from widedeep_core.constants import DEMOGRAPHIC_FIELDS as DEMOGRAPHIC
from widedeep_core.constants import USER_SIDE_FIELDS as USER_SIDE
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import ConfigError, RunError
from widedeep_core.features.buckets import (
    YEAR_BUCKET,
    ZIP_PREFIX,
    bucket_year,
    genre_tuple,
    user_values,
)
from widedeep_core.features.inputs import Encoded, FieldSpec, cross_name, field_rank
from widedeep_core.features.lookup import CrossLookup, Lookup

INT_FIELDS = ("user", "item", "age", "year")
FORMAT = "widedeep-feature-encoder"
VERSION = 1


@dataclass
class _Tables:
    """Per-user and per-item base codes of one data set (row 0: unknown user/item)."""

    user_pos: Lookup
    item_pos: Lookup
    user_codes: dict[str, np.ndarray]
    item_codes: dict[str, np.ndarray]  # "genres": [n_items + 1, K]


# ---------------------------------------------------------------- the encoder


class FeatureEncoder:
    """Vocabularies of fields and crosses, fitted on training rows; encodes any rows."""

    def __init__(
        self,
        fields: Sequence[str],
        crosses: Sequence[tuple[str, str]],
        vocab: dict[str, np.ndarray],
        cross_values: dict[str, tuple[np.ndarray, np.ndarray]],
        min_count: int = 1,
    ):
        """Build from fitted parts; use ``fit`` or ``from_json`` instead."""
        self.fields = list(fields)
        self.crosses = [tuple(c) for c in crosses]
        self.min_count = int(min_count)
        self._vocab = vocab
        self._lookups = {name: Lookup(v) for name, v in vocab.items()}
        self._cross_keys: dict[str, np.ndarray] = {}
        self._cross_counts: dict[str, np.ndarray] = {}
        self._cross_lookups: dict[str, CrossLookup] = {}
        for a, b in self.crosses:
            name = cross_name(a, b)
            keys, counts = cross_values[name]
            order = np.argsort(keys, kind="stable")
            keys, counts = keys[order], counts[order]
            self._cross_keys[name] = keys
            self._cross_counts[name] = counts
            na, nb = len(self._lookups[a]), len(self._lookups[b])
            self._cross_lookups[name] = CrossLookup(keys, nb, na)
        self.specs = self._make_specs()
        self._cache: tuple[weakref.ref[Any], int, int, _Tables] | None = None

    # ------------------------------------------------------------ fitting

    @classmethod
    def fit(
        cls,
        data: MovieLensData,
        train_rows: Any,
        fields: Iterable[str] = ("user", "item"),
        crosses: Iterable[Any] = (),
        min_count: int = 1,
    ) -> FeatureEncoder:
        """Fit vocabularies on ``train_rows`` of ``data.ratings`` (crosses keep values
        seen at least ``min_count`` times)."""
        flds = _check_fields(data, fields)
        crs = _check_crosses(data, crosses)
        if not flds and not crs:
            raise ConfigError("fields", "choose at least one field or cross")
        if int(min_count) < 1:
            raise ConfigError("min_count", f"must be at least 1, got {min_count}")
        rows = _check_rows(train_rows, data.n_ratings)
        users = data.ratings["user"].to_numpy()[rows]
        items = data.ratings["item"].to_numpy()[rows]
        base = sorted({*flds, *chain.from_iterable(crs)}, key=field_rank)
        vocab = {name: _fit_vocab(data, name, users, items) for name in base}
        enc = cls(flds, [], vocab, {}, int(min_count))
        cross_values: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if crs:
            codes = enc._base_codes(data, users, items)
            for a, b in crs:
                nb = len(vocab[b])
                ca, cb = _broadcast(codes[a], codes[b])
                key = (ca * (nb + 1) + cb)[(ca > 0) & (cb > 0)]
                keys, counts = np.unique(key, return_counts=True)
                keep = counts >= int(min_count)
                cross_values[cross_name(a, b)] = (keys[keep], counts[keep])
        return cls(flds, crs, vocab, cross_values, int(min_count))

    # ------------------------------------------------------------ description

    def _make_specs(self) -> list[FieldSpec]:
        specs = [
            FieldSpec(f, len(self._vocab[f]) + 1, f in MULTI_VALUED_FIELDS) for f in self.fields
        ]
        for a, b in self.crosses:
            name = cross_name(a, b)
            multi = a in MULTI_VALUED_FIELDS or b in MULTI_VALUED_FIELDS
            specs.append(FieldSpec(name, len(self._cross_keys[name]) + 1, multi))
        return specs

    @property
    def names(self) -> list[str]:
        """Spec names in spec order."""
        return [s.name for s in self.specs]

    @property
    def single_names(self) -> list[str]:
        """Names of the columns of ``Encoded.single``, in order."""
        return [s.name for s in self.specs if not s.multi]

    @property
    def multi_names(self) -> list[str]:
        """Keys of ``Encoded.multi``."""
        return [s.name for s in self.specs if s.multi]

    def values(self, name: str) -> list[Any]:
        """The vocabulary of a field (code ``i + 1`` is ``values[i]``) or cross (pairs)."""
        if name in self._vocab and name in self.fields:
            return self._vocab[name].tolist()
        va, vb = self._pairs(self._canonical_cross(name))
        return list(zip(va.tolist(), vb.tolist(), strict=True))

    def cross_support(self, name: str | tuple[str, str]) -> pd.DataFrame:
        """Training rows hitting each value of a cross: columns value, count (most first)."""
        cname = self._canonical_cross(name)
        va, vb = self._pairs(cname)
        labels = [f"{x} x {y}" for x, y in zip(va.tolist(), vb.tolist(), strict=True)]
        df = pd.DataFrame({"value": labels, "count": self._cross_counts[cname].astype(np.int64)})
        return df.sort_values(["count", "value"], ascending=[False, True], ignore_index=True)

    def _canonical_cross(self, name: str | tuple[str, str]) -> str:
        parts = tuple(name) if not isinstance(name, str) else tuple(name.split(" x "))
        cname = cross_name(*parts) if len(parts) == 2 else str(name)
        if cname not in self._cross_keys:
            have = ", ".join(self._cross_keys) or "none"
            raise ConfigError("crosses", f"no cross named {name!r} (fitted: {have})")
        return cname

    def _pairs(self, cname: str) -> tuple[np.ndarray, np.ndarray]:
        a, b = cname.split(" x ")
        nb = len(self._vocab[b])
        keys = self._cross_keys[cname]
        return self._vocab[a][keys // (nb + 1) - 1], self._vocab[b][keys % (nb + 1) - 1]

    # ------------------------------------------------------------ encoding

    def transform(self, data: MovieLensData, rows: Any) -> Encoded:
        """Encode the rows ``rows`` of ``data.ratings``."""
        r = _check_rows(rows, data.n_ratings)
        users = data.ratings["user"].to_numpy()[r]
        items = data.ratings["item"].to_numpy()[r]
        return self._encode(data, users, items)

    def transform_pairs(self, data: MovieLensData, users: Any, items: Any) -> Encoded:
        """Encode arbitrary (user id, item id) pairs (broadcast); unknown ids -> OOV."""
        try:
            u = np.asarray(users, dtype=np.int64)
            i = np.asarray(items, dtype=np.int64)
            u, i = np.broadcast_arrays(u.ravel() if u.ndim else u, i.ravel() if i.ndim else i)
        except (TypeError, ValueError) as exc:
            raise ConfigError("users", f"user and item ids must be integers: {exc}") from exc
        return self._encode(data, np.atleast_1d(u), np.atleast_1d(i))

    def _encode(self, data: MovieLensData, users: np.ndarray, items: np.ndarray) -> Encoded:
        codes = self._base_codes(data, users, items)
        n = len(users)
        single: list[np.ndarray] = []
        multi: dict[str, torch.Tensor] = {}
        for spec in self.specs:
            if spec.name in codes:
                col = codes[spec.name]
            else:
                a, b = spec.name.split(" x ")
                ca, cb = _broadcast(codes[a], codes[b])
                col = self._cross_lookups[spec.name].codes(ca, cb)
            if spec.multi:
                multi[spec.name] = torch.from_numpy(np.ascontiguousarray(col, dtype=np.int64))
            else:
                single.append(col)
        mat = np.stack(single, axis=1) if single else np.zeros((n, 0), dtype=np.int64)
        return Encoded(torch.from_numpy(np.ascontiguousarray(mat, dtype=np.int64)), multi)

    def pair_cross_codes(
        self, data: MovieLensData, users: Any, items: Any
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """For each cross of a user-side and an item-side field, ``(row, codes)``: the
        codes ``[m, n_items(, k)]`` of the m distinct user-side values of ``users``
        against every item of ``items``, and each user's row among them ``[n_users]``
        (what ``model.factored.SplitScorer`` tables per (user value, item))."""
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        pairs = [(a, b) for a, b in self.crosses if (a in USER_SIDE) != (b in USER_SIDE)]
        if not pairs:
            return out
        u = np.atleast_1d(np.asarray(users, dtype=np.int64))
        i = np.atleast_1d(np.asarray(items, dtype=np.int64))
        user_codes = self._base_codes(data, u, np.full(len(u), i[0] if len(i) else 0))
        item_codes = self._base_codes(data, np.full(len(i), u[0] if len(u) else 0), i)
        for a, b in pairs:
            user_field = a if a in USER_SIDE else b
            values, row = np.unique(user_codes[user_field], return_inverse=True)
            item_col = item_codes[b if user_field == a else a]
            uv = values.reshape(-1, *([1] * item_col.ndim))
            iv = item_col[None]
            ca, cb = (uv, iv) if user_field == a else (iv, uv)
            out[cross_name(a, b)] = (
                row.reshape(-1),
                self._cross_lookups[cross_name(a, b)].codes(ca, cb),
            )
        return out

    def _base_codes(
        self, data: MovieLensData, users: np.ndarray, items: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Row-level codes of every base field in the vocabulary."""
        out: dict[str, np.ndarray] = {}
        need_user = any(f in DEMOGRAPHIC for f in self._vocab)
        need_item = any(f in ("year", "genres") for f in self._vocab)
        tables = self._tables(data) if (need_user or need_item) else None
        upos = tables.user_pos.codes(users) if tables is not None and need_user else None
        ipos = tables.item_pos.codes(items) if tables is not None and need_item else None
        for name in self._vocab:
            if name == "user":
                out[name] = self._lookups[name].codes(users)
            elif name == "item":
                out[name] = self._lookups[name].codes(items)
            elif name in DEMOGRAPHIC:
                assert tables is not None and upos is not None
                out[name] = tables.user_codes[name][upos]
            else:
                assert tables is not None and ipos is not None
                out[name] = tables.item_codes[name][ipos]
        return out

    def _tables(self, data: MovieLensData) -> _Tables:
        """Per-user / per-item code tables of ``data``, cached while ``data`` lives."""
        c = self._cache
        if c is not None and c[0]() is data and c[1] == id(data.users) and c[2] == id(data.movies):
            return c[3]
        user_codes: dict[str, np.ndarray] = {}
        uids = np.zeros(0, dtype=np.int64)
        demo = [f for f in DEMOGRAPHIC if f in self._vocab]
        if demo:
            if data.users is None:
                raise ConfigError("fields", f"{demo[0]!r} needs user demographics ({data.name})")
            uids = data.users["user"].to_numpy().astype(np.int64)
            for f in demo:
                col = self._lookups[f].codes(user_values(data.users, f))
                user_codes[f] = np.r_[np.zeros(1, np.int64), col]
        mids = data.movies["item"].to_numpy().astype(np.int64)
        item_codes: dict[str, np.ndarray] = {}
        if "year" in self._vocab:
            col = self._lookups["year"].codes(bucket_year(data.movies["year"].to_numpy()))
            item_codes["year"] = np.r_[np.zeros(1, np.int64), col]
        if "genres" in self._vocab:
            item_codes["genres"] = self._genre_matrix(data.movies["genres"])
        tables = _Tables(Lookup(uids), Lookup(mids), user_codes, item_codes)
        self._cache = (weakref.ref(data), id(data.users), id(data.movies), tables)
        return tables

    def _genre_matrix(self, genres: pd.Series) -> np.ndarray:
        """[n_movies + 1, K] genre codes per movie (row 0: unknown movie), 0-padded."""
        tuples = [genre_tuple(g) for g in genres.tolist()]
        lengths = np.fromiter((len(t) for t in tuples), dtype=np.int64, count=len(tuples))
        width = max(int(lengths.max()) if len(lengths) else 0, 1)
        mat = np.zeros((len(tuples) + 1, width), dtype=np.int64)
        flat = np.array(list(chain.from_iterable(tuples)), dtype=object)
        if len(flat):
            row = np.repeat(np.arange(1, len(tuples) + 1), lengths)
            col = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            mat[row, col] = self._lookups["genres"].codes(flat)
        return mat

    # ------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict holding everything needed to encode again."""
        crosses = {}
        for a, b in self.crosses:
            name = cross_name(a, b)
            va, vb = self._pairs(name)
            crosses[name] = {
                "values": [[x, y] for x, y in zip(va.tolist(), vb.tolist(), strict=True)],
                "counts": self._cross_counts[name].tolist(),
            }
        return {
            "format": FORMAT,
            "version": VERSION,
            "fields": list(self.fields),
            "crosses": [list(c) for c in self.crosses],
            "min_count": self.min_count,
            "buckets": {"age": list(AGE_CODES), "zip_prefix": ZIP_PREFIX, "year": YEAR_BUCKET},
            "vocab": {k: v.tolist() for k, v in self._vocab.items()},
            "cross_vocab": crosses,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureEncoder:
        """Rebuild an encoder written by ``to_json``."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise RunError("not a feature encoder description (format field missing)")
        if d.get("version") != VERSION:
            raise RunError(f"feature encoder version {d.get('version')!r} is not {VERSION}")
        try:
            vocab = {k: _vocab_array(k, v) for k, v in d["vocab"].items()}
            crosses = [(str(a), str(b)) for a, b in d["crosses"]]
            cross_values = {}
            for a, b in crosses:
                name = cross_name(a, b)
                entry = d["cross_vocab"][name]
                pairs = entry["values"]
                ca = Lookup(vocab[a]).codes(_vocab_array(a, [p[0] for p in pairs]))
                cb = Lookup(vocab[b]).codes(_vocab_array(b, [p[1] for p in pairs]))
                if len(pairs) and (ca.min() == 0 or cb.min() == 0):
                    raise ValueError(f"cross {name} holds values outside its fields")
                keys = ca * (len(vocab[b]) + 1) + cb
                cross_values[name] = (keys, np.asarray(entry["counts"], dtype=np.int64))
            return cls(d["fields"], crosses, vocab, cross_values, int(d.get("min_count", 1)))
        except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
            raise RunError(f"feature encoder description is incomplete: {exc}") from exc


# ---------------------------------------------------------------- helpers


def _vocab_array(name: str, values: Sequence[Any]) -> np.ndarray:
    if name in INT_FIELDS:
        return np.asarray(values, dtype=np.int64).reshape(-1)
    return np.asarray([str(v) for v in values], dtype=object).reshape(-1)


def _broadcast(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Align a [n] column with a [n, k] multi-valued one."""
    if a.ndim == 1 and b.ndim == 2:
        return a[:, None], b
    if a.ndim == 2 and b.ndim == 1:
        return a, b[:, None]
    return a, b


def _check_rows(rows: Any, n: int) -> np.ndarray:
    arr = np.asarray(rows)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ConfigError("rows", "rows must be a 1-d array of integer row positions")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise ConfigError("rows", f"row positions must lie in [0, {n})")
    return arr


def _check_fields(data: MovieLensData, fields: Iterable[str]) -> list[str]:
    if isinstance(fields, str):
        fields = [fields]
    out: list[str] = []
    for f in fields:
        if f not in FIELDS:
            raise ConfigError("fields", f"unknown field {f!r}; choose from {', '.join(FIELDS)}")
        if f not in fields_available(data):
            raise ConfigError(
                "fields",
                f"{f!r} needs user demographics, which this {data.layout} data set lacks; "
                f"available: {', '.join(fields_available(data))}",
            )
        if f not in out:
            out.append(f)
    return sorted(out, key=field_rank)


def _check_crosses(data: MovieLensData, crosses: Iterable[Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for c in crosses:
        parts = tuple(p.strip() for p in c.split(" x ")) if isinstance(c, str) else tuple(c)
        if len(parts) != 2:
            raise ConfigError("crosses", f"a cross joins two fields, got {c!r}")
        a, b = sorted(parts, key=field_rank)
        for f in (a, b):
            if f not in FIELDS:
                raise ConfigError("crosses", f"unknown field {f!r} in cross {c!r}")
            if f not in fields_available(data):
                raise ConfigError(
                    "crosses", f"cross {c!r} needs user demographics, which {data.layout} lacks"
                )
        if a == b:
            raise ConfigError("crosses", f"cannot cross {a!r} with itself")
        if a in MULTI_VALUED_FIELDS and b in MULTI_VALUED_FIELDS:
            raise ConfigError("crosses", f"cannot cross two multi-valued fields ({c!r})")
        if (a, b) not in out:
            out.append((a, b))
    return sorted(out, key=lambda p: (field_rank(p[0]), field_rank(p[1])))


def _fit_vocab(data: MovieLensData, name: str, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a base field over the training rows."""
    if name == "user":
        return np.unique(users.astype(np.int64))
    if name == "item":
        return np.unique(items.astype(np.int64))
    if name in DEMOGRAPHIC:
        assert data.users is not None
        seen = data.users["user"].isin(np.unique(users)).to_numpy()
        vals = user_values(data.users[seen], name)
    else:
        movies = data.movies[data.movies["item"].isin(np.unique(items)).to_numpy()]
        if name == "year":
            vals = bucket_year(movies["year"].to_numpy())
        else:
            flat = chain.from_iterable(genre_tuple(g) for g in movies["genres"].tolist())
            vals = np.array(sorted(set(flat)), dtype=object)
    if name in INT_FIELDS:
        return np.unique(np.asarray(vals, dtype=np.int64))
    return np.array(sorted(set(vals.tolist())), dtype=object)
