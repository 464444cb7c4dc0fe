"""Training data in files: which files a spec names, their schema checked across shards, this
process's part of them, and the FileSource that reads that part chunk by chunk.

A spec is a file (.csv, .parquet, .npy), a directory (its files of those extensions, sorted by
name, all of one format), or a glob pattern (sorted matches, all of one format).

Parts (rank of world processes): with at least `world` files, each process gets a contiguous run
of whole files, balanced by rows (Parquet, .npy: from their headers) or bytes (CSV, whose rows are
only known once read); with fewer, the files' rows (or CSV bytes, cut at line starts) are split
into `world` contiguous ranges. Either way every row belongs to exactly one part, and a process
reads (and, for CSV, scans) only its own.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import torch

from ..sources import DTYPES, Chunk, Source, default_memory_budget, rows_per_chunk
from .common import DataError, Piece, indexed_target, named_target
from .csv_files import CsvFile
from .npy_files import NpyFile
from .parquet_files import ParquetData

READERS = {".csv": CsvFile, ".parquet": ParquetData, ".npy": NpyFile}
ACCEPTED = "a .csv, .parquet or .npy file, a directory of them, or a glob pattern"


def _format(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return suffix if suffix in READERS else None


def data_files(spec: str | os.PathLike) -> tuple[list[Path], str]:
    """The files a spec names, sorted, and their format (".csv", ".parquet" or ".npy")."""
    path = Path(spec)
    text = str(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if _format(p) and p.is_file())
        if not files:
            raise DataError(f"{path}: the directory holds no .csv, .parquet or .npy files")
    elif any(c in text for c in "*?[") and not path.exists():
        files = sorted(Path(p) for p in glob.glob(text))
        if not files:
            raise DataError(f"{text}: no file matches the pattern")
    else:
        files = [path]
    for file in files:
        if _format(file) is None:
            what = f"its extension is {file.suffix!r}" if file.suffix else "it has no extension"
            raise DataError(
                f"{file}: not a data file that can be read ({what}); expected {ACCEPTED}"
            )
    kind = _format(files[0])
    for file in files[1:]:
        if _format(file) != kind:
            raise DataError(
                f"{text}: the data files must all have one format, but {files[0].name} is "
                f"{kind} and {file.name} is {_format(file)}"
            )
    return files, kind


def check_schemas(shards: list) -> None:
    """Every shard has the first one's columns (names and order; for .npy count and dtype kind)."""
    first = shards[0]
    for shard in shards[1:]:
        if shard.names != first.names:
            differ = next(
                (
                    i
                    for i, (a, b) in enumerate(zip(first.names, shard.names, strict=False))
                    if a != b
                ),
                None,
            )
            if differ is None:
                what = (
                    f"{len(first.names)} columns in {first.path} but {len(shard.names)} "
                    f"in {shard.path}"
                )
            else:
                what = (
                    f"column {differ + 1} is {first.names[differ]!r} in {first.path} but "
                    f"{shard.names[differ]!r} in {shard.path}"
                )
            raise DataError(f"the data files do not have the same columns: {what}")
        if isinstance(shard, NpyFile) and shard.dtype.kind != first.dtype.kind:
            raise DataError(
                f"the data files do not have the same kind of values: {first.path} holds "
                f"{first.dtype} and {shard.path} holds {shard.dtype}"
            )


def whole_files(weights: list[int], rank: int, world: int) -> tuple[int, int]:
    """Files lo..hi-1 for this rank (len(weights) >= world): contiguous runs of at least one file,
    each boundary where the running weight comes closest to an equal share."""
    total = sum(weights)
    running = np.cumsum([0, *weights])
    bounds = [0]
    for r in range(1, world):
        candidates = range(bounds[-1] + 1, len(weights) - (world - r) + 1)
        share = total * r / world
        bounds.append(min(candidates, key=lambda i: abs(running[i] - share)))
    bounds.append(len(weights))
    return bounds[rank], bounds[rank + 1]


def ranges(weights: list[int], rank: int, world: int) -> list[tuple[int, int, int]]:
    """(file, lo, hi): this rank's share W*rank//world .. W*(rank+1)//world of all the files'
    units (rows, or CSV body bytes) laid end to end."""
    total = sum(weights)
    lo, hi = total * rank // world, total * (rank + 1) // world
    out, start = [], 0
    for i, weight in enumerate(weights):
        a, b = max(lo, start), min(hi, start + weight)
        if a < b:
            out.append((i, a - start, b - start))
        start += weight
    return out


