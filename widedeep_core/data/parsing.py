"""Parsers for MovieLens files: a fast ratings reader and precise line-level diagnostics.

The ratings file is parsed in one pass by pyarrow (a ``::`` separator is first replaced by
one byte, since pyarrow and pandas' C engine take single-character separators only). Only
when that fails is the file scanned again, chunk by chunk, to name the first bad line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..errors import DataError

_ALT_SEP = b"\x1f"  # ASCII unit separator: cannot occur in a valid ratings line
_CHUNK_BYTES = 1 << 20  # chunk size of the diagnostic re-parse
_MAX_ID = 2**31 - 1
_INT = re.compile(rb"-?\d+")
_FLOAT = re.compile(rb"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|(?i:nan|inf|infinity)")
_YEAR = re.compile(r"\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\s*\)")
NO_GENRES = "(no genres listed)"
RATING_TYPES = {
    "user": pa.int32(),
    "item": pa.int32(),
    "rating": pa.float32(),
    "timestamp": pa.int64(),
}


@dataclass(frozen=True)
class RatingsFormat:
    """How one release writes its ratings file."""

    sep: bytes
    fields: str  # one line as the release documents it, for messages
    header: str | None = None  # exact first line, for the CSV family


FORMAT_100K = RatingsFormat(b"\t", "user id <TAB> item id <TAB> rating <TAB> timestamp")
FORMAT_DAT = RatingsFormat(b"::", "UserID::MovieID::Rating::Timestamp")
FORMAT_CSV = RatingsFormat(
    b",", "userId,movieId,rating,timestamp", "userId,movieId,rating,timestamp"
)


@dataclass
class RatingsText:
    """The parsed ratings and the bytes they came from, to turn a row into a line number."""

    frame: pd.DataFrame
    body: bytes
    skip: int  # header lines before the first rating

    def line_of(self, row: int) -> int:
        """The 1-based physical line of a parsed row (blank lines are skipped by the parser)."""
        return int(row_lines(self.body, self.skip, np.array([row]))[0])


def parse_ratings(data: bytes, fmt: RatingsFormat, label: str) -> RatingsText:
    """Parse a ratings file into user/item/rating/timestamp columns; DataError on a bad line."""
    if not data or data.isspace():  # isspace stops at the first character; strip would copy
        raise DataError("the file is empty: expected lines like " + fmt.fields, path=label)
    skip = 0
    if fmt.header is not None:
        end = data.find(b"\n")
        first = data[: end if end >= 0 else len(data)].decode("utf-8-sig", "replace").strip()
        if first != fmt.header:
            raise DataError(
                f"expected the header '{fmt.header}', found '{first[:80]}'", path=label, line=1
            )
        skip = 1
    sep = fmt.sep
    if len(sep) > 1:
        data = data.replace(sep, _ALT_SEP)  # same line structure, one-byte separator
        sep = _ALT_SEP
    try:
        table = _arrow_parse(data, sep, skip)
    except pa.ArrowException as exc:
        line, reason = _first_bad_line(data, sep, fmt, skip)
        if line is None:
            raise DataError(f"cannot parse the ratings ({exc})", path=label) from None
        raise DataError(reason, path=label, line=line) from None
    if table.num_rows == 0:
        raise DataError("holds no ratings, only a header", path=label)
    frame = table.to_pandas()
    text = RatingsText(frame, data, skip)
    for col, what in (("user", "user id"), ("item", "movie id")):
        neg = np.flatnonzero(frame[col].to_numpy() < 0)
        if len(neg):
            value = int(frame[col].iat[neg[0]])
            raise DataError(
                f"{what} {value} is negative: ids are whole numbers >= 0",
                path=label,
                line=text.line_of(int(neg[0])),
            )
    return text


def _arrow_parse(data: bytes, sep: bytes, skip: int) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(RATING_TYPES), skip_rows=skip),
        parse_options=pacsv.ParseOptions(delimiter=sep.decode("latin-1"), quote_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=RATING_TYPES, null_values=[], strings_can_be_null=False
        ),
    )


def row_lines(body: bytes, skip: int, rows: np.ndarray) -> np.ndarray:
    """Physical 1-based line numbers of parsed rows; vectorised, used on error paths only."""
    blank = body.startswith((b"\n", b"\r\n")) or b"\n\n" in body or b"\n\r\n" in body
    if not blank:
        return rows.astype(np.int64) + skip + 1
    arr = np.frombuffer(body, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(arr)]])
    length = ends - starts
    last = np.minimum(starts, max(len(arr) - 1, 0))
    nonempty = (length > 1) | ((length == 1) & (arr[last] != 13))
    nonempty[:skip] = False
    return np.flatnonzero(nonempty)[rows] + 1


def _chunks(data: bytes, start: int) -> Iterator[tuple[int, int]]:
    """(begin, end) byte ranges of about _CHUNK_BYTES that end on a line boundary."""
    pos = start
    while pos < len(data):
        end = data.find(b"\n", min(pos + _CHUNK_BYTES, len(data)))
        end = len(data) if end < 0 else end + 1
        yield pos, end
        pos = end


def _first_bad_line(
    data: bytes, sep: bytes, fmt: RatingsFormat, skip: int
) -> tuple[int | None, str]:
    """Find the first line pyarrow rejects: re-parse in chunks, scan the failing chunk by line."""
    start = 0
    for _ in range(skip):
        start = data.find(b"\n", start) + 1
    for begin, end in _chunks(data, start):
        chunk = data[begin:end]
        try:
            _arrow_parse(chunk, sep, 0)
            continue
        except pa.ArrowException:
            pass
        line = data.count(b"\n", 0, begin) + 1
        for raw in chunk.split(b"\n"):
            reason = check_rating_line(raw.removesuffix(b"\r"), sep, fmt)
            if reason:
                return line, reason
            line += 1
        return None, ""
    return None, ""


def check_rating_line(raw: bytes, sep: bytes, fmt: RatingsFormat) -> str | None:
    """Why one ratings line is malformed, or None; mirrors what the fast parser accepts."""
    if not raw:
        return None
    fields = raw.split(sep)
    if len(fields) != 4:
        return f"expected 4 fields ({fmt.fields}), found {len(fields)}"
    user, item, rating, stamp = fields
    for value, what in ((user, "user id"), (item, "movie id")):
        reason = _check_id(value, what)
        if reason:
            return reason
    if not _FLOAT.fullmatch(rating.strip()):
        return f"rating {_show(rating)} is not a number"
    if not _INT.fullmatch(stamp) or len(stamp.lstrip(b"-")) > 19:
        return f"timestamp {_show(stamp)} is not a whole number of seconds"
    if not -(2**63) <= int(stamp) < 2**63:
        return f"timestamp {_show(stamp)} is not a whole number of seconds"
    return None


def _check_id(value: bytes, what: str) -> str | None:
    if not _INT.fullmatch(value):
        return f"{what} {_show(value)} is not a whole number"
    # compare the digits before converting: Python refuses to convert over 4,300 of them
    if len(value.lstrip(b"-").lstrip(b"0")) > 10 or int(value) > _MAX_ID:
        if value.startswith(b"-"):
            return f"{what} {_show(value)} is negative (MovieLens ids are positive)"
        return f"{what} {_show(value)} is too large (at most {_MAX_ID})"
    if int(value) < 0:
        return f"{what} {int(value)} is negative (MovieLens ids are positive)"
    return None


def _show(value: bytes) -> str:
    return repr(value.decode("latin-1")[:40])


# --- small companion files (users, movies, genres): plain Python, exact line numbers ---


def decode_text(data: bytes) -> str:
    """UTF-8 when it decodes (CSV family), else latin-1 (ml-100k, ml-1m), never an error."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # a UTF-8 byte-order mark in front of latin-1 text (an editor added it) is no text
        return data.removeprefix(b"\xef\xbb\xbf").decode("latin-1")


