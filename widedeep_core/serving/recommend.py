"""Top-N recommendations of unseen movies for a user, with the wide and deep parts apart.

Scored and ranked by the one kernel in ``serving.scoring`` (ties: lower item id first).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import DataError
from widedeep_core.runs import Run
from widedeep_core.serving.loading import Trained, load_trained
from widedeep_core.serving.pairs import PairScorer
from widedeep_core.serving.scoring import catalogue, score_block, top_k
from widedeep_core.vocabulary import DEMOGRAPHIC_FIELDS

COLUMNS = ["rank", "item", "title", "year", "genres", "probability", "wide_logit", "deep_logit"]


class Recommender:
    """Scores every movie a user has not rated with a stored run's serving weights."""

    def __init__(self, trained: Trained):
        self.trained = trained
        data = trained.data
        ratings = data.ratings
        movies = data.movies.drop_duplicates("item").set_index("item", drop=False)
        self._items = catalogue(data)  # the candidates, sorted by id
        self._movies = movies.reindex(self._items)
        self._movies["item"] = self._items
        users = ratings["user"].to_numpy()
        order = np.argsort(users, kind="stable")
        self._sorted_users = users[order]
        self._sorted_items = ratings["item"].to_numpy()[order]
        self._sorted_rows = order
        self.users = np.unique(self._sorted_users)
        self._pair_scorer: PairScorer | None = None  # built on the first ranking

    @classmethod
    def from_run(
        cls, run_dir: str | Path | Run, data: MovieLensData | None = None, device: str = "cpu"
    ) -> Recommender:
        """Load a finished run; ``data`` None reopens the folder the run recorded."""
        return cls(load_trained(run_dir, data, device=device))

    @property
    def data(self) -> MovieLensData:
        return self.trained.data

    # ------------------------------------------------------------ users

    def _user_rows(self, user_id: int) -> np.ndarray:
        """Rating rows of one user; unknown users raise a DataError naming the id."""
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise DataError(f"user id must be an integer, got {user_id!r}") from None
        lo, hi = np.searchsorted(self._sorted_users, [uid, uid + 1])
        if lo == hi:
            lo_id, hi_id = (int(self.users[0]), int(self.users[-1])) if len(self.users) else (0, 0)
            raise DataError(
                f"user {uid} is not in the data {self.data.name} "
                f"({len(self.users)} users with ids {lo_id}..{hi_id})"
            )
        return self._sorted_rows[lo:hi]

    def user_profile(self, user_id: int) -> dict:
        """Demographics (where the layout has them) and rating counts of one user."""
        rows = self._user_rows(user_id)
        ratings = self.data.ratings.iloc[rows]
        out: dict = {"user": int(user_id), "n_ratings": len(rows)}
        out["mean_rating"] = float(ratings["rating"].mean())
        users = self.data.users
        if users is not None:
            match = users[users["user"] == int(user_id)]
            if len(match):
                rec = match.iloc[0]
                for col in DEMOGRAPHIC_FIELDS:
                    value = rec[col]
                    out[col] = value.item() if hasattr(value, "item") else value
        return out

    def top_rated(self, user_id: int, n: int = 10) -> pd.DataFrame:
        """The user's own highest-rated movies (latest first among equal ratings)."""
        rows = self._user_rows(user_id)
        mine = self.data.ratings.iloc[rows].sort_values(
            ["rating", "timestamp"], ascending=[False, False], kind="stable"
        )
        mine = mine.head(int(n))
        meta = self._movies.reindex(mine["item"].to_numpy())
        return pd.DataFrame(
            {
                "item": mine["item"].to_numpy(),
                "title": meta["title"].to_numpy(),
                "year": meta["year"].to_numpy(),
                "genres": meta["genres"].to_numpy(),
                "rating": mine["rating"].to_numpy(),
            }
        )

    def seen_items(self, user_id: int) -> np.ndarray:
        """Every movie the user has rated (in any split)."""
        rows = self._user_rows(user_id)
        return np.unique(self.data.ratings["item"].to_numpy()[rows])

    # ------------------------------------------------------------ scoring

    def candidates(
        self, user_id: int, genre: str | None = None, *, seen: np.ndarray | None = None
    ) -> np.ndarray:
        """Movie ids (ascending) the user has not rated (or not in ``seen``), of one genre."""
        if seen is None:
            seen = self.seen_items(user_id)
        else:
            self._user_rows(user_id)  # an unknown user fails here too
        items = np.setdiff1d(self._items, np.asarray(seen, dtype=np.int64))
        if genre:
            genres = self._movies["genres"].reindex(items)
            has = np.fromiter(
                (isinstance(g, tuple | list) and genre in g for g in genres), bool, len(items)
            )
            if not has.any() and genre not in self.data.genres:
                raise DataError(
                    f"unknown genre {genre!r}; known genres: {', '.join(self.data.genres)}"
                )
            items = items[has]
        return items

    def score(self, user_id: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wide and deep logits of (user, item) for every item in ``items``."""
        wide, deep = score_block(
            self.trained.model, self.trained.encoder, self.data, np.array([user_id]), items
        )
        return wide[0].numpy(), deep[0].numpy()

    def ranking_logits(self, user_id: int, items: np.ndarray) -> np.ndarray:
        """The logits lists are ranked by: the split-layer scorer over the catalogue, the
        same numbers the ranking evaluation uses (``serving.pairs.PairScorer``)."""
        if self._pair_scorer is None:
            t = self.trained
            self._pair_scorer = PairScorer(t.model, t.encoder, self.data, self._items)
        logits = self._pair_scorer(np.array([user_id]))[0].numpy()
        return logits[np.searchsorted(self._items, items)]

    def recommend(
        self,
        user_id: int,
        n: int = 10,
        genre: str | None = None,
        *,
        seen: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The top ``n`` movies the user has not rated, best first (ties: lower id first).

        ``seen`` overrides the movies left out (default: every movie the user rated);
        the ranking evaluation passes the user's training items to judge this same list.
        """
        if int(n) < 1:
            raise DataError(f"the number of recommendations must be at least 1, got {n}")
        items = self.candidates(user_id, genre, seen=seen)
        if len(items) == 0:
            return pd.DataFrame(columns=COLUMNS)
        logit = self.ranking_logits(user_id, items)
        top = top_k(torch.from_numpy(logit).reshape(1, -1), int(n))[0].numpy()
        wide, deep = self.score(user_id, items[top])  # the two parts, for the shown rows
        meta = self._movies.reindex(items[top])
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(top) + 1),
                "item": items[top],
                "title": meta["title"].to_numpy(),
                "year": meta["year"].to_numpy(),
                "genres": meta["genres"].to_numpy(),
                "probability": 1.0 / (1.0 + np.exp(-logit[top].astype(np.float64))),
                "wide_logit": wide,
                "deep_logit": deep,
            }
        )

    # replaced by topn2's batched version at merge
    def recommend_all(self, n: int = 10, users: np.ndarray | None = None) -> pd.DataFrame:
        """[user, rank, item, score] for every user (or ``users``), training movies excluded.

        A user without training ratings gets the most-rated training movies; the frame's
        ``attrs["fallback"]`` then says so in one line.
        """
        prep = self.trained.prepared()
        rows = prep.split.train
        tr_users = self.data.ratings["user"].to_numpy()[rows]
        tr_items = self.data.ratings["item"].to_numpy()[rows]
        wanted = self.users if users is None else np.asarray(users, dtype=np.int64)
        counts = pd.Series(tr_items).value_counts()
        popular = pd.DataFrame({"item": counts.index.to_numpy(), "n": counts.to_numpy()})
        popular = popular.sort_values(["n", "item"], ascending=[False, True]).head(int(n))
        frames, fallback = [], []
        for user in wanted:
            seen = tr_items[tr_users == user]
            if len(seen) == 0:
                self._user_rows(user)  # an unknown user is an error, not a fallback
                fallback.append(int(user))
                frame = pd.DataFrame({"item": popular["item"], "score": popular["n"]})
            else:
                top = self.recommend(int(user), n, seen=seen)
                frame = pd.DataFrame(
                    {"item": top["item"], "score": top["wide_logit"] + top["deep_logit"]}
                )
            frame.insert(0, "rank", np.arange(1, len(frame) + 1))
            frame.insert(0, "user", int(user))
            frames.append(frame)
        cols = ["user", "rank", "item", "score"]
        out = pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
        if fallback:
            shown = ", ".join(map(str, fallback[:5])) + (" ..." if len(fallback) > 5 else "")
            out.attrs["fallback"] = (
                f"{len(fallback)} user(s) have no training ratings ({shown}): "
                "they get the most-rated movies (popularity)"
            )
        return out