class FileSource(Source):
    """The chunks of (this process's part of) a set of data files of one format."""

    def __init__(self, shards, pieces: list[Piece], target: int, dtype: str, description: str):
        first = shards[0]
        self.feature_names = [n for i, n in enumerate(first.names) if i != target]
        self.target_name = first.names[target]
        self.dtype = dtype
        self.description = description
        self.chunk_rows = [p.rows for p in pieces]
        self.files = [s.path for s in shards]
        self._pieces = pieces
        self._target = target
        self._starts = np.cumsum([0, *self.chunk_rows])[:-1].tolist()
        self._last = None
        self._viewed = None  # the last piece handed out as views into a map (.npy)

    def read_chunk(self, k: int) -> Chunk:
        piece = self._pieces[k]
        if self._viewed is not None:  # streaming: the previous chunk's mapped pages go
            self._viewed.shard.drop(self._viewed)
            self._viewed = None
        if self._last is not None and self._last is not piece.shard:
            self._last.release()
        self._last = piece.shard
        shard, t = piece.shard, self._target
        if getattr(shard, "mappable", None) and shard.mappable(self.dtype, t):
            values = shard.view(piece, self.dtype)  # no copy: X a strided view, rows of D + 1
            self._viewed = piece
            X = values[:, 1:] if t == 0 else values[:, :-1]
            return Chunk(torch.from_numpy(X), torch.from_numpy(values[:, t]), self._starts[k])
        values = shard.read(piece, self.dtype)
        X = torch.from_numpy(np.delete(values, t, axis=1))
        y = torch.from_numpy(np.ascontiguousarray(values[:, t]))
        return Chunk(X, y, self._starts[k])


def open_files(spec, target, dtype, chunk_rows, memory_budget, rank, world) -> FileSource:
    """sources.open_source's work; see its docstring."""
    if dtype not in DTYPES:
        raise DataError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if not (isinstance(world, int) and world >= 1 and 0 <= rank < world):
        raise DataError(
            f"rank must be in 0..world-1 and world at least 1, got rank {rank}, world {world}"
        )
    if chunk_rows is not None and chunk_rows < 1:
        raise DataError(f"chunk_rows must be at least 1, got {chunk_rows}")
    files, kind = data_files(spec)
    shards = [READERS[kind](f) for f in files]
    check_schemas(shards)
    where = str(files[0])
    if kind == ".npy":
        t = indexed_target(shards[0].columns, target, where)
    else:
        t = named_target(shards[0].names, target, where)
    if chunk_rows is None:
        budget = default_memory_budget() if memory_budget is None else memory_budget
        chunk_rows = rows_per_chunk(budget, len(shards[0].names))
    base = str(files[0]) if len(files) == 1 else f"{spec} ({len(files)} {kind} files)"
    weights = [s.weight for s in shards]
    parts = _parts(weights, rank, world, kind, base)
    pieces = [p for i, lo, hi in parts for p in shards[i].plan(lo, hi, chunk_rows, dtype)]
    rows = sum(p.rows for p in pieces)
    if world > 1:
        if rows == 0:
            raise DataError(
                f"{base}: part {rank + 1} of {world} holds no data rows; every process needs at "
                "least one: use fewer processes"
            )
        description = (
            f"{base}, part {rank + 1} of {world}: {rows} rows, {pieces[0].begin()} to "
            f"{pieces[-1].end()}"
        )
    else:
        if rows == 0:
            after = " after the header" if kind == ".csv" else ""
            raise DataError(f"{base}: no data rows{after}")
        if rows == 1:
            raise DataError(f"{base}: only 1 data row; a line needs at least 2 points to fit")
        description = base
    return FileSource(shards, pieces, t, dtype, description)


def _parts(weights: list[int], rank: int, world: int, kind: str, base: str):
    """This rank's (file, lo, hi) ranges; see the module's docstring."""
    if world == 1:
        return [(i, 0, w) for i, w in enumerate(weights)]
    if len(weights) >= world:
        lo, hi = whole_files(weights, rank, world)
        every_part_has_rows = kind == ".csv" or all(
            sum(weights[slice(*whole_files(weights, r, world))]) > 0 for r in range(world)
        )
        if every_part_has_rows:
            return [(i, 0, weights[i]) for i in range(lo, hi)]
    if kind != ".csv" and sum(weights) < world:
        raise DataError(
            f"{base}: {sum(weights)} rows cannot be split among {world} processes; every process "
            "needs at least one row"
        )
    return ranges(weights, rank, world)