def split_lines(
    data: bytes, sep: str, n_fields: int, fields: str, label: str
) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line; DataError on a wrong field count."""
    text = decode_text(data)
    if not text.strip():
        raise DataError("the file is empty: expected lines like " + fields, path=label)
    rows = []
    # split on "\n" only: str.splitlines would also split on latin-1 control characters
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        parts = line.split(sep)
        if len(parts) != n_fields:
            raise DataError(
                f"expected {n_fields} fields ({fields}), found {len(parts)}", path=label, line=n
            )
        rows.append((n, parts))
    return rows


def read_csv_rows(data: bytes, header: list[str], label: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of a quoted CSV file after checking its exact header.

    Each line is read on its own: MovieLens titles never span lines, so an unclosed quote
    is reported at its line instead of swallowing the rest of the file.
    """
    text = decode_text(data)
    if not text.strip():
        raise DataError("the file is empty: expected the header " + ",".join(header), path=label)
    rows = []
    seen_header = False
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        try:
            parts = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise DataError(f"malformed CSV ({exc})", path=label, line=n) from None
        if not seen_header:
            if parts != header:
                found = ",".join(parts)[:80]
                raise DataError(
                    f"expected the header '{','.join(header)}', found '{found}'", path=label, line=n
                )
            seen_header = True
            continue
        if len(parts) != len(header):
            raise DataError(
                f"expected {len(header)} fields ({','.join(header)}), found {len(parts)}",
                path=label,
                line=n,
            )
        rows.append((n, parts))
    return rows


