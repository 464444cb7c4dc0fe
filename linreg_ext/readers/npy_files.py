""".npy training data: a 2-D numeric array, one row per sample, the target one of its columns.

Columns are named c0, c1, ... by their index in the file. A chunk's rows are read from the file
with plain file I/O into an array of the chunk's size (numpy.lib.format gives the header: shape,
dtype, order, where the data starts), rather than through a memory map, whose touched pages would
count in the process's resident memory until released: a streamed epoch over a file larger than
memory keeps a resident size of about one chunk (tests/test_sources.py measures it).
C-ordered files are read a row range at a time; Fortran-ordered ones a column range at a time.
"""

from __future__ import annotations

import os

import numpy as np
from numpy.lib import format as npy_format

from .._io import check_input_file
from .common import DataError, Piece, checked_values, row_pieces

_HEADER_READERS = {
    (1, 0): npy_format.read_array_header_1_0,
    (2, 0): npy_format.read_array_header_2_0,
}


class NpyFile:
    """One .npy file: its shape, dtype and order from its header; rows read by range."""

    kind = ".npy"

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            self.path = check_input_file(path, ".npy file")
            with open(self.path, "rb") as f:
                shape, self.fortran, self.dtype = self._header(f)
                self.data_start = f.tell()
            size = self.path.stat().st_size
        except OSError as err:
            raise DataError(str(err)) from None
        if len(shape) != 2:
            raise DataError(
                f"{self.path}: a .npy file of training data must be 2-D [rows, columns], with the "
                f"target one of the columns; got shape {shape}"
            )
        if self.dtype.kind not in "iuf":
            raise DataError(
                f"{self.path}: its dtype is {self.dtype}; training data must be integers or "
                "floating point"
            )
        self.rows, self.columns = shape
        if size < self.data_start + self.rows * self.columns * self.dtype.itemsize:
            raise DataError(
                f"{self.path}: the file is shorter than its header says ({self.rows} x "
                f"{self.columns} values of {self.dtype}); it is truncated"
            )
        self.names = [f"c{i}" for i in range(self.columns)]

    def _header(self, f):
        try:
            version = npy_format.read_magic(f)
            reader = _HEADER_READERS.get(version)
            if reader is None:
                raise ValueError(f"format version {version[0]}.{version[1]} is not supported")
            return reader(f)
        except ValueError as err:
            raise DataError(f"{self.path}: not a .npy file that can be read: {err}") from None

    @property
    def weight(self) -> int:
        return self.rows

    def plan(self, lo: int, hi: int, chunk_rows: int, dtype: str) -> list[Piece]:
        return row_pieces(self, lo, hi, chunk_rows)

    def read(self, piece: Piece, dtype: str) -> np.ndarray:
        """Rows piece.start..piece.stop-1, in the training dtype, checked (DataError)."""
        n, item = piece.rows, self.dtype.itemsize
        with open(self.path, "rb", buffering=0) as f:
            if self.fortran:  # column j holds rows 0..rows-1 contiguously
                values = np.empty((self.columns, n), dtype=self.dtype)
                for j in range(self.columns):
                    start = self.data_start + (j * self.rows + piece.start) * item
                    self._read_into(f, start, values[j])
                values = values.T
            else:
                values = np.empty((n, self.columns), dtype=self.dtype)
                self._read_into(f, self.data_start + piece.start * self.columns * item, values)
        return checked_values(values, dtype, self.path, self.names, piece.start)

    def _read_into(self, f, offset: int, out: np.ndarray) -> None:
        f.seek(offset)
        view = memoryview(out.reshape(-1).view(np.uint8))  # any byte order: raw bytes
        done = 0
        while done < len(view):
            got = f.readinto(view[done:])
            if not got:
                raise DataError(f"{self.path}: the file changed while it was being read")
            done += got

    def release(self) -> None:
        """Nothing held between reads."""
