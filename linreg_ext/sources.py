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
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from .datasets import DataError, Dataset, load_csv

__all__ = [
    "Chunk",
    "ColumnStats",
    "DataError",
    "Source",
    "TensorSource",
    "column_stats",
    "open_source",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class Chunk:
    X: Tensor  # [n, D], the source's dtype, contiguous, on the CPU
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

    @staticmethod
    def of(X: Tensor, y: Tensor) -> ColumnStats:
        Z = torch.cat([X.double(), y.double().unsqueeze(1)], dim=1)
        mean = Z.mean(dim=0)
        return ColumnStats(len(Z), mean, ((Z - mean) ** 2).sum(dim=0))

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


def column_stats(source: Source) -> ColumnStats:
    """One pass over every chunk: the statistics, and every value checked (DataError)."""
    D = source.features
    stats = ColumnStats(
        0, torch.zeros(D + 1, dtype=torch.float64), torch.zeros(D + 1, dtype=torch.float64)
    )
    for k in range(source.chunk_count):
        chunk = source.read_chunk(k)
        stats = stats.merge(ColumnStats.of(chunk.X, chunk.y))
    return stats


def open_source(
    spec, target=None, dtype="float32", chunk_rows=None, memory_budget=None, rank=0, world=1
) -> Source:
    """PLACEHOLDER until the file readers land: one CSV, read whole (datasets.load_csv), this
    rank's equal share of its rows."""
    return TensorSource(load_csv(spec, target, dtype), chunk_rows, rank, world)


# --- stand-ins until the readers land ------------------------------------------------------------
# The readers' branch defines parse_memory_budget, default_memory_budget and Source.fits_in for
# real; the lead drops this block at merge in favour of those. Only what the trainer calls.

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_memory_budget(text: str) -> int:
    """'512M', '2G', '1.5G' or a number of bytes -> bytes (ValueError naming the text)."""
    s = str(text).strip().upper().removesuffix("B")
    unit = s[-1:] if s[-1:] in _UNITS else ""
    try:
        value = float(s[: len(s) - len(unit)])
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"memory budget {text!r} is not a size such as 512M or 2G")
    return int(value * _UNITS[unit])


def default_memory_budget() -> int:
    """A quarter of the machine's physical memory."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


if not hasattr(Source, "fits_in"):

    def _fits_in(self: Source, budget_bytes: int) -> bool:
        return self.nbytes <= budget_bytes

    Source.fits_in = _fits_in
