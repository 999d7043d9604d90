"""The project's fixed names and choices, defined once and imported everywhere else.

(The encoder's fitted values are a run's *vocabulary*, ``features.encoder``; these are
the names every run shares.)

Field names, which fields are multi-valued or demographic, the MovieLens genres and
age codes, data layouts, and the names a configuration may choose from (activations,
optimisers, split kinds, monitors, learning-rate schedules). A module that needs one
of these imports it from here; none keeps its own copy.
"""

from __future__ import annotations

import re

# Every field the encoder can read, in the canonical order (crosses name their
# components in this order, e.g. "gender x genres").
FIELDS: tuple[str, ...] = ("user", "item", "gender", "age", "occupation", "zip", "year", "genres")
# Fields that hold a list of values per row (padded with 0, masked when pooling).
MULTI_VALUED_FIELDS: tuple[str, ...] = ("genres",)
# Fields that come from the users table; ml-10m and the CSV family have none.
DEMOGRAPHIC_FIELDS: tuple[str, ...] = ("gender", "age", "occupation", "zip")
# Fields whose value depends on the user alone (the rest depend on the movie): the split
# between the two halves of split-layer scoring.
USER_SIDE_FIELDS: tuple[str, ...] = ("user", *DEMOGRAPHIC_FIELDS)
# How a cross of two fields is written.
CROSS_SEPARATOR = " x "

# The 18 genres of ML-1M's README, in its order (ML-100K adds "unknown" in front;
# later releases add "Children" and "IMAX").
GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
)  # fmt: skip
# ML-1M age-group codes: "<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+".
AGE_CODES: tuple[int, ...] = (1, 18, 25, 35, 45, 50, 56)
# What ML-1M's users.dat codes mean (its README); ML-100K stores ages as numbers and
# occupations as words.
ML1M_AGE_LABELS: dict[int, str] = {
    1: "Under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+",
}  # fmt: skip
ML1M_OCCUPATIONS: tuple[str, ...] = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)  # fmt: skip

# On-disk layouts of the MovieLens releases.
LAYOUTS: tuple[str, ...] = ("ml-100k", "ml-1m", "ml-10m", "csv")
# The official releases GroupLens serves as <name>.zip.
RELEASES: tuple[str, ...] = (
    "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest", "ml-latest-small",
)  # fmt: skip

# Choices of the configuration.
ACTIVATIONS: tuple[str, ...] = ("relu", "sigmoid", "tanh", "gelu")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd", "adagrad", "ftrl")
SPLIT_KINDS: tuple[str, ...] = (
    "random", "temporal", "leave-last-out", "user-random", "random-rs",
)  # fmt: skip
# How a rating becomes a positive label: above the threshold, or at least the threshold.
POSITIVE_RULES: tuple[str, ...] = (">", ">=")
# What counts as a user's history when the test lists are judged (and masked): the
# training split, or the training and validation splits (RecBole's general protocol).
TEST_HISTORIES: tuple[str, ...] = ("train", "train+val")
MONITORS: tuple[str, ...] = ("val_auc", "val_logloss", "val_ndcg")
LR_SCHEDULES: tuple[str, ...] = ("none", "cosine", "step")
# Top-N training: how sampled negatives are drawn, which retrieval stage proposes the
# candidates ("none": one stage, every unrated movie ranked by the model), and which
# retrieval features the ranker reads.
NEGATIVE_SAMPLINGS: tuple[str, ...] = ("uniform", "popularity")
RETRIEVALS: tuple[str, ...] = ("none", "auto", "ease", "item-knn")
RETRIEVAL_FEATURES: tuple[str, ...] = ("score", "liked_score", "rank")
# Which movies a recommendation list leaves out. "history" is what the run's evaluation
# protocol counts as the user's history at test time: the training split (the seed
# protocol); the ranking metrics judge lists made with it.
EXCLUDE_RULES: dict[str, str] = {
    "rated": "every movie the user rated",
    "train": "the movies the user rated in the run's training split",
    "history": "the user's history under the run's protocol (its test_history: the "
    "training split, or training and validation)",
}
DEFAULT_EXCLUDE = "rated"

# Device specs a configuration may name; devices.py checks what the machine has.
DEVICE_SPEC_RE = re.compile(r"^(cpu|auto|mps|cuda(:\d+)?)$")
DEVICE_SPECS_TEXT = "cpu, cuda, cuda:N, mps or auto"

__all__ = [
    "ACTIVATIONS",
    "AGE_CODES",
    "CROSS_SEPARATOR",
    "DEFAULT_EXCLUDE",
    "DEMOGRAPHIC_FIELDS",
    "DEVICE_SPECS_TEXT",
    "DEVICE_SPEC_RE",
    "EXCLUDE_RULES",
    "FIELDS",
    "GENRES",
    "LAYOUTS",
    "LR_SCHEDULES",
    "ML1M_AGE_LABELS",
    "ML1M_OCCUPATIONS",
    "MONITORS",
    "MULTI_VALUED_FIELDS",
    "NEGATIVE_SAMPLINGS",
    "OPTIMIZERS",
    "POSITIVE_RULES",
    "RELEASES",
    "RETRIEVALS",
    "RETRIEVAL_FEATURES",
    "SPLIT_KINDS",
    "TEST_HISTORIES",
    "USER_SIDE_FIELDS",
]
