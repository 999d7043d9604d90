"""The run filter: ``val_auc > 0.79``, ``preset = topn``, ``tag:baseline``, plain words.

``parse_filter(text)`` is pure and never raises: it returns a ``RunFilter`` whose
``error`` is one line saying what is wrong (and the filter then matches every run, so a
half-typed filter never empties the table). Clauses are joined by ``and``, a comma or
plain spaces, and all must hold:

- ``KEY OP VALUE`` with OP one of ``= == != > >= < <= ~`` (``~``: contains); KEY is a
  column key of ``runs.table`` (``val_auc``, ``lr``, ``protocol``) or its label written
  with underscores (``best_val_auc``, ``test_ndcg@10``);
- ``tag:NAME`` (``-tag:NAME`` for runs without it): the user's tags, or a key the
  program recorded (``tag:study``);
- any other word: found in the run's name, id, preset, data, protocol, status or tags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from widedeep_core.runs.table import COLUMNS, format_value

OPERATORS = ("==", "!=", ">=", "<=", "=", ">", "<", "~")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<quoted>"[^"]*"|'[^']*')
      | (?P<op>==|!=|>=|<=|=|>|<|~)
      | (?P<sep>,)
      | (?P<word>[^\s=!<>~,"']+)
      | (?P<bad>\S)
    )""",
    re.VERBOSE,
)
# the plain words are looked for in these columns
TEXT_KEYS = ("name", "id", "preset", "data", "protocol", "status", "tags", "study")


def _alias(text: str) -> str:
    return re.sub(r"[^a-z0-9@]+", "_", text.lower()).strip("_")


def _aliases() -> dict[str, str]:
    names: dict[str, str] = {}
    for c in COLUMNS:
        names.setdefault(c.key.lower(), c.key)
    for c in COLUMNS:
        names.setdefault(_alias(c.label.replace("@K", "")), c.key)
        names.setdefault(_alias(c.label.replace("@K", "@k")), c.key)
    names.setdefault("best_val_auc", "val_auc")
    names.setdefault("epochs_run", "epochs_run")
    return names


ALIASES = _aliases()
_K_SUFFIX = re.compile(r"^(?P<key>.+?)@(?P<k>\d+)$")

Predicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


@dataclass(frozen=True)
class RunFilter:
    """A parsed filter: ``matches(values)`` tells whether a run's row passes."""

    text: str = ""
    clauses: tuple[Predicate, ...] = ()
    error: str | None = None
    keys: tuple[str, ...] = field(default=())  # the columns it reads

    def matches(self, values: Mapping[str, Any], tags: Mapping[str, Any] | None = None) -> bool:
        """True when the run with this row (``runs.table.run_values``) passes every clause.

        ``tags`` are the run's recorded tags (run.json), for ``tag:study``.
        """
        if self.error:
            return True
        return all(c(values, tags or {}) for c in self.clauses)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None


def _as_text(key: str, value: Any) -> str:
    return format_value(key, value).lower()


def _compare(key: str, op: str, want: str, k: int | None) -> Predicate:
    number = _number(want)
    want_l = want.lower()

    def check(values: Mapping[str, Any], _tags: Mapping[str, Any]) -> bool:
        if k is not None and values.get("ranking_k") not in (None, k):
            return False
        value = values.get(key)
        if op == "~":
            return value is not None and want_l in _as_text(key, value)
        if isinstance(value, int | float) and not isinstance(value, bool) and number is not None:
            v = float(value)
            return {
                "=": v == number,
                "==": v == number,
                "!=": v != number,
                ">": v > number,
                ">=": v >= number,
                "<": v < number,
                "<=": v <= number,
            }[op]
        if op in ("=", "==", "!="):
            if isinstance(value, tuple) and key == "tags":
                hit = want_l in (t.lower() for t in value)
            else:
                hit = value is not None and _as_text(key, value) == want_l
            return hit if op != "!=" else not hit
        return False  # an order on a missing value or on text: no match

    return check


def _tag(name: str, negate: bool) -> Predicate:
    want = name.lower()

    def check(values: Mapping[str, Any], tags: Mapping[str, Any]) -> bool:
        mine = {str(t).lower() for t in values.get("tags") or ()}
        recorded = {str(t).lower() for t in tags}
        hit = want in mine or want in recorded
        return hit != negate

    return check


def _word(word: str) -> Predicate:
    want = word.lower()

    def check(values: Mapping[str, Any], _tags: Mapping[str, Any]) -> bool:
        return any(want in _as_text(k, values.get(k)) for k in TEXT_KEYS if values.get(k))

    return check


def _resolve(name: str) -> tuple[str | None, int | None]:
    """The column key a filter names, and the K it fixes (``test_ndcg@10``)."""
    key = ALIASES.get(_alias(name)) or ALIASES.get(name.lower())
    if key is not None:
        return key, None
    m = _K_SUFFIX.match(name.lower())
    if m:
        key = ALIASES.get(_alias(m.group("key")))
        if key is not None:
            return key, int(m.group("k"))
    return None, None


def _unknown(name: str) -> str:
    close = get_close_matches(name.lower(), list(ALIASES), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else " (a column key, e.g. val_auc, lr)"
    return f"unknown column {name!r}{hint}"


def _tokens(text: str) -> list[tuple[str, str]] | str:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "bad":
            return f"unexpected {value!r} at position {m.start(kind) + 1}"
        if kind == "quoted":
            out.append(("value", value[1:-1]))
        else:
            out.append((kind, value))
    return out


def parse_filter(text: str) -> RunFilter:
    """Parse the filter box's text (never raises: a bad filter has ``error`` set)."""
    tokens = _tokens(text)
    if isinstance(tokens, str):
        return RunFilter(text, error=f"Filter: {tokens}")
    clauses: list[Predicate] = []
    keys: list[str] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "sep" or (kind == "word" and value.lower() in ("and", "&&")):
            i += 1
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if kind == "op":
            return RunFilter(text, error=f"Filter: {value!r} needs a column before it")
        if nxt is not None and nxt[0] == "op":
            key, k = _resolve(value)
            if key is None:
                return RunFilter(text, error=f"Filter: {_unknown(value)}")
            if i + 2 >= len(tokens) or tokens[i + 2][0] not in ("word", "value"):
                return RunFilter(text, error=f"Filter: {value} {nxt[1]} needs a value after it")
            want = tokens[i + 2][1]
            op = nxt[1]
            if op in (">", ">=", "<", "<=") and _number(want) is None:
                return RunFilter(
                    text, error=f"Filter: {value} {op} {want}: {op} compares numbers only"
                )
            clauses.append(_compare(key, op, want, k))
            keys.append(key)
            i += 3
            continue
        low = value.lower()
        if kind == "word" and (low.startswith(("tag:", "-tag:", "!tag:"))):
            name = value.split(":", 1)[1]
            if not name:
                return RunFilter(text, error="Filter: tag: needs a tag name (tag:baseline)")
            clauses.append(_tag(name, negate=not low.startswith("tag:")))
            keys.append("tags")
        else:
            clauses.append(_word(value))
        i += 1
    return RunFilter(text, tuple(clauses), None, tuple(dict.fromkeys(keys)))


__all__ = ["ALIASES", "OPERATORS", "RunFilter", "parse_filter"]
