"""CSV training data: the one reader of linreg_ext's CSV rules (datasets.load_csv is built on it).

The rules are the predictors' (linreg_ext.csv_input: BOM, '#' comments, blank lines, quoting;
numbers of linreg_ext.numbers) with a required header: a first line that does not name the
columns is an error, never a silently dropped row. Names are unique and non-empty.

A file is read in blocks of whole lines (BLOCK_BYTES, more for a longer line), so memory is
bounded by the block, whatever the file's size. A block of nothing but plain-number characters
(digits, signs, '.', 'e', 'E', blanks, commas, line ends: no quote, comment, NaN, hex...) is
parsed by pyarrow.csv, multi-threaded; on those characters pyarrow accepts exactly the texts of
linreg_ext.numbers' grammar and rounds them the same way (correctly; tests/test_sources.py checks
both). Any other block, and any block pyarrow refuses or reads differently (a blank line, a
ragged line, an overflow), is read field by field, which gives the precise message of an error:
`file: line L, column C ('name'): ...`.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .._io import check_input_file
from ..csv_input import InputError, content_line_spans, is_name, split_line
from ..numbers import parse_number, parse_numbers, quote_text
from .common import DataError, Piece, float32_overflow

BLOCK_BYTES = 8 << 20
_BOM = b"\xef\xbb\xbf"
_PLAIN = b"0123456789+-.eE \t\r\n,"  # the characters of files of plain numbers
_PARSE = pacsv.ParseOptions(quote_char=False, double_quote=False, escape_char=False)


def _fields(path: Path, lineno: int, line: str) -> list[str]:
    try:
        return split_line(line, f"{path}: line {lineno}")
    except InputError as err:
        raise DataError(str(err)) from None


def _header(path: Path, lineno: int, fields: list[str]) -> list[str]:
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


class Block:
    """The rows of one block of whole lines: their values, and where each row's line ends."""

    def __init__(self, values: np.ndarray, ends, lines) -> None:
        self.values = values  # [rows, columns], the training dtype
        self._ends = ends  # offset just past each row's line (None: every line is a row)
        self._lines = lines  # each row's line number (an int: the first, every line a row)
        self._text: bytes | None = None  # a plain block's text, for its line ends
        self._newlines: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return len(self.values)

    def row_end(self, i: int) -> tuple[int, int]:
        """(offset just past row i's line, within the block; that line's number)."""
        if isinstance(self._lines, int):
            if self._newlines is None:
                self._newlines = np.flatnonzero(np.frombuffer(self._text, np.uint8) == 10)
            end = int(self._newlines[i]) + 1 if i < len(self._newlines) else len(self._text)
            return end, self._lines + i
        return self._ends[i], self._lines[i]


def _plain_block(block: bytes, names: list[str], first_line: int, dtype: str) -> Block | None:
    """The block read by pyarrow when it is all plain-number text and every line a row; None
    leaves it to the field-by-field reader, which says what is wrong if anything is."""
    if block.translate(None, _PLAIN) or block.count(b"\r") != block.count(b"\r\n"):
        return (
            None  # a character outside plain numbers; or a lone "\r", which pyarrow ends lines at
        )
    lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block),
            read_options=pacsv.ReadOptions(column_names=names),
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
    result = Block(values, None, first_line)
    result._text = block
    return result


