""".npy training data: a 2-D numeric array, one row per sample, the target one of its columns.

Columns are named c0, c1, ... by their index in the file; numpy.lib.format gives the header
(shape, dtype, order, where the data starts). Two ways to a chunk:
  - mapped (view): a C-ordered file of the training dtype in native byte order whose target is its
    first or last column: the chunk's X and y are views into a private memory map of the file, so
    an epoch copies nothing and the kernel reads the page cache directly (X is then a strided
    view: rows of D + 1 values). Each piece's values are checked the first time it is viewed. The
    pages a process touches count in its resident size until released, so FileSource releases a
    chunk's pages (madvise MADV_DONTNEED: they stay in the page cache) when it reads the next one,
    and prefaults that one in one call (MADV_POPULATE_READ, Linux 5.14+, else MADV_WILLNEED);
  - read: any other file: the chunk's rows are read with plain file I/O into an array of the
    chunk's size, C-ordered files a row range at a time, Fortran-ordered ones a column range at a
    time, and converted to the training dtype.
Either way a streamed epoch over a file larger than memory keeps a resident size of about one
chunk (tests/test_sources.py measures it).
"""

from __future__ import annotations

import mmap
import os

import numpy as np
from numpy.lib import format as npy_format

from .._io import check_input_file
from .common import NUMPY_DTYPES, DataError, Piece, checked_values, row_pieces

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
        self._map: np.memmap | None = None
        self._checked: set[tuple[int, int]] = set()  # mapped pieces whose values were checked

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

    def mappable(self, dtype: str, target: int) -> bool:
        """Whether chunks can be views into the file (see the module docstring)."""
        native = np.dtype(NUMPY_DTYPES[dtype]).newbyteorder("=")
        return (
            not self.fortran
            and self.dtype == native
            and self.columns >= 2
            and target in (0, self.columns - 1)
            and self.rows > 0
        )

    def view(self, piece: Piece, dtype: str) -> np.ndarray:
        """Rows piece.start..piece.stop-1 as a view into the file's private map (checked once)."""
        if self._map is None:
            # mode "c": copy-on-write, so the arrays are writable (torch.from_numpy wants that);
            # nothing ever writes them, so no page is copied.
            self._map = np.memmap(
                self.path, self.dtype, "c", self.data_start, (self.rows, self.columns)
            )
        values = self._map[piece.start : piece.stop]
        self._advise(piece, getattr(mmap, "MADV_POPULATE_READ", 22), mmap.MADV_WILLNEED)
        if (piece.start, piece.stop) not in self._checked:
            if not np.isfinite(values).all():
                checked_values(values, dtype, self.path, self.names, piece.start)  # raises
            self._checked.add((piece.start, piece.stop))
        return values

    def drop(self, piece: Piece) -> None:
        """Releases this process's mapped pages of a viewed piece (they stay in the page cache;
        a view still in use faults them in again)."""
        if self._map is not None:
            self._advise(piece, mmap.MADV_DONTNEED)

    def _advise(self, piece: Piece, advice: int, fallback: int | None = None) -> None:
        """madvise on the pages of the piece's rows (the map starts at an aligned offset)."""
        mapped = self._map._mmap  # numpy maps from the allocation-granular offset below
        base = self.data_start - self.data_start % mmap.ALLOCATIONGRANULARITY
        row = self.columns * self.dtype.itemsize
        first = self.data_start - base + piece.start * row
        last = self.data_start - base + piece.stop * row
        first -= first % mmap.PAGESIZE
        try:
            mapped.madvise(advice, first, min(last, len(mapped)) - first)
        except OSError:  # an older kernel without the advice (EINVAL): the fallback, or nothing
            if fallback is not None:
                self._advise(piece, fallback)

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
        """Lets go of the map (unmapped once no view of it is left); reads hold nothing."""
        self._map = None
