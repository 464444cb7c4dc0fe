"""CSV training data: the one reader of linreg_ext's CSV rules (csv_text), which
datasets.load_csv and sources.open_source both use.

A file is read in blocks of whole lines (csv_text.BLOCK_BYTES, more for a longer line), so memory
is bounded by the block, whatever the file's size. Opening reads the header; plan() scans a byte
range once, checking every value and recording where each chunk of rows begins and ends (bytes,
line numbers); read() parses a chunk's bytes again.
"""

from __future__ import annotations

import os

import numpy as np

from .._io import check_input_file
from ..csv_input import content_line_spans
from . import csv_text
from .common import DataError, Piece

_BOM = b"\xef\xbb\xbf"


class CsvFile:
    """One CSV file of training data: its header, and its rows read by byte ranges of whole lines.

    Opening reads only the header. Offsets given to plan() count from the first byte after the
    header line; weight is the size of that body, which splits files among processes.
    """

    kind = "CSV"

    def __init__(self, path: str | os.PathLike) -> None:
        try:
            self.path = check_input_file(path, "CSV file")
            self.size = self.path.stat().st_size
        except OSError as err:
            raise DataError(str(err)) from None
        self.names, self.header_line, self.body_start = self._read_header()

    @property
    def weight(self) -> int:
        return self.size - self.body_start

    def _read_header(self) -> tuple[list[str], int, int]:
        with self._open() as f:
            for offset, line, block in csv_text.blocks(f, 0, self.size, 1, 1 << 16):
                start = len(_BOM) if offset == 0 and block.startswith(_BOM) else 0
                for lineno, text, end in content_line_spans(block, start, line):
                    return (
                        csv_text.parse_header(
                            self.path, lineno, csv_text.split_fields(self.path, lineno, text)
                        ),
                        lineno,
                        offset + end,
                    )
        raise DataError(f"{self.path}: empty file (expected a header row, then numeric rows)")

    def _open(self):
        try:
            return open(self.path, "rb")
        except OSError as err:
            raise DataError(f"{self.path}: cannot read: {err.strerror}") from None

    def _parse(self, block: bytes, first_line: int, dtype: str):
        return csv_text.parse_block(self.path, self.names, block, first_line, dtype)

    def _line_start(self, f, offset: int) -> int:
        """The first line start at or after `offset` (within the body), or the file's size."""
        if offset <= self.body_start:
            return self.body_start
        position = offset - 1  # a line starts at offset if the byte before it ends a line
        f.seek(position)
        while data := f.read(1 << 16):
            newline = data.find(b"\n")
            if newline >= 0:
                return min(position + newline + 1, self.size)
            position += len(data)
        return self.size

    def _line_number(self, f, offset: int) -> int:
        """The number of the line that starts at `offset`: its line ends before it, plus one."""
        f.seek(0)
        count, left = 0, offset
        while left > 0:
            data = f.read(min(left, csv_text.BLOCK_BYTES))
            count += data.count(b"\n")
            left -= len(data)
        return count + 1

    def plan(self, lo: int, hi: int, chunk_rows: int, dtype: str) -> list[Piece]:
        """Chunks of chunk_rows rows (the last fewer) of the lines starting in body bytes lo..hi-1.

        Scans the range once, a block at a time, checking every value (DataError names the first
        bad one); each chunk's byte range, line numbers and rows are recorded for read().
        """
        pieces: list[Piece] = []
        with self._open() as f:
            start = self._line_start(f, self.body_start + lo)
            stop = self._line_start(f, self.body_start + hi)
            if start >= stop:
                return pieces
            line = self.header_line + 1 if start == self.body_start else self._line_number(f, start)
            chunk_start, chunk_line, held, last_line = start, line, 0, None
            for offset, first_line, text in csv_text.blocks(f, start, stop, line):
                block = self._parse(text, first_line, dtype)
                rows, done = len(block.values), 0
                while rows - done >= chunk_rows - held:
                    done += chunk_rows - held
                    end, last_line = block.row_end(done - 1)
                    pieces.append(
                        Piece(self, chunk_start, offset + end, chunk_rows, chunk_line, last_line)
                    )
                    chunk_start, chunk_line, held = offset + end, last_line + 1, 0
                if rows > done:
                    held += rows - done
                    last_line = block.row_end(rows - 1)[1]
            if held:
                pieces.append(Piece(self, chunk_start, stop, held, chunk_line, last_line))
        return pieces

    def read(self, piece: Piece, dtype: str) -> np.ndarray:
        """The values [piece.rows, columns] of a chunk that plan() made, parsed again."""
        values = np.empty(
            (piece.rows, len(self.names)), dtype=np.float32 if dtype == "float32" else np.float64
        )
        filled = 0
        with self._open() as f:
            for _, first_line, text in csv_text.blocks(
                f, piece.start, piece.stop, piece.first_line
            ):
                block = self._parse(text, first_line, dtype).values
                if filled + len(block) > piece.rows:
                    break
                values[filled : filled + len(block)] = block
                filled += len(block)
        if filled != piece.rows:
            raise DataError(f"{self.path}: the file changed while it was being read; read it again")
        return values

    def release(self) -> None:
        """Nothing held between reads."""

    def read_all(self, dtype: str) -> np.ndarray:
        """Every data row [rows, columns], in one pass (datasets.load_csv)."""
        parts = [
            np.empty((0, len(self.names)), dtype=np.float32 if dtype == "float32" else np.float64)
        ]
        with self._open() as f:
            for _, first_line, text in csv_text.blocks(
                f, self.body_start, self.size, self.header_line + 1
            ):
                parts.append(self._parse(text, first_line, dtype).values)
        return np.concatenate(parts)
