"""The user's tags and note on a run, kept in its folder's annotations.json.

Apart from run.json on purpose: the trainer read-modify-writes run.json (status,
timings) while it trains, possibly in another process, so a tag written there could be
lost under it. annotations.json is written by the user only, atomically (temp file +
rename, ``Run.write_annotations``), and every change rereads it first.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from widedeep_core.errors import RunError
from widedeep_core.runs.run import Run

MAX_TAG_LENGTH = 40
MAX_NOTE_LENGTH = 10_000
# a tag is one word a filter can name (``tag:baseline``): letters, digits, . _ - + / =
_TAG_RE = re.compile(r"^[\w.+/=-]+$")
_LOCK = threading.Lock()


def check_tag(tag: str) -> str:
    """The tag as stored (trimmed); one that a filter could not name raises ``RunError``."""
    clean = str(tag).strip()
    if not clean or len(clean) > MAX_TAG_LENGTH or not _TAG_RE.match(clean):
        raise RunError(
            f"invalid tag {tag!r}: use 1 to {MAX_TAG_LENGTH} letters, digits or . _ - + / = "
            "(no spaces)"
        )
    return clean


def parse_tags(text: str) -> list[str]:
    """Tags typed in one box, separated by commas or spaces ("baseline, lr-sweep")."""
    return [check_tag(t) for t in re.split(r"[,\s]+", text) if t.strip()]


def read_annotations(run: Run) -> tuple[list[str], str]:
    """The run's (tags, note); entries of the wrong type are left out."""
    raw = run.read_annotations()
    tags = raw.get("tags")
    note = raw.get("note")
    return (
        [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        note if isinstance(note, str) else "",
    )


def _store(run: Run, tags: Iterable[str], note: str) -> None:
    # dict.fromkeys: the order the user gave, without duplicates
    data: dict[str, Any] = {"tags": list(dict.fromkeys(tags)), "note": note}
    run.write_annotations(data)


def set_tags(run: Run, tags: Iterable[str]) -> list[str]:
    """Replace the run's tags; returns them as stored."""
    clean = [check_tag(t) for t in tags]
    with _LOCK:
        _, note = read_annotations(run)
        _store(run, clean, note)
    return list(dict.fromkeys(clean))


def add_tags(run: Run, tags: Iterable[str]) -> list[str]:
    """Add tags to a run (kept once each); returns the run's tags."""
    new = [check_tag(t) for t in tags]
    with _LOCK:
        old, note = read_annotations(run)
        _store(run, [*old, *new], note)
        return list(dict.fromkeys([*old, *new]))


def remove_tags(run: Run, tags: Iterable[str]) -> list[str]:
    """Remove tags from a run (absent ones are ignored); returns the run's tags."""
    gone = {str(t).strip() for t in tags}
    with _LOCK:
        old, note = read_annotations(run)
        kept = [t for t in old if t not in gone]
        _store(run, kept, note)
        return kept


def set_note(run: Run, text: str) -> str:
    """Replace the run's note (free text; empty removes it); returns it as stored."""
    note = str(text).strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise RunError(f"the note is too long ({len(note):,} characters; at most 10,000)")
    with _LOCK:
        tags, _ = read_annotations(run)
        _store(run, tags, note)
    return note


__all__ = [
    "MAX_TAG_LENGTH",
    "add_tags",
    "check_tag",
    "parse_tags",
    "read_annotations",
    "remove_tags",
    "set_note",
    "set_tags",
]
