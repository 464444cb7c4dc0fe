"""What the file readers share: DataError, the value checks and their messages, target columns,
and Piece, one chunk's place in a file.

Every reader reports a bad value the same way, naming the file, the line (CSV) or row (Parquet,
.npy; from 1 within the file), the column (from 1, and its name) and the value:

    data.npy: row 7, column 3 ('c2'): 'nan' is not a finite number: NaN and infinity are not ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..numbers import quote_text

FLOAT32_LIMIT = "largest magnitude 3.4028235e38"
NUMPY_DTYPES = {"float32": np.float32, "float64": np.float64}


class DataError(ValueError):
    """The training data cannot be used; the message says where and why."""


@dataclass
class Piece:
    """One chunk's place: rows start..stop-1 of a Parquet or .npy file, or the bytes start..stop-1
    of a CSV file (whole lines, `first_line` the number of the first, `last_line` of the last
    data row's line). `rows` is the chunk's row count."""

    shard: object  # the file reader (CsvFile, ParquetData, NpyFile) that reads it
    start: int
    stop: int
    rows: int
    first_line: int | None = None
    last_line: int | None = None

    def begin(self) -> str:
        """Where the chunk begins, for descriptions: 'a.csv line 2' or 'a.npy row 1'."""
        name = self.shard.path.name
        return (
            f"{name} line {self.first_line}" if self.first_line else f"{name} row {self.start + 1}"
        )

    def end(self) -> str:
        name = self.shard.path.name
        return f"{name} line {self.last_line}" if self.last_line else f"{name} row {self.stop}"


def float32_overflow(where: str, text: str) -> DataError:
    """The message of a value too large for float32 training, the same for every format."""
    return DataError(
        f"{where}: {quote_text(text)} is outside the range of float32, the training dtype "
        f"({FLOAT32_LIMIT}); train in float64"
    )


def checked_values(
    values: np.ndarray, dtype: str, path: Path, names: list[str], first_row: int
) -> np.ndarray:
    """`values` (rows first_row.. of a Parquet or .npy file, numeric) in the training dtype.

    Raises DataError at the first (in row order) NaN or infinity, or value outside float32's range
    when dtype is "float32", naming the row from 1, the column and the value.
    """
    target = NUMPY_DTYPES[dtype]
    with np.errstate(over="ignore"):  # an overflow is the error reported below, not a warning
        out = values.astype(target, copy=False)
        out = np.ascontiguousarray(out)
    if np.isfinite(out).all():
        return out
    row, column = np.argwhere(~np.isfinite(out))[0]
    where = f"{path}: row {first_row + row + 1}, column {column + 1} ({names[column]!r})"
    original = values[row, column]
    if np.isfinite(original):
        raise float32_overflow(
            where, repr(float(original)) if original.dtype.kind == "f" else str(original)
        )
    raise DataError(
        f"{where}: {quote_text(str(float(original)))} is not a finite number: NaN and infinity "
        "are not accepted"
    )


def row_pieces(shard, lo: int, hi: int, chunk_rows: int) -> list[Piece]:
    """Rows lo..hi-1 of a Parquet or .npy file in chunks of chunk_rows (the last may be shorter)."""
    return [
        Piece(shard, s, min(s + chunk_rows, hi), min(chunk_rows, hi - s))
        for s in range(lo, hi, chunk_rows)
    ]


def named_target(names: list[str], target: str | None, where: str) -> int:
    """The index of the target column named `target` (None: the last column) among `names`."""
    if len(names) < 2:
        raise DataError(f"{where}: need at least two columns (features and a target), got {names}")
    if target is None:
        return len(names) - 1
    if target not in names:
        raise DataError(f"{where}: target column {target!r} not found; columns: {', '.join(names)}")
    return names.index(target)


def indexed_target(columns: int, target, where: str) -> int:
    """The index of the target column of a .npy file: an int or its text ("3", "-1"), negative
    counting from the end, or a column's name c0, c1, ...; None: the last column."""
    if columns < 2:
        raise DataError(
            f"{where}: need at least two columns (features and a target), got {columns}"
        )
    if target is None:
        return columns - 1
    text = str(target).strip()
    match = re.fullmatch(r"c(\d+)|([+-]?\d+)", text)
    if match is None:
        raise DataError(
            f"{where}: target {text!r} is not a column of a .npy file: give its index (0 to "
            f"{columns - 1}, or negative from the end) or its name (c0 to c{columns - 1})"
        )
    index = int(match.group(1) or match.group(2))
    if not -columns <= index < columns or (match.group(1) and index >= columns):
        raise DataError(
            f"{where}: target column {text} is out of range: the file has {columns} columns "
            f"(0 to {columns - 1}, or {-columns} to -1)"
        )
    return index % columns
