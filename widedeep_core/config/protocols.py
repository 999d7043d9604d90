"""Evaluation protocols as data: the fields that decide which rows a run is judged on.

A protocol is the part of a configuration that fixes the question, not the model: which
ratings are kept (``min_rating``, the k-core), how a rating becomes a label
(``threshold``, ``positive_rule``, ``drop_neutral``), how rows are split (``split``,
``split_fractions``) and what the test lists treat as history (``test_history``). Two
runs whose protocols differ answer different questions: their numbers are never ranked
together (``runs.compare``).

``PROTOCOLS`` names the ones people know: the seed's (the default and the reference
implementation's) and RecBole's two MovieLens-1M benchmark protocols
(``benchmark/md/ml-1m_context.md`` and ``ml-1m_general.md`` in RUCAIBox/RecBole).
"""

from __future__ import annotations

from typing import Any

PROTOCOL_FIELDS: tuple[str, ...] = (
    "min_rating",
    "min_user_ratings",
    "min_item_ratings",
    "threshold",
    "positive_rule",
    "drop_neutral",
    "split",
    "split_fractions",
    "test_history",
)

_SEED: dict[str, Any] = {
    "min_rating": 0.0,
    "min_user_ratings": 0,
    "min_item_ratings": 0,
    "threshold": 3.0,
    "positive_rule": ">",
    "drop_neutral": False,
    "split": "random",
    "split_fractions": (0.8, 0.1, 0.1),
    "test_history": "train",
}

PROTOCOLS: dict[str, dict[str, Any]] = {
    # the seed implementation's: every rating, label rating > 3, random 80/10/10 rows
    "seed": _SEED,
    # RecBole's CTR benchmark: ratings of 3 dropped, label rating >= 4, random 80/10/10
    "recbole-context": {**_SEED, "drop_neutral": True, "split": "random-rs"},
    # RecBole's top-N benchmark: ratings >= 3 as implicit positives, 10-core on users and
    # movies, each user's ratings split 80/10/10 at random, test lists judged with the
    # training and validation items masked
    "recbole-general": {
        **_SEED,
        "min_rating": 3.0,
        "min_user_ratings": 10,
        "min_item_ratings": 10,
        "positive_rule": ">=",
        "split": "user-random",
        "test_history": "train+val",
    },
}

PROTOCOL_HELP: dict[str, str] = {
    "seed": "every rating; positive = rating > 3; random 80/10/10 of the ratings",
    "recbole-context": "ratings of 3 dropped; positive = rating >= 4; random 80/10/10",
    "recbole-general": (
        "ratings >= 3 as positives; 10-core users and movies; per-user random 80/10/10; "
        "test history = train + validation"
    ),
}


def protocol_values(config: Any) -> dict[str, Any]:
    """The protocol fields of a ``Config`` (or of a config dict), as comparable values."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    out: dict[str, Any] = {}
    for name in PROTOCOL_FIELDS:
        value = get(name, _SEED[name])
        if isinstance(value, list | tuple):
            value = tuple(float(v) for v in value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value) if isinstance(_SEED[name], float) else int(value)
        out[name] = value
    return out


def protocol_name(config: Any) -> str:
    """The protocol's name in ``PROTOCOLS``, or "custom" when no named protocol matches."""
    values = protocol_values(config)
    for name, fields in PROTOCOLS.items():
        if protocol_values(fields) == values:
            return name
    return "custom"


def protocol_text(config: Any) -> str:
    """One line: the protocol's name and what it keeps, labels, splits and masks."""
    name = protocol_name(config)
    if name != "custom":
        return f"{name}: {PROTOCOL_HELP[name]}"
    v = protocol_values(config)
    parts = []
    if v["min_rating"] > 0:
        parts.append(f"ratings >= {v['min_rating']:g}")
    if v["min_user_ratings"] > 1 or v["min_item_ratings"] > 1:
        parts.append(f"{v['min_user_ratings']}/{v['min_item_ratings']}-core users/movies")
    rule = ">=" if v["positive_rule"] == ">=" else ">"
    parts.append(f"positive = rating {rule} {v['threshold']:g}")
    if v["drop_neutral"]:
        parts.append(f"ratings of {v['threshold']:g} dropped")
    fr = "/".join(f"{round(f * 100):d}" for f in v["split_fractions"])
    parts.append(f"{v['split']} {fr}")
    parts.append(f"test history = {v['test_history']}")
    return "custom: " + "; ".join(parts)


__all__ = [
    "PROTOCOLS",
    "PROTOCOL_FIELDS",
    "PROTOCOL_HELP",
    "protocol_name",
    "protocol_text",
    "protocol_values",
]
