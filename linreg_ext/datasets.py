"""Training data for linreg_ext.train: a Dataset (X, y, their names) and the readers that make one.

Readers check what they read and raise DataError naming the file, the line and the column, so a
CLI can print the message as it is. Here: a CSV file read whole (load_csv) and the bundled
tutorial data (bundled_dataset); linreg_ext.sources reads CSV, Parquet and .npy files, directories
and globs of them, in chunks. (Not `data.py`: `linreg_ext/data/` is the folder that holds
tutorial.csv.)

CSV follows the predictors' rules (linreg_ext.csv_input, linreg_ext.numbers) with a required
header; the one reader of those rules is linreg_ext.readers.csv_files (pyarrow for blocks of plain
numbers, field by field for the rest and for the precise message of an error).
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .readers.common import DataError, named_target
from .readers.csv_files import CsvFile

__all__ = ["DataError", "Dataset", "bundled_dataset", "load_csv"]


@dataclass
class Dataset:
    X: Tensor  # [N, D]
    y: Tensor  # [N]
    feature_names: list[str]
    target_name: str
    source: str  # where the data came from, as the training summary names it


def load_csv(path: str | Path, target: str | None = None, dtype: str = "float32") -> Dataset:
    """Reads a CSV with a header row: feature columns, and a target (default: the last column).

    The rules are the predictors' (linreg_ext.csv_input: BOM, comments, quoting; numbers of
    linreg_ext.numbers), except that the header is required: a first line that does not name the
    columns is an error, never a silently dropped row. Names are unique and non-empty.
    """
    csv = CsvFile(path)
    header, path = csv.names, csv.path
    t = named_target(header, target, str(path))
    values = csv.read_all(dtype)
    if values.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if values.shape[0] < 2:
        raise DataError(f"{path}: only 1 data row; a line needs at least 2 points to fit")
    features = [name for i, name in enumerate(header) if i != t]
    X = torch.from_numpy(np.ascontiguousarray(np.delete(values, t, axis=1)))
    y = torch.from_numpy(np.ascontiguousarray(values[:, t]))
    return Dataset(X, y, features, header[t], str(path))


def bundled_dataset(dtype: str = "float32", target: str | None = None) -> Dataset:
    """The tutorial's noisy line: 50 points, one feature `x`, target `y` (the only target)."""
    if target not in (None, "y"):
        raise DataError(f"the bundled data has target 'y', not {target!r}")
    with resources.as_file(resources.files("linreg_ext") / "data" / "tutorial.csv") as path:
        data = load_csv(path, dtype=dtype)
    data.source = "bundled tutorial.csv"
    return data
