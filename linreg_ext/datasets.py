"""Training data for linreg_ext.train: a Dataset (X, y, their names) and the readers that make one.

Readers check what they read and raise DataError naming the file, the line and the column, so a
CLI can print the message as it is. Today: CSV files (load_csv) and the bundled tutorial data
(bundled_dataset). (Not `data.py`: `linreg_ext/data/` is the folder that holds tutorial.csv.)

CSV follows the predictors' rules (linreg_ext.csv_input, linreg_ext.numbers) with a required
header. Files of plain numbers are read by numpy's C reader, everything else (quotes, comments,
errors) field by field; tests/test_train_cli.py checks that both give the same values and that
errors get the precise message. A later reader (pyarrow) must keep those tests passing.
"""

import io
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._io import check_input_file
from .csv_input import InputError, content_lines, is_name, split_line
from .numbers import parse_number, parse_numbers, quote_text

__all__ = ["DataError", "Dataset", "bundled_dataset", "load_csv"]


class DataError(ValueError):
    """The training data cannot be used; the message says where and why."""


@dataclass
class Dataset:
    X: Tensor  # [N, D]
    y: Tensor  # [N]
    feature_names: list[str]
    target_name: str
    source: str  # where the data came from, as the training summary names it


_PLAIN = b"0123456789+-.eE \t\r\n,"  # the characters of files of plain numbers
_CHUNK_ROWS = 65536  # rows converted at a time: the text of a large file is never all split


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
    path: Path, header: list[str], lines: list[int], cells: list[str], dtype: str
) -> np.ndarray:
    """cells (row-major, len(header) per row, from the given line numbers) as [rows, columns]."""
    D = len(header)
    try:
        values = parse_numbers(cells)
    except ValueError:
        for i, cell in enumerate(cells):
            try:
                parse_number(cell)
            except ValueError as err:
                line, column = lines[i // D], i % D
                raise DataError(
                    f"{path}: line {line}, column {column + 1} ({header[column]!r}): {err}"
                ) from None
        raise
    values = values.reshape(-1, D)
    if dtype == "float32":
        with np.errstate(over="ignore"):  # overflow is the error reported here, not a warning
            narrow = values.astype(np.float32)
        bad = np.argwhere(~np.isfinite(narrow))
        if len(bad):
            row, column = bad[0]
            raise DataError(
                f"{path}: line {lines[row]}, column {column + 1} ({header[column]!r}): "
                f"{quote_text(cells[row * D + column])} is outside the range of float32, the "
                "training dtype (largest magnitude 3.4028235e38); train in float64"
            )
        values = narrow
    return values


def _values(path: Path, header: list[str], rows, dtype: str) -> np.ndarray:
    """The numbers of the data lines `rows` ((line number, text) pairs), checked field by field."""
    D = len(header)
    chunks, lines, cells = [], [], []
    for lineno, line in rows:
        fields = _fields(path, lineno, line) if '"' in line else line.split(",")
        if len(fields) != D:
            raise DataError(f"{path}: line {lineno} has {len(fields)} fields, the header has {D}")
        lines.append(lineno)
        cells.extend(fields)
        if len(lines) == _CHUNK_ROWS:
            chunks.append(_cells_to_values(path, header, lines, cells, dtype))
            lines, cells = [], []
    chunks.append(_cells_to_values(path, header, lines, cells, dtype))
    return np.concatenate(chunks)


def _plain_values(data: bytes, header_line: int, D: int, dtype: str) -> np.ndarray | None:
    """The common case fast: data lines after `header_line` that are D plain numbers each.

    Only when they hold nothing but digits, signs, '.', 'e', 'E', blanks, commas and line ends
    (no quote, comment, NaN, hex...) is numpy's C reader used: on those characters it accepts
    exactly the texts linreg_ext.numbers accepts and rounds them the same way; a row count or a
    value it gets otherwise (a blank line, an overflow, a ragged line) leaves the data to the
    field-by-field reader, which says what is wrong. Returns None for that reader's turn.
    """
    body_start = 0
    for _ in range(header_line):
        body_start = data.find(b"\n", body_start) + 1
        if body_start == 0:
            return None
    # The characters outside the plain set, of the whole file and of the lines up to the header.
    if len(data.translate(None, _PLAIN)) != len(data[:body_start].translate(None, _PLAIN)):
        return None
    if data.count(b"\r", body_start) != data.count(b"\r\n", body_start):
        return None  # a "\r" that does not end a line belongs to a field: not a number
    lines = data.count(b"\n", body_start) + (0 if data.endswith(b"\n") else 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an empty body: the field-by-field reader says so
            values = np.loadtxt(
                io.BytesIO(data),
                delimiter=",",
                skiprows=header_line,
                dtype=np.float64,
                ndmin=2,
                comments=None,
            )
    except ValueError:
        return None
    if values.shape != (lines, D) or lines == 0 or not np.isfinite(values).all():
        return None
    if dtype == "float32":
        with np.errstate(over="ignore"):
            values = values.astype(np.float32)
        if not np.isfinite(values).all():
            return None
    return values


def load_csv(path: str | Path, target: str | None = None, dtype: str = "float32") -> Dataset:
    """Reads a CSV with a header row: feature columns, and a target (default: the last column).

    The rules are the predictors' (linreg_ext.csv_input: BOM, comments, quoting; numbers of
    linreg_ext.numbers), except that the header is required: a first line that does not name the
    columns is an error, never a silently dropped row. Names are unique and non-empty.
    """
    try:
        path = check_input_file(path, "CSV file")
        data = path.read_bytes()
    except OSError as err:
        raise DataError(str(err)) from None
    rows = content_lines(data)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: empty file (expected a header row, then numeric rows)")
    header = _header(path, first[0], _fields(path, *first))
    D = len(header)
    if D < 2:
        raise DataError(f"{path}: need at least two columns (features and a target), got {header}")
    target = header[-1] if target is None else target
    if target not in header:
        raise DataError(f"{path}: target column {target!r} not found; columns: {', '.join(header)}")

    values = _plain_values(data, first[0], D, dtype)
    if values is None:
        values = _values(path, header, rows, dtype)
    if values.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if values.shape[0] < 2:
        raise DataError(f"{path}: only 1 data row; a line needs at least 2 points to fit")
    t = header.index(target)
    features = [name for i, name in enumerate(header) if i != t]
    X = torch.from_numpy(np.ascontiguousarray(np.delete(values, t, axis=1)))
    y = torch.from_numpy(np.ascontiguousarray(values[:, t]))
    return Dataset(X, y, features, target, str(path))


def bundled_dataset(dtype: str = "float32", target: str | None = None) -> Dataset:
    """The tutorial's noisy line: 50 points, one feature `x`, target `y` (the only target)."""
    if target not in (None, "y"):
        raise DataError(f"the bundled data has target 'y', not {target!r}")
    with resources.as_file(resources.files("linreg_ext") / "data" / "tutorial.csv") as path:
        data = load_csv(path, dtype=dtype)
    data.source = "bundled tutorial.csv"
    return data
