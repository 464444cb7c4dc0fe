"""Training data for linreg_ext.train: a Dataset (X, y, their names) and the readers that make one.

Readers check what they read and raise DataError naming the file, the line and the column, so a
CLI can print the message as it is. Today: CSV files (load_csv) and the bundled tutorial data
(bundled_dataset). (Not `data.py`: `linreg_ext/data/` is the folder that holds tutorial.csv.)
"""

import csv
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

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


def _first_bad_cell(path: Path, ncols: int) -> str:
    """Rescans a CSV that numpy rejected, to name the first bad line and column exactly."""
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        for line, row in enumerate(rows, start=2):
            if len(row) != ncols:
                return f"line {line} has {len(row)} fields, the header has {ncols}"
            for col, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    return (
                        f"line {line}, column {col + 1} ({header[col]!r}): {cell!r} is not a number"
                    )
    return "unreadable content"


def load_csv(path: str | Path, target: str | None = None, dtype: str = "float32") -> Dataset:
    """Reads a CSV with a header row: feature columns, and a target (default: the last column)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path}: empty file (expected a header row, then numeric rows)")
    header = [name.strip() for name in header]
    if len(header) < 2:
        raise DataError(f"{path}: need at least two columns (features and a target), got {header}")
    target = header[-1] if target is None else target
    if target not in header:
        raise DataError(f"{path}: target column {target!r} not found; columns: {', '.join(header)}")
    try:
        with warnings.catch_warnings():  # an empty body is reported below, as an error
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=dtype, ndmin=2)
    except ValueError:
        raise DataError(f"{path}: {_first_bad_cell(path, len(header))}") from None
    if values.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if values.shape[1] != len(header):
        raise DataError(f"{path}: rows have {values.shape[1]} fields, the header has {len(header)}")
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        raise DataError(
            f"{path}: line {row + 2}, column {col + 1} ({header[col]!r}) is "
            f"{values[row, col]}; remove or fill missing values before training"
        )
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
