"""Parquet training data, through pyarrow.parquet: every column numeric (integer, floating point or
decimal), read a row range at a time.

Opening reads the footer only (schema, row groups). A chunk is read by streaming record batches
of its columns from the row group that holds its first row, so a chunk costs about its own size
in memory whatever the row groups' sizes; chunks read in order continue the same stream instead
of decoding the row group again from its start. Nulls, NaN and infinities are found when a chunk
is read: the message names the file, the row (from 1 within the file) and the column.
"""

from __future__ import annotations

import bisect
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .._io import check_input_file
from .common import DataError, Piece, checked_values, row_pieces

_BATCH_ROWS = 1 << 16


def _numeric(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)


class ParquetData:
    """One Parquet file: its column names and row groups; rows read by range."""

    kind = "Parquet"

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            self.path = check_input_file(path, "Parquet file")
            metadata = pq.read_metadata(self.path)
        except OSError as err:
            raise DataError(str(err)) from None
        except (pa.ArrowInvalid, pa.ArrowException) as err:
            raise DataError(f"{self.path}: not a Parquet file that can be read: {err}") from None
        schema = metadata.schema.to_arrow_schema()
        self.names = list(schema.names)
        for field in schema:
            if not _numeric(field.type):
                raise DataError(
                    f"{self.path}: column {field.name!r} has Arrow type {field.type}; training "
                    "data must be numeric (integer, floating point or decimal)"
                )
        self.rows = metadata.num_rows
        sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
        self._group_starts = np.cumsum([0, *sizes])[:-1].tolist()
        self._cursor = None  # (next row, batch iterator, unread part of the last batch)

    @property
    def weight(self) -> int:
        return self.rows

    def plan(self, lo: int, hi: int, chunk_rows: int, dtype: str) -> list[Piece]:
        return row_pieces(self, lo, hi, chunk_rows)

    def _batches(self, start: int):
        """(batch iterator from row `start`, the rows of its first batch to skip)."""
        if self._cursor is not None and self._cursor[0] == start:
            _, batches, pending = self._cursor
            return batches, pending
        self.release()
        group = bisect.bisect_right(self._group_starts, start) - 1
        try:
            reader = pq.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
        except (OSError, pa.ArrowException) as err:
            raise DataError(f"{self.path}: cannot read: {err}") from None
        batches = reader.iter_batches(
            batch_size=_BATCH_ROWS,
            row_groups=range(group, len(self._group_starts)),
            columns=self.names,
            use_threads=True,
        )
        return batches, (start - self._group_starts[group], None)

    def read(self, piece: Piece, dtype: str) -> np.ndarray:
        """Rows piece.start..piece.stop-1, in the training dtype, checked (DataError)."""
        batches, (skip, batch) = self._batches(piece.start)
        values = np.empty((piece.rows, len(self.names)), dtype=np.float64)
        filled = 0
        while filled < piece.rows:
            if batch is None or skip >= batch.num_rows:
                if batch is not None:  # all of it before the chunk, or already read
                    skip -= batch.num_rows
                batch = next(batches, None)
                if batch is None:
                    raise DataError(f"{self.path}: the file changed while it was being read")
                continue
            take = min(batch.num_rows - skip, piece.rows - filled)
            part = batch.slice(skip, take)
            for j, column in enumerate(part.columns):
                values[filled : filled + take, j] = self._column(column, piece.start + filled, j)
            filled += take
            skip += take
        self._cursor = (piece.stop, batches, (skip, batch))
        if piece.stop == self.rows:
            self.release()  # closed when done, not left to the interpreter's exit
        return checked_values(values, dtype, self.path, self.names, piece.start)

    def _column(self, column: pa.Array, first_row: int, j: int) -> np.ndarray:
        if column.null_count:
            row = first_row + int(
                np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]
            )
            raise DataError(
                f"{self.path}: row {row + 1}, column {j + 1} ({self.names[j]!r}) is empty (null); "
                "every cell must hold a number"
            )
        return column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)

    def release(self) -> None:
        """Closes the batch stream of the last chunk read."""
        if self._cursor is not None:
            self._cursor[1].close()
            self._cursor = None