def _field_block(path: Path, names: list[str], block: bytes, first_line: int, dtype: str) -> Block:
    """The block read field by field under the rules above; DataError at the first bad line."""
    D = len(names)
    ends, lines, cells, parts = array("q"), array("q"), [], []
    for lineno, line, end in content_line_spans(block, 0, first_line):
        fields = _fields(path, lineno, line) if '"' in line else line.split(",")
        if len(fields) != D:
            raise DataError(f"{path}: line {lineno} has {len(fields)} fields, the header has {D}")
        ends.append(end)
        lines.append(lineno)
        cells.extend(fields)
        if len(cells) >= 1 << 20:  # convert as we go: the texts of a block are never all split
            parts.append(_cells_to_values(path, names, lines[-(len(cells) // D) :], cells, dtype))
            cells = []
    parts.append(_cells_to_values(path, names, lines[len(lines) - len(cells) // D :], cells, dtype))
    return Block(np.concatenate(parts), ends, lines)


class CsvFile:
    """One CSV file of training data: its header, and its rows read by byte ranges of whole lines.

    Opening reads only the header. Offsets given to plan() count from the first byte after the
    header line; weight is the size of that body, which splits files among processes.
    """

    kind = "CSV"

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            self.path = check_input_file(path, "CSV file")
            self.size = self.path.stat().st_size
        except OSError as err:
            raise DataError(str(err)) from None
        self.names, self.header_line, self.body_start = self._read_header()

    @property
    def weight(self) -> int:
        return self.size - self.body_start

    def _read_header(self) -> tuple[list[str], int, int]:
        with self._open() as f:
            for offset, line, block in _blocks(f, 0, self.size, 1, 1 << 16):
                start = len(_BOM) if offset == 0 and block.startswith(_BOM) else 0
                for lineno, text, end in content_line_spans(block, start, line):
                    return (
                        _header(self.path, lineno, _fields(self.path, lineno, text)),
                        lineno,
                        offset + end,
                    )
        raise DataError(f"{self.path}: empty file (expected a header row, then numeric rows)")

    def _open(self):
        try:
            return open(self.path, "rb")
        except OSError as err:
            raise DataError(f"{self.path}: cannot read: {err.strerror}") from None

    def _parse(self, block: bytes, first_line: int, dtype: str) -> Block:
        fast = _plain_block(block, self.names, first_line, dtype)
        return (
            fast
            if fast is not None
            else _field_block(self.path, self.names, block, first_line, dtype)
        )

    def _line_start(self, f, offset: int) -> int:
        """The first line start at or after `offset` (within the body), or the file's size."""
        if offset <= self.body_start:
            return self.body_start
        position = offset - 1  # a line starts at offset if the byte before it ends a line
        f.seek(position)
        while data := f.read(1 << 16):
            newline = data.find(b"\n")
            if newline >= 0:
                return min(position + newline + 1, self.size)
            position += len(data)
        return self.size

    def _line_number(self, f, offset: int) -> int:
        """The number of the line that starts at `offset`: its line ends before it, plus one."""
        f.seek(0)
        count, left = 0, offset
        while left > 0:
            data = f.read(min(left, BLOCK_BYTES))
            count += data.count(b"\n")
            left -= len(data)
        return count + 1

    def plan(self, lo: int, hi: int, chunk_rows: int, dtype: str) -> list[Piece]:
        """Chunks of chunk_rows rows (the last fewer) of the lines starting in body bytes lo..hi-1.

        Scans the range once, a block at a time, checking every value (DataError names the first
        bad one); each chunk's byte range, line numbers and rows are recorded for read().
        """
        pieces: list[Piece] = []
        with self._open() as f:
            start = self._line_start(f, self.body_start + lo)
            stop = self._line_start(f, self.body_start + hi)
            if start >= stop:
                return pieces
            line = self.header_line + 1 if start == self.body_start else self._line_number(f, start)
            chunk_start, chunk_line, held, last_line = start, line, 0, None
            for offset, first_line, text in _blocks(f, start, stop, line):
                block = self._parse(text, first_line, dtype)
                done = 0
                while block.rows - done >= chunk_rows - held:
                    done += chunk_rows - held
                    end, last_line = block.row_end(done - 1)
                    pieces.append(
                        Piece(self, chunk_start, offset + end, chunk_rows, chunk_line, last_line)
                    )
                    chunk_start, chunk_line, held = offset + end, last_line + 1, 0
                if block.rows > done:
                    held += block.rows - done
                    last_line = block.row_end(block.rows - 1)[1]
            if held:
                pieces.append(Piece(self, chunk_start, stop, held, chunk_line, last_line))
        return pieces

    def read(self, piece: Piece, dtype: str) -> np.ndarray:
        """The values [piece.rows, columns] of a chunk that plan() made, parsed again."""
        values = np.empty(
            (piece.rows, len(self.names)), dtype=np.float32 if dtype == "float32" else np.float64
        )
        filled = 0
        with self._open() as f:
            for _, first_line, text in _blocks(f, piece.start, piece.stop, piece.first_line):
                block = self._parse(text, first_line, dtype).values
                if filled + len(block) > piece.rows:
                    break
                values[filled : filled + len(block)] = block
                filled += len(block)
        if filled != piece.rows:
            raise DataError(f"{self.path}: the file changed while it was being read; read it again")
        return values

    def release(self) -> None:
        """Nothing held between reads."""

    def read_all(self, dtype: str) -> np.ndarray:
        """Every data row [rows, columns], in one pass (datasets.load_csv)."""
        parts = [
            np.empty((0, len(self.names)), dtype=np.float32 if dtype == "float32" else np.float64)
        ]
        with self._open() as f:
            for _, first_line, text in _blocks(f, self.body_start, self.size, self.header_line + 1):
                parts.append(self._parse(text, first_line, dtype).values)
        return np.concatenate(parts)


def _blocks(f, start: int, stop: int, first_line: int, block_bytes: int | None = None):
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
