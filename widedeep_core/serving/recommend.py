"""Top-N recommendations of unseen movies for a user, with the wide and deep parts apart.

Ranked by the ranking station's ``ListRanker`` (one- and two-stage, one cold-start rule,
ties: lower item id first), the one the ranking metrics call too.
Which movies a list leaves out is a rule (``EXCLUDE_RULES``): by default every movie
the user has rated (``"rated"``: what a person browsing expects of "unseen", read from
the data as loaded, whatever the protocol kept); the ranking metrics judge lists that
leave out the protocol's history only (``"history"``: the training split, or training
and validation under ``test_history`` "train+val"; ``"train"``: the training split), so
``recommend_all(exclude="history")`` exports exactly the lists the test metrics judge.
Lists rank the protocol's catalogue (``features.protocol``) for its users.

``score`` is the number to show: for a two-stage run the probability of a like among
impressions (rated movies and sampled negatives), which separates a list; for a
one-stage run the model's logit (log-odds), since its probability saturates near 1.
``df.attrs["score"]`` says which.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from widedeep_core.config.protocols import protocol_text
from widedeep_core.constants import DEFAULT_EXCLUDE, DEMOGRAPHIC_FIELDS, EXCLUDE_RULES
from widedeep_core.data.index import catalogue, catalogue_columns, id_span
from widedeep_core.data.types import MovieLensData
from widedeep_core.errors import DataError
from widedeep_core.evaluation.judged import history_rows
from widedeep_core.features.protocol import protocol_data
from widedeep_core.ranking.kernel import (
    fallback_note,
    score_block,
)
from widedeep_core.ranking.lists import ListRanker, RankedLists
from widedeep_core.ranking.twostage import check_two_stage
from widedeep_core.runs import Run
from widedeep_core.serving.loading import Trained, load_trained
from widedeep_core.threads import CoreShare

COLUMNS = [
    "rank",
    "item",
    "title",
    "year",
    "genres",
    "probability",
    "wide_logit",
    "deep_logit",
    "score",
    "retrieval_rank",
    "retrieval_score",
    "because",
]
ALL_COLUMNS = ["user", "rank", "item", "score"]
SCORE_MEANING = {
    True: "probability of a like among impressions (rated and sampled unrated movies)",
    False: "model logit (log-odds of a like); higher ranks first",
}
BECAUSE_N = 3  # own movies listed as "because you liked"


def check_exclude(rule: str) -> str:
    """``rule`` when it is one of ``EXCLUDE_RULES``, else a DataError listing them."""
    if rule not in EXCLUDE_RULES:
        raise DataError(
            f"unknown exclusion rule {rule!r}; choose one of {', '.join(EXCLUDE_RULES)}"
        )
    return rule


class Recommender:
    """Scores every movie a user has not rated with a stored run's serving weights."""

    def __init__(self, trained: Trained, *, two_stage: bool | None = None):
        """``two_stage`` True insists on two stages (a RunError for a run trained without
        negatives); otherwise the run's configuration decides (a two-stage model cannot
        rank without its retrieval features)."""
        self.trained = trained
        if two_stage:
            check_two_stage(trained.config, trained.run.path)
        self.two_stage = trained.config.two_stage
        self._train_items: tuple[np.ndarray, np.ndarray] | None = None
        self._history_items: tuple[np.ndarray, np.ndarray] | None = None
        # the protocol's data (its users and catalogue are what a list ranks); the
        # loaded data is where a person's own ratings are read ("rated", the profile)
        self._data = data = protocol_data(trained.config, trained.data)
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
        self._list_ranker: ListRanker | None = None
        self._source_index: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path | Run,
        data: MovieLensData | None = None,
        device: str = "cpu",
        *,
        two_stage: bool | None = None,
    ) -> Recommender:
        """Load a finished run; ``data`` None reopens the folder the run recorded."""
        return cls(load_trained(run_dir, data, device=device), two_stage=two_stage)

    @property
    def data(self) -> MovieLensData:
        """The data as the run's protocol sees it (the loaded data for the seed protocol)."""
        return self._data

    @property
    def source(self) -> MovieLensData:
        """The data as loaded: every rating each user made."""
        return self.trained.data

    def _source_rows(self, user_id: int) -> np.ndarray:
        """The user's rows in the loaded data (every rating they made)."""
        if self._source_index is None:
            users = self.source.ratings["user"].to_numpy()
            order = np.argsort(users, kind="stable")
            self._source_index = (users[order], order)
        users, order = self._source_index
        lo, hi = id_span(users, int(user_id))
        return order[lo:hi]

    # ------------------------------------------------------------ users

    def _user_rows(self, user_id: int) -> np.ndarray:
        """Rating rows of one user; unknown users raise a DataError naming the id."""
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            raise DataError(f"user id must be an integer, got {user_id!r}") from None
        lo, hi = id_span(self._sorted_users, uid)
        if lo == hi:
            lo_id, hi_id = (int(self.users[0]), int(self.users[-1])) if len(self.users) else (0, 0)
            if self.data is not self.source and len(self._source_rows(uid)):
                raise DataError(
                    f"user {uid} has no rating left under the run's protocol "
                    f"({protocol_text(self.trained.config)}); {len(self.users)} users remain"
                )
            raise DataError(
                f"user {uid} is not in the data {self.data.name} "
                f"({len(self.users)} users with ids {lo_id}..{hi_id})"
            )
        return self._sorted_rows[lo:hi]

    def user_profile(self, user_id: int) -> dict:
        """Demographics (where the layout has them) and rating counts of one user."""
        self._user_rows(user_id)
        rows = self._source_rows(user_id)
        ratings = self.source.ratings.iloc[rows]
        out: dict = {"user": int(user_id), "n_ratings": len(rows)}
        out["mean_rating"] = float(ratings["rating"].mean())
        users = self.source.users
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
        self._user_rows(user_id)
        mine = self.source.ratings.iloc[self._source_rows(user_id)].sort_values(
            ["rating", "timestamp"], ascending=[False, False], kind="stable"
        )
        mine = mine.head(int(n))
        meta = self._all_movies().reindex(mine["item"].to_numpy())
        return pd.DataFrame(
            {
                "item": mine["item"].to_numpy(),
                "title": meta["title"].to_numpy(),
                "year": meta["year"].to_numpy(),
                "genres": meta["genres"].to_numpy(),
                "rating": mine["rating"].to_numpy(),
            }
        )

    def _all_movies(self) -> pd.DataFrame:
        """Every movie of the loaded data by id (a person's ratings may name movies the
        protocol left out)."""
        if self.data is self.source:
            return self._movies
        return self.source.movies.drop_duplicates("item").set_index("item", drop=False)

    def seen_items(self, user_id: int) -> np.ndarray:
        """Every movie the user has rated (in any split, whatever the protocol kept)."""
        self._user_rows(user_id)
        rows = self._source_rows(user_id)
        return np.unique(self.source.ratings["item"].to_numpy()[rows])

    def training_items(self, user_id: int) -> np.ndarray:
        """The movies the user rated in the run's training split (never recommended)."""
        self._user_rows(user_id)
        if self._train_items is None:
            prep = self.trained.prepared()
            self._train_items = _pairs_by_user(prep.data, prep.split.train)
        return _items_of(self._train_items, user_id)

    def history_items(self, user_id: int) -> np.ndarray:
        """The user's history under the run's protocol (its ``test_history``): what the
        test metrics mask, so the lists they judge leave it out."""
        if self.trained.config.test_history == "train":
            return self.training_items(user_id)
        self._user_rows(user_id)
        if self._history_items is None:
            prep = self.trained.prepared()
            self._history_items = _pairs_by_user(prep.data, history_rows(prep, "test"))
        return _items_of(self._history_items, user_id)

    def excluded_items(self, user_id: int, exclude: str = DEFAULT_EXCLUDE) -> np.ndarray:
        """The movies (ascending ids) a list of the user leaves out under ``exclude``."""
        rule = check_exclude(exclude)
        if rule == "rated":
            return self.seen_items(user_id)
        if rule == "history":
            return self.history_items(user_id)
        return self.training_items(user_id)

    def _check_n(self, n: int) -> None:
        if int(n) < 1:
            raise DataError(f"the number of recommendations must be at least 1, got {n}")
        if int(n) > len(self._items):
            raise DataError(
                f"cannot list {n} movies: the catalogue of {self.data.name} has {len(self._items)}"
            )

    # ------------------------------------------------------------ scoring

    def candidates(
        self, user_id: int, genre: str | None = None, *, seen: np.ndarray | None = None
    ) -> np.ndarray:
        """Movie ids (ascending) the user did not rate in training (or not in ``seen``),
        of one genre."""
        if seen is None:
            seen = self.training_items(user_id)
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

    def _ranker(self) -> ListRanker:
        """The ranking station's list ranker for this run, built on the first list."""
        if self._list_ranker is None:
            self._list_ranker = ListRanker(self.trained.model, self.trained.prepared())
        return self._list_ranker

    def _rank(
        self, user_ids: list[int], seen: list[np.ndarray], n: int, *, allowed: np.ndarray
    ) -> RankedLists:
        """One user's list among the movie ids ``allowed`` (ascending)."""
        cols = np.searchsorted(self._items, allowed)
        return self._ranker().rank(np.array(user_ids), seen, n, allowed=cols)

    def warm(self) -> None:
        """Build what the first list under each exclusion rule would build: the item-side
        scorer and the per-user indexes (every rating, the training split, the protocol's
        history). Seconds at ML-25M size; an app calls this in its loading worker so that
        no later list, whichever rule it uses, pays them on the interactive thread."""
        if not len(self.users):
            return
        user = int(self.users[0])
        self.recommend(user, n=1)
        for rule in EXCLUDE_RULES:
            self.excluded_items(user, rule)
        self.user_profile(user)

    def recommend(
        self,
        user_id: int,
        n: int = 10,
        genre: str | None = None,
        *,
        exclude: str = DEFAULT_EXCLUDE,
        seen: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The top ``n`` movies the user has not seen under ``exclude`` (default: not
        rated at all), best first (ties: lower id first); ``seen`` overrides the movies
        left out.

        ``df.attrs["fallback"]`` is None, or why popularity stood in (a user without
        training ratings); ``df.attrs["score"]`` what ``score`` means;
        ``df.attrs["exclude"]`` the rule that made the list (``EXCLUDE_RULES``).
        """
        self._check_n(n)
        rule: str | None = None if seen is not None else exclude
        if seen is None:
            seen = self.excluded_items(user_id, exclude)
        items = self.candidates(user_id, genre, seen=seen)
        if self.two_stage:
            table = self._recommend_two_stage(user_id, int(n), items, seen)
        else:
            table = self._recommend_one_stage(user_id, int(n), items)
        table.attrs["score"] = SCORE_MEANING[self.two_stage]
        table.attrs["exclude"] = rule  # None: the caller's own ``seen``
        table.attrs.setdefault("fallback", None)
        return table

    def _recommend_one_stage(self, user_id: int, n: int, items: np.ndarray) -> pd.DataFrame:
        if len(items) == 0:
            return pd.DataFrame(columns=COLUMNS)
        ranked = self._rank([int(user_id)], [np.zeros(0, np.int64)], n, allowed=items)
        ok = ranked.valid[0]
        cols, score = ranked.columns[0][ok], ranked.scores[0][ok].astype(np.float64)
        wide, deep = self.score(user_id, self._items[cols])  # the parts, for the shown rows
        nan = np.full(len(cols), np.nan)
        table = self._table(self._items[cols], score, wide, deep, score, nan, nan, [()] * len(cols))
        if ranked.cold[0]:  # scores are training counts, not logits: no probability to show
            table["probability"] = np.nan
            table.attrs["fallback"] = fallback_note([user_id])
        return table

    def _recommend_two_stage(
        self, user_id: int, n: int, items: np.ndarray, seen: np.ndarray | None
    ) -> pd.DataFrame:
        prep = self.trained.prepared()
        seen_ids = self.training_items(user_id) if seen is None else np.asarray(seen)
        seen_cols = catalogue_columns(self._items, seen_ids)
        ranked = self._rank([int(user_id)], [seen_cols], n, allowed=items)
        block = ranked.detail
        assert block is not None  # two stages report what ranked them
        ok = block.columns[0] >= 0
        cols = block.columns[0][ok]
        rf = prep.retrieval
        assert rf is not None  # a two-stage run (rank_users checked it)
        u_idx = int(rf.user_index(np.array([int(user_id)]))[0])
        because = [
            tuple(int(self._items[j]) for j, _ in rf.full.main.because(u_idx, c, BECAUSE_N))
            for c in cols
        ]
        logit = block.logit[0][ok]
        table = self._table(
            self._items[cols],
            logit,
            block.wide[0][ok],
            block.deep[0][ok],
            1.0 / (1.0 + np.exp(-logit)),
            block.retrieval_rank[0][ok],
            block.retrieval_score[0][ok],
            because,
        )
        if block.fallback[0]:
            table.attrs["fallback"] = (
                f"user {int(user_id)} has no training ratings: the candidates are the most "
                "popular movies"
            )
        return table

    def _table(self, items, logit, wide, deep, score, rrank, rscore, because) -> pd.DataFrame:
        meta = self._movies.reindex(items)
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(items) + 1),
                "item": items,
                "title": meta["title"].to_numpy(),
                "year": meta["year"].to_numpy(),
                "genres": meta["genres"].to_numpy(),
                "probability": 1.0 / (1.0 + np.exp(-np.asarray(logit, np.float64))),
                "wide_logit": wide,
                "deep_logit": deep,
                "score": np.asarray(score, np.float64),
                "retrieval_rank": np.asarray(rrank, np.float64),
                "retrieval_score": np.asarray(rscore, np.float64),
                "because": list(because),
            }
        )

    def recommend_all(
        self,
        n: int = 10,
        users: np.ndarray | None = None,
        *,
        exclude: str = DEFAULT_EXCLUDE,
    ) -> pd.DataFrame:
        """Columns user, rank, item, score: each user's ``recommend(user, n, exclude=...)``
        list, ranked in blocks of users by the same kernel."""
        blocks = list(self.iter_recommend_all(n, users, exclude=exclude))
        table = (
            pd.concat(blocks, ignore_index=True)
            if blocks
            else pd.DataFrame({c: [] for c in ALL_COLUMNS})
        )
        table.attrs.update(blocks[-1].attrs if blocks else {})
        table.attrs["exclude"] = exclude
        if blocks:
            table.attrs["score"] = SCORE_MEANING[self.two_stage]
            table.attrs["fallback"] = self.cold_note(users)
        return table

    def iter_all_users_csv(
        self,
        n: int = 10,
        *,
        exclude: str = DEFAULT_EXCLUDE,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[str]:
        """Every user's list as CSV text (``user,rank,item,score``), header first, then a
        block of users per piece: for ``fileio.write_output_chunks``, the CLI's
        ``--all-users`` and the Recommend page's export."""
        yield "user,rank,item,score\n"
        for block in self.iter_recommend_all(n, exclude=exclude, progress=progress):
            yield block[["user", "rank", "item", "score"]].to_csv(
                index=False, header=False, lineterminator="\n", float_format="%.6g"
            )

    def cold_note(self, users: np.ndarray | None = None) -> str | None:
        """The one-line note for the users (default: all) whose lists are popularity's,
        having no training rating; None when there are none."""
        user_ids = self.users if users is None else np.asarray(users, dtype=np.int64)
        return fallback_note(user_ids[self._ranker().cold(user_ids)])

    def iter_recommend_all(
        self,
        n: int = 10,
        users: np.ndarray | None = None,
        *,
        exclude: str = DEFAULT_EXCLUDE,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """``recommend_all``'s table a block of users at a time (what a block ranks at
        once): the working set stays one block whatever the number of users, so an
        export of 200,000 users streams. ``progress(done, total)`` after each block."""
        check_exclude(exclude)
        self._check_n(n)
        n = int(n)
        user_ids = self.users if users is None else np.asarray(users, dtype=np.int64)
        asked = np.unique(user_ids)
        unknown = asked[~np.isin(asked, self.users)]
        if len(unknown):
            self._user_rows(int(unknown[0]))  # unknown users fail before any work
        with CoreShare():  # a training's worth of work: a share of the cores (threads.py)
            ranker = self._ranker()
            step = ranker.block_size
            for s in range(0, len(user_ids), step):
                block = user_ids[s : s + step]
                seen = [
                    catalogue_columns(self._items, self.excluded_items(int(u), exclude))
                    for u in block
                ]
                ranked = ranker.rank(block, seen, n)
                cols = ranked.shown()
                # two stages: the probability among impressions; one stage: the logit
                score = ranked.scores
                scores = 1.0 / (1.0 + np.exp(-score)) if self.two_stage else score
                width = cols.shape[1]
                ok = cols >= 0
                table = pd.DataFrame(
                    {
                        "user": np.repeat(block, width)[ok.ravel()],
                        "rank": np.tile(np.arange(1, width + 1), len(block))[ok.ravel()],
                        "item": self._items[cols[ok]],
                        "score": scores[ok],
                    }
                )
                table.attrs["score"] = SCORE_MEANING[self.two_stage]
                table.attrs["exclude"] = exclude
                if progress is not None:
                    progress(min(s + step, len(user_ids)), len(user_ids))
                yield table


def _pairs_by_user(data: MovieLensData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(users, items) of ``rows`` sorted by user then item: a per-user item lookup."""
    r = data.ratings
    users, items = r["user"].to_numpy()[rows], r["item"].to_numpy()[rows]
    order = np.lexsort((items, users))
    return users[order], items[order]


def _items_of(pairs: tuple[np.ndarray, np.ndarray], user_id: int) -> np.ndarray:
    users, items = pairs
    lo, hi = id_span(users, int(user_id))
    return np.unique(items[lo:hi])
