"""Training data as a sequence of chunks: what the trainer reads, whatever the files are.

A Source is the rows of one dataset (or of one rank's part of it), cut into chunks that are read
one at a time, so that no more than one chunk need be in memory. The training loop only sees
Chunks (X [n, D] and y [n] tensors in the training dtype); which files, formats and byte or row
ranges lie behind them is this module's business.

    source = open_source("shards/*.parquet", target="price", dtype="float32", chunk_rows=1 << 20)
    for k in range(source.chunk_count):
        chunk = source.read_chunk(k)          # checked values, or DataError saying where and why

TensorSource holds data already in memory (a datasets.Dataset) cut into chunks of the same rows:
what `fit(Dataset)` trains on, and the stand-in for files in tests of the training loop.
"""

from __future__ import annotations

import math
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from .datasets import DataError, Dataset

__all__ = [
    "Chunk",
    "ColumnStats",
    "DataError",
    "Source",
    "TensorSource",
    "column_stats",
    "default_memory_budget",
    "open_source",
    "parse_memory_budget",
    "rows_per_chunk",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
# Bytes per value of a chunk while it is read: the file's text or Arrow buffers, the float64 parse,
# the values in the training dtype, and X and y cut from them. A chunk read takes at most
# 1/CHUNK_SHARE of the memory budget.
READ_BYTES_PER_VALUE = 32
CHUNK_SHARE = 8


@dataclass
class Chunk:
    X: Tensor  # [n, D], the source's dtype, on the CPU (maybe a strided view: rows of a .npy map)
    y: Tensor  # [n]
    first_row: int  # the index, among the source's rows, of this chunk's first row


class Source(ABC):
    """Rows of training data, in chunks read on demand.

    Attributes set by every implementation:
        feature_names: the D feature column names, in the order of X's columns.
        target_name: the target column's name.
        dtype: "float32" or "float64", the dtype of every chunk's X and y.
        description: what the trainer's summary and the checkpoint call the data.
        chunk_rows: the rows of each chunk, in order (every one at least 1).
    """

    feature_names: list[str]
    target_name: str
    dtype: str
    description: str
    chunk_rows: list[int]

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_rows)

    @property
    def rows(self) -> int:
        return sum(self.chunk_rows)

    @property
    def features(self) -> int:
        return len(self.feature_names)

    @property
    def nbytes(self) -> int:
        """The bytes of X and y of all rows in memory, in the training dtype."""
        return self.rows * (self.features + 1) * DTYPES[self.dtype].itemsize

    def fits_in(self, budget: int) -> bool:
        """Whether all rows in memory, plus the reading of the largest chunk, fit in `budget`
        bytes: the trainer then holds the data; otherwise it streams the chunks every epoch."""
        reading = max(self.chunk_rows, default=0) * (self.features + 1) * READ_BYTES_PER_VALUE
        return self.nbytes + reading <= budget

    @abstractmethod
    def read_chunk(self, k: int) -> Chunk:
        """Chunk k, with checked values (finite, in the dtype's range).

        Raises DataError naming the file, the line or row, the column and the value.
        """


class TensorSource(Source):
    """A Dataset in memory, cut into chunks of `chunk_rows` rows (the last may be shorter)."""

    def __init__(self, data: Dataset, chunk_rows: int | None = None, rank=0, world=1) -> None:
        lo, hi = len(data.y) * rank // world, len(data.y) * (rank + 1) // world
        if (lo, hi) != (0, len(data.y)):
            data = Dataset(
                data.X[lo:hi],
                data.y[lo:hi],
                data.feature_names,
                data.target_name,
                f"{data.source} rows {lo}..{hi - 1}",
            )
        N = len(data.y)
        if N < 1:
            raise DataError(f"{data.source}: no rows")
        step = N if chunk_rows is None else chunk_rows
        if step < 1:
            raise DataError(f"chunk_rows must be at least 1, got {step}")
        self.data = data
        self.feature_names = list(data.feature_names)
        self.target_name = data.target_name
        self.dtype = str(data.X.dtype).removeprefix("torch.")
        self.description = data.source
        self.chunk_rows = [min(step, N - start) for start in range(0, N, step)]
        self._starts = list(range(0, N, step))

    def read_chunk(self, k: int) -> Chunk:
        start = self._starts[k]
        stop = start + self.chunk_rows[k]
        X = self.data.X[start:stop].contiguous()
        return Chunk(X, self.data.y[start:stop].contiguous(), start)