def parse_id(value: str, what: str, label: str, line: int) -> int:
    """A whole-number id or a DataError naming file, line and field."""
    reason = _check_id(value.strip().encode("latin-1", "replace"), what)
    if reason:
        raise DataError(reason, path=label, line=line)
    return int(value)


def parse_int(value: str, what: str, label: str, line: int) -> int:
    """A whole number field (e.g. age) or a DataError."""
    v = value.strip()
    if not _INT.fullmatch(v.encode("latin-1", "replace")) or len(v.lstrip("-")) > 18:
        raise DataError(
            f"{what} {v[:40]!r} is not a whole number of a sensible size", path=label, line=line
        )
    return int(v)


def title_year(title: str) -> float:
    """The year in a title's last "(1995)" (or "(2006-2007)"), NaN when it has none."""
    found = _YEAR.findall(title)
    return float(found[-1]) if found else float("nan")


def split_genres(text: str) -> tuple[str, ...]:
    """'Action|Comedy' -> ('Action', 'Comedy'); the CSV family's no-genre marker -> ()."""
    text = text.strip()
    if not text or text == NO_GENRES:
        return ()
    return tuple(g for g in text.split("|") if g)


def movies_frame(
    items: list[int], titles: list[str], years: list[float], genres: list[tuple[str, ...]]
) -> pd.DataFrame:
    """The movies frame with the dtypes MovieLensData documents."""
    frame = pd.DataFrame(
        {
            "item": np.asarray(items, dtype=np.int32),
            "title": pd.Series(titles, dtype="str"),
            "year": np.asarray(years, dtype=np.float64),
            "genres": pd.Series(genres, dtype=object),
        }
    )
    return frame


def users_frame(
    users: list[int], gender: list[str], age: list[int], occupation: list[str], zips: list[str]
) -> pd.DataFrame:
    """The users frame with the dtypes MovieLensData documents."""
    return pd.DataFrame(
        {
            "user": np.asarray(users, dtype=np.int32),
            "gender": pd.Series(gender, dtype="str"),
            "age": np.asarray(age, dtype=np.int32),
            "occupation": pd.Series(occupation, dtype="str"),
            "zip": pd.Series(zips, dtype="str"),
        }
    )
