"""The CSV rules of training data, block by block: the header, the fields, the numbers, and the
cutting of a file into blocks of whole lines. csv_files.CsvFile reads files with them.

The rules are the predictors' (linreg_ext.csv_input: BOM, '#' comments, blank lines, quoting;
numbers of linreg_ext.numbers) with a required header: a first line that does not name the
columns is an error, never a silently dropped row. Names are unique and non-empty.

A block of nothing but plain-number characters (digits, signs, '.', 'e', 'E', blanks, commas,
line ends: no quote, comment, NaN, hex...) is parsed by pyarrow.csv (on one thread: see _READ);
on those characters pyarrow accepts exactly the texts of linreg_ext.numbers' grammar and rounds
them the same way (correctly; tests/test_sources.py checks both). Any other block, and any block
pyarrow refuses or reads differently (a blank line, a ragged line, an overflow), is read field by
field, which gives the precise message of an error: `file: line L, column C ('name'): ...`.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..csv_input import InputError, content_line_spans, is_name, split_line
from ..numbers import parse_number, parse_numbers, quote_text
from .common import DataError, float32_overflow

BLOCK_BYTES = 4 << 20  # memory of a read is bounded by a few blocks, whatever the file's size
# pyarrow's threads are off: with them about 1 run in 7 of a script that streams a CSV and then
# exits aborted at exit ("terminate called without an active exception", a known pyarrow
# teardown problem), and they bought nothing measurable on 4 MiB blocks (0.20 s either way for a
# 40 MB file on 2 cores).
_READ = {"block_size": BLOCK_BYTES, "use_threads": False}
_PLAIN = b"0123456789+-.eE \t\r\n,"  # the characters of files of plain numbers
_PARSE = pacsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False)


def split_fields(path: Path, lineno: int, line: str) -> list[str]:
    try:
        return split_line(line, f"{path}: line {lineno}")
    except InputError as err:
        raise DataError(str(err)) from None


def parse_header(path: Path, lineno: int, fields: list[str]) -> list[str]:
    """The column names of the header line, or DataError saying why the line is not one."""
    names = [f.strip(" \t") for f in fields]
    not_names = [(c, f) for c, f in enumerate(fields, start=1) if f.strip(" \t") and not is_name(f)]
    if not_names:
        column, text = not_names[0]
        raise DataError(
            f"{path}: line {lineno} is not a header: column {column} holds {quote_text(text)}, "
            "not a column name; the first line must name the columns (e.g. x,y), each name "
            "starting with a letter, '_' or a non-ASCII character"
        )
    if "" in names:
        raise DataError(
            f"{path}: line {lineno}, column {names.index('') + 1} of the header has no name"
        )
    seen: dict[str, int] = {}
    for column, name in enumerate(names, start=1):
        if name in seen:
            raise DataError(
                f"{path}: the header names column {seen[name]} and column {column} both "
                f"{name!r}; column names must be unique"
            )
        seen[name] = column
    return names


def _cells_to_values(
    path: Path, names: list[str], lines: array, cells: list[str], dtype: str
) -> np.ndarray:
    """cells (row-major, len(names) per row, from the given line numbers) as [rows, columns]."""
    D = len(names)
    try:
        values = parse_numbers(cells)
    except ValueError:
        for i, cell in enumerate(cells):
            try:
                parse_number(cell)
            except ValueError as err:
                line, column = lines[i // D], i % D
                raise DataError(
                    f"{path}: line {line}, column {column + 1} ({names[column]!r}): {err}"
                ) from None
        raise
    values = values.reshape(-1, D)
    if dtype == "float32":
        with np.errstate(over="ignore"):  # overflow is the error reported here, not a warning
            narrow = values.astype(np.float32)
        bad = np.argwhere(~np.isfinite(narrow))
        if len(bad):
            row, column = bad[0]
            where = f"{path}: line {lines[row]}, column {column + 1} ({names[column]!r})"
            raise float32_overflow(where, cells[row * D + column])
        values = narrow
    return values


class PlainBlock:
    """A block read by pyarrow: every line a row."""

    def __init__(self, values: np.ndarray, text: bytes, first_line: int) -> None:
        self.values = values  # [rows, columns], the training dtype
        self._text, self._first_line = text, first_line
        self._newlines: np.ndarray | None = None

    def row_end(self, i: int) -> tuple[int, int]:
        """(offset just past row i's line, within the block; that line's number)."""
        if self._newlines is None:
            self._newlines = np.flatnonzero(np.frombuffer(self._text, np.uint8) == 10)
        end = int(self._newlines[i]) + 1 if i < len(self._newlines) else len(self._text)
        return end, self._first_line + i


class FieldBlock:
    """A block read field by field: rows among comment and blank lines."""

    def __init__(self, values: np.ndarray, ends: array, lines: array) -> None:
        self.values = values  # [rows, columns], the training dtype
        self._ends, self._lines = ends, lines  # per row: offset past its line, its line number

    def row_end(self, i: int) -> tuple[int, int]:
        return self._ends[i], self._lines[i]


def _plain_block(block: bytes, names: list[str], first_line: int, dtype: str) -> PlainBlock | None:
    """The block read by pyarrow when it is all plain-number text and every line a row; None
    leaves it to the field-by-field reader, which says what is wrong if anything is."""
    if block.translate(None, _PLAIN):
        return None  # a character outside plain numbers
    returns = block.count(b"\r")
    if returns and returns != block.count(b"\r\n"):
        return None  # a lone "\r", which pyarrow would end a line at
    lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=names, **_READ),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.float64() for name in names},
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != lines:
        return None
    values = np.empty((lines, len(names)), dtype=np.float32 if dtype == "float32" else np.float64)
    with np.errstate(over="ignore"):
        for j, column in enumerate(table.columns):
            values[:, j] = column.to_numpy()
    if not np.isfinite(values).all():
        return None  # 1e400, or a float32 overflow: the field-by-field reader's message
    return PlainBlock(values, block, first_line)


def _field_block(
    path: Path, names: list[str], block: bytes, first_line: int, dtype: str
) -> FieldBlock:
    """The block read field by field under the rules above; DataError at the first bad line."""
    D = len(names)
    ends, lines, cells, parts = array("q"), array("q"), [], []
    for lineno, line, end in content_line_spans(block, 0, first_line):
        fields = split_fields(path, lineno, line) if '"' in line else line.split(",")
        if len(fields) != D:
            raise DataError(f"{path}: line {lineno} has {len(fields)} fields, the header has {D}")
        ends.append(end)
        lines.append(lineno)
        cells.extend(fields)
        if len(cells) >= 1 << 20:  # convert as we go: the texts of a block are never all split
            parts.append(_cells_to_values(path, names, lines[-(len(cells) // D) :], cells, dtype))
            cells = []
    parts.append(_cells_to_values(path, names, lines[len(lines) - len(cells) // D :], cells, dtype))
    return FieldBlock(np.concatenate(parts), ends, lines)


def parse_block(path: Path, names: list[str], block: bytes, first_line: int, dtype: str):
    """The rows of a block of whole lines (PlainBlock or FieldBlock), every value checked."""
    fast = _plain_block(block, names, first_line, dtype)
    return fast if fast is not None else _field_block(path, names, block, first_line, dtype)


def blocks(f, start: int, stop: int, first_line: int, block_bytes: int | None = None):
    """(offset, number of the first line, bytes) of the bytes start..stop-1 of file f, cut after
    line ends into blocks of about block_bytes (a longer line makes a longer block)."""
    block_bytes = block_bytes or BLOCK_BYTES  # read at call time: tests make blocks small
    f.seek(start)
    offset, line, carry = start, first_line, b""
    while offset < stop:
        want = min(block_bytes, stop - offset - len(carry))
        more = f.read(want) if want > 0 else b""
        data = carry + more
        if not data:
            return  # the file is shorter than it was: the reader finds rows missing
        last = offset + len(data) >= stop or not more
        cut = len(data) if last else data.rfind(b"\n") + 1
        if cut == 0:  # a line longer than a block: read on
            carry = data
            continue
        block, carry = data[:cut], data[cut:]
        yield offset, line, block
        offset += len(block)
        line += block.count(b"\n")
        if last:
            return