@dataclass
class ColumnStats:
    """Row count, mean and sum of squared deviations (float64) of each feature and the target.

    Accumulated chunk by chunk and merged across parts (ranks) with Chan et al.'s pairwise
    formulas, which stay exact where sum-of-squares formulas cancel (large offsets).
    """

    rows: int
    mean: Tensor  # [D + 1]: the features, then the target
    m2: Tensor  # [D + 1]

    # Rows per block of `of`: a float64 block of 17 columns is about 1 MiB, so its temporaries stay
    # in cache and do not grow with the chunk (a whole chunk at once took four float64 copies).
    BLOCK_ROWS = 8192

    @staticmethod
    def of(X: Tensor, y: Tensor) -> ColumnStats:
        """The statistics of X [n, D] and y [n] in float64, a block of rows at a time."""
        stats = ColumnStats.empty(X.shape[1])
        for start in range(0, len(y), ColumnStats.BLOCK_ROWS):
            stop = start + ColumnStats.BLOCK_ROWS
            Z = torch.cat([X[start:stop].double(), y[start:stop].double().unsqueeze(1)], dim=1)
            var, mean = torch.var_mean(Z, dim=0, correction=0)
            stats = stats.merge(ColumnStats(len(Z), mean, var * len(Z)))
        return stats

    @staticmethod
    def empty(D: int) -> ColumnStats:
        zeros = torch.zeros(D + 1, dtype=torch.float64)
        return ColumnStats(0, zeros, zeros)

    def merge(self, other: ColumnStats) -> ColumnStats:
        if other.rows == 0:
            return self
        if self.rows == 0:
            return other
        n = self.rows + other.rows
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.rows / n)
        m2 = self.m2 + other.m2 + delta**2 * (self.rows * other.rows / n)
        return ColumnStats(n, mean, m2)

    @property
    def std(self) -> Tensor:
        """Population standard deviation per column ([D + 1], float64)."""
        return (self.m2 / max(self.rows, 1)).sqrt()

    @property
    def y_variance(self) -> float:
        return self.m2[-1].item() / self.rows if self.rows else math.nan


def column_stats(source: Source, each_chunk=None) -> ColumnStats:
    """One pass over every chunk: the statistics, and every value checked (DataError).

    each_chunk(chunk), if given, sees every chunk as it is read (the trainer keeps them so).
    """
    stats = ColumnStats.empty(source.features)
    for k in range(source.chunk_count):
        chunk = source.read_chunk(k)
        stats = stats.merge(ColumnStats.of(chunk.X, chunk.y))
        if each_chunk is not None:
            each_chunk(chunk)
    return stats


def open_source(
    spec, target=None, dtype="float32", chunk_rows=None, memory_budget=None, rank=0, world=1
) -> Source:
    """The training data that `spec` names, as this process's Source.

    Args:
        spec: a .csv, .parquet or .npy file, a directory of such files (sorted by name, one
            format), or a glob pattern (sorted matches). Shards must have the same columns.
        target: the target column: a name for CSV and Parquet; for .npy an index (an int, or its
            text "3", "-1") or the name c<index>. None: the last column.
        dtype: "float32" or "float64", the chunks' dtype; float32 refuses values beyond its range.
        chunk_rows: rows per chunk (the last of each file may be shorter; chunks never span files).
            None: rows_per_chunk(memory_budget, columns), so that reading one chunk takes at most
            an eighth of the budget.
        memory_budget: bytes (None: default_memory_budget()); only used to size chunks here.
        rank, world: this process and the process count; the Source holds only this rank's part
            (readers/sharded.py: whole files when there are at least `world`, else row ranges).

    CSV files are scanned when opened, and every value checked then (DataError naming the file,
    line and column); Parquet and .npy files read only their headers, and check values in
    read_chunk. The CSV rules are datasets.load_csv's (linreg_ext.readers.csv_files).
    """
    from .readers.sharded import open_files  # the readers build on this module's Source

    return open_files(spec, target, dtype, chunk_rows, memory_budget, rank, world)


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_BUDGET = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(i?b)?|(b)?)\s*", re.IGNORECASE)


def parse_memory_budget(text: str) -> int:
    """Bytes from "1000000", "512M", "512MiB", "1.5G", "2GB", "64k": K, M, G, T (with an optional
    "iB") are powers of 1024; KB, MB, GB, TB powers of 1000; a plain number is bytes."""
    match = _BUDGET.fullmatch(str(text))
    if match is None:
        raise DataError(
            f"a memory budget is a number of bytes with an optional unit (K, M, G, T, KiB, MB, "
            f"...), e.g. 512M or 1.5GiB; got {text!r}"
        )
    number, unit, suffix, _ = match.groups()
    unit = (unit or "").lower()
    scale = 1000 ** " kmgt".index(unit) if suffix and suffix.lower() == "b" else _UNITS[unit]
    value = int(float(number) * scale)
    if value < 1:
        raise DataError(f"a memory budget must be at least 1 byte, got {text!r}")
    return value


def default_memory_budget() -> int:
    """Half the memory available now (MemAvailable of /proc/meminfo; elsewhere half the physical
    memory), the budget when none is given."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError):
        return 4 << 30


def rows_per_chunk(budget: int, columns: int) -> int:
    """Chunk rows for a budget: reading a chunk of `columns` values a row takes about
    READ_BYTES_PER_VALUE bytes a value, and at most 1/CHUNK_SHARE of the budget."""
    return max(1, budget // (CHUNK_SHARE * READ_BYTES_PER_VALUE * columns))
