"""Top-N recommendations of unseen movies for a user, with the wide and deep parts apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import DataError
from widedeep_core.runs import Run
from widedeep_core.serving.loading import Trained, load_trained
from widedeep_core.vocabulary import DEMOGRAPHIC_FIELDS

COLUMNS = ["rank", "item", "title", "year", "genres", "probability", "wide_logit", "deep_logit"]


class Recommender:
    """Scores every movie a user has not rated with a trained run's best weights."""

    def __init__(self, trained: Trained):
        self.trained = trained
        data = trained.data
        ratings = data.ratings
        movies = data.movies.drop_duplicates("item").set_index("item", drop=False)
        rated_items = np.unique(ratings["item"].to_numpy())
        # candidates: every movie the data knows, listed or rated
        self._items = np.union1d(movies.index.to_numpy(dtype=np.int64), rated_items)
        self._movies = movies.reindex(self._items)
        self._movies["item"] = self._items
        users = ratings["user"].to_numpy()
        order = np.argsort(users, kind="stable")
        self._sorted_users = users[order]
        self._sorted_items = ratings["item"].to_numpy()[order]
        self._sorted_rows = order
        self.users = np.unique(self._sorted_users)

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

    def candidates(self, user_id: int, genre: str | None = None) -> np.ndarray:
        """Movie ids the user has not rated, optionally of one genre."""
        items = np.setdiff1d(self._items, self.seen_items(user_id), assume_unique=True)
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

    @torch.no_grad()
    def score(self, user_id: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Wide and deep logits of (user, item) for every item in ``items``."""
        x = self.trained.encoder.transform_pairs(self.data, np.int64(user_id), items)
        device = next(self.trained.model.parameters()).device
        wide, deep = self.trained.model.forward_parts(x.to(device))
        return wide.float().cpu().numpy(), deep.float().cpu().numpy()

    def recommend(self, user_id: int, n: int = 10, genre: str | None = None) -> pd.DataFrame:
        """The top ``n`` movies the user has not rated, best first."""
        if int(n) < 1:
            raise DataError(f"the number of recommendations must be at least 1, got {n}")
        items = self.candidates(user_id, genre)
        if len(items) == 0:
            return pd.DataFrame(columns=COLUMNS)
        wide, deep = self.score(user_id, items)
        logit = wide + deep
        k = min(int(n), len(items))
        top = np.argpartition(-logit, k - 1)[:k]
        top = top[np.lexsort((items[top], -logit[top]))]
        meta = self._movies.reindex(items[top])
        return pd.DataFrame(
            {
                "rank": np.arange(1, k + 1),
                "item": items[top],
                "title": meta["title"].to_numpy(),
                "year": meta["year"].to_numpy(),
                "genres": meta["genres"].to_numpy(),
                "probability": 1.0 / (1.0 + np.exp(-logit[top].astype(np.float64))),
                "wide_logit": wide[top],
                "deep_logit": deep[top],
            }
        )

    @torch.no_grad()
    def recommend_many(self, user_ids, n: int = 10, *, users_per_call: int = 0) -> pd.DataFrame:
        """Top-``n`` unseen movies for many users, scored in batches of users.

        Returns one long table with a ``user`` column in front of the usual columns.
        """
        ids = np.asarray(list(user_ids), dtype=np.int64)
        for uid in ids:
            self._user_rows(int(uid))  # unknown users fail before any scoring
        items = self._items
        per_call = users_per_call or max(1, (1 << 18) // max(len(items), 1))
        k = min(int(n), len(items))
        model = self.trained.model
        device = next(model.parameters()).device
        pos = {int(v): j for j, v in enumerate(items)}
        frames = []
        for start in range(0, len(ids), per_call):
            batch = ids[start : start + per_call]
            x = self.trained.encoder.transform_pairs(
                self.data, np.repeat(batch, len(items)), np.tile(items, len(batch))
            )
            wide, deep = model.forward_parts(x.to(device))
            wide = wide.float().cpu().reshape(len(batch), -1)
            deep = deep.float().cpu().reshape(len(batch), -1)
            logit = wide + deep
            for r, uid in enumerate(batch):
                seen = [pos[int(i)] for i in self.seen_items(int(uid)) if int(i) in pos]
                logit[r, seen] = -torch.inf
            top = torch.topk(logit, k, dim=1).indices.numpy()
            for r, uid in enumerate(batch):
                cols = top[r][np.isfinite(logit[r, top[r]].numpy())]
                meta = self._movies.reindex(items[cols])
                lg = logit[r, cols].numpy().astype(np.float64)
                frames.append(
                    pd.DataFrame(
                        {
                            "user": int(uid),
                            "rank": np.arange(1, len(cols) + 1),
                            "item": items[cols],
                            "title": meta["title"].to_numpy(),
                            "year": meta["year"].to_numpy(),
                            "genres": meta["genres"].to_numpy(),
                            "probability": 1.0 / (1.0 + np.exp(-lg)),
                            "wide_logit": wide[r, cols].numpy(),
                            "deep_logit": deep[r, cols].numpy(),
                        }
                    )
                )
        if not frames:
            return pd.DataFrame(columns=["user", *COLUMNS])
        return pd.concat(frames, ignore_index=True)
