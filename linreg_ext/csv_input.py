"""CSV input of the predictors, the Python twin of cpp_app/input.cpp (linreg_predict).

The rules, the same in both predictors (and for the trainer to follow):
  - a UTF-8 byte-order mark at the very start of the input is skipped;
  - lines end with "\\n", and one "\\r" before it is dropped (CRLF files);
  - blank lines (only spaces and tabs) and comment lines (first non-blank character '#') are
    skipped wherever they are; a '#' anywhere else is part of its field;
  - fields are separated by ','; a field that starts with '"' is quoted: it ends at the next lone
    '"' ('""' inside stands for one '"') and is followed by ',' or the end of the line; a quoted
    field does not span lines;
  - the first remaining line is a header if and only if every field of it is a name (is_name);
    otherwise it is data, so a first data row is never dropped for failing to parse;
  - every line, the header included, has exactly one field per feature of the model;
  - every data field is a number of linreg_ext.numbers' grammar, and fits the model's dtype.
The input is read as bytes, as the C++ app reads it; messages are the C++ app's, word for word.
"""

import math
from collections.abc import Iterator

import numpy as np

from .numbers import parse_number, quote_text

_BOM = b"\xef\xbb\xbf"
_VALUE_WORDS = frozenset({"nan", "inf", "infinity", "na", "n/a", "null", "none"})
FLOAT32_MAX = float(np.finfo(np.float32).max)


class InputError(ValueError):
    """A bad input: the message names the source, the line and the column."""


def is_name(field: str) -> bool:
    """A header field: after removing spaces and tabs around it, non-empty, starting with an
    ASCII letter, '_' or a non-ASCII character, and none of (in any case) nan, inf, infinity, na,
    n/a, null, none, which stand for values."""
    t = field.strip(" \t")
    if not t or not (t[0].isascii() and (t[0].isalpha() or t[0] == "_") or not t[0].isascii()):
        return False
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in t) not in _VALUE_WORDS


def split_line(line: str, where: str) -> list[str]:
    """The fields of one line (without its "\\n"); `where` starts a quoting error's message."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            column = f"{where}, column {len(fields) + 1}: "
            chars = []
            i += 1
            while True:
                if i == n:
                    raise InputError(column + "a quoted field has no closing quote on its line")
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        chars.append('"')
                        i += 2
                        continue
                    break
                chars.append(line[i])
                i += 1
            i += 1  # past the closing quote
            if i < n and line[i] != ",":
                raise InputError(column + "text after the closing quote of a quoted field")
            fields.append("".join(chars))
        else:
            comma = line.find(",", i)
            comma = n if comma < 0 else comma
            fields.append(line[i:comma])
            i = comma
        if i == n:
            return fields
        i += 1  # past the comma: another field follows, perhaps an empty last one


def parse_value(text: str, float32: bool, where: str = "") -> float:
    """parse_number(text), which must also be finite in the model's dtype."""
    try:
        value = parse_number(text)
    except ValueError as err:
        raise InputError(f"{where}{err}") from None
    with np.errstate(over="ignore"):  # overflow is the error reported here, not a warning
        fits = not float32 or math.isfinite(float(np.float32(value)))
    if not fits:
        raise InputError(
            f"{where}{quote_text(text)} is outside the range of float32, the model's dtype "
            "(largest magnitude 3.4028235e38)"
        )
    return value


def samples_from_values(values: list[str], in_features: int, float32: bool) -> np.ndarray:
    """One sample per value, float64[len(values), 1]; only for one-feature models."""
    if in_features != 1:
        raise InputError(
            f"the model takes {in_features} features; values on the command line are "
            "one-feature samples, pass rows with --csv"
        )
    return np.array([parse_value(v, float32) for v in values], dtype=np.float64).reshape(-1, 1)


def content_lines(data: bytes) -> Iterator[tuple[int, str]]:
    """(line number from 1, text without its line end) of each line of `data` that holds content.

    The first three rules above: a leading BOM skipped, "\n" or "\r\n" line ends, blank and
    comment lines skipped. Undecodable bytes are kept as surrogates (quote_text shows them).
    """
    start = len(_BOM) if data.startswith(_BOM) else 0
    for lineno, line, _ in content_line_spans(data, start):
        yield lineno, line


def content_line_spans(
    data: bytes, start: int = 0, first_line: int = 1
) -> Iterator[tuple[int, str, int]]:
    """(line number, text without its line end, offset just past its line end) of each content
    line of data[start:], whose first line is line `first_line` of its file.

    content_lines' rules without the BOM (a block from the middle of a file has none), with
    the offsets that let a reader cut a file into chunks at line ends.
    """
    lineno = first_line - 1
    while start < len(data):  # line by line, lazily: a reader may stop after the header
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        lineno += 1
        line = data[start:end].decode("utf-8", "surrogateescape")
        start = end + 1
        if line.endswith("\r"):
            line = line[:-1]
        content = line.strip(" \t")
        if content and content[0] != "#":
            yield lineno, line, min(start, len(data))


def samples_from_csv(data: bytes, name: str, in_features: int, float32: bool) -> np.ndarray:
    """Rows of `in_features` numbers under the rules above, float64[rows, in_features].

    `name` is used in messages ("data.csv", "stdin").
    """
    rows: list[list[float]] = []
    first = True
    for lineno, line in content_lines(data):
        where = f"{name} line {lineno}"
        fields = split_line(line, where)
        if len(fields) != in_features:
            raise InputError(
                f"{where} has {len(fields)} fields; the model takes {in_features} features"
            )
        header = first and all(is_name(f) for f in fields)
        first = False
        if header:
            continue
        rows.append(
            [
                parse_value(f, float32, f"{where}, column {c}: ")
                for c, f in enumerate(fields, start=1)
            ]
        )
    if not rows:
        raise InputError(f"{name} has no data rows")
    return np.array(rows, dtype=np.float64).reshape(-1, in_features)
