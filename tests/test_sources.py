"""linreg_ext.sources.open_source: CSV, Parquet and .npy files, directories and globs, read in
chunks; rank parts; every error message; the CSV fast path against the number grammar; bounded
memory of a streamed .npy.

Expected values come from numpy / float() on the data the test wrote, never from the reader.
"""

import json
import random
import struct
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import torch
from conftest import run_python

from linreg_ext import datasets, sources
from linreg_ext.numbers import parse_number
from linreg_ext.readers import csv_text
from linreg_ext.sources import DataError, column_stats, open_source, parse_memory_budget

FORMATS = [".csv", ".parquet", ".npy"]


def table(rows=200, columns=4, seed=0):
    """float64 values with many digits and a wide range of magnitudes."""
    g = np.random.default_rng(seed)
    return g.standard_normal((rows, columns)) * 10.0 ** g.integers(-5, 6, (rows, columns))


def names_of(columns):
    return [f"x{i}" for i in range(columns - 1)] + ["y"]


def write(path, values, names=None):
    """values [rows, columns] as `path`'s format, exactly (CSV with repr's shortest round trip)."""
    names = names or names_of(values.shape[1])
    if path.suffix == ".npy":
        np.save(path, values)
    elif path.suffix == ".parquet":
        pq.write_table(pa.table(dict(zip(names, values.T, strict=True))), path, row_group_size=37)
    else:
        body = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in values)
        path.write_text(",".join(names) + "\n" + body)
    return path


def read_all(source):
    """Every chunk of a source as one float64 array [rows, columns], the target last."""
    parts, firsts = [], []
    for k in range(source.chunk_count):
        chunk = source.read_chunk(k)
        assert chunk.X.dtype == sources.DTYPES[source.dtype] and chunk.X.stride(1) == 1
        assert len(chunk.X) == len(chunk.y) == source.chunk_rows[k]
        parts.append(torch.cat([chunk.X, chunk.y[:, None]], 1).double().numpy())
        firsts.append(chunk.first_row)
    assert firsts == np.cumsum([0, *source.chunk_rows])[:-1].tolist()
    return np.concatenate(parts)


def message(function, *args, **kwargs):
    """The message of the DataError that function(*args, **kwargs) raises."""
    with pytest.raises(DataError) as err:
        function(*args, **kwargs)
    return str(err.value)


# --- formats, chunks, shards -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", FORMATS)
def test_chunks_concatenate_to_the_whole_data(tmp_path, suffix):
    values = table()
    path = write(tmp_path / f"d{suffix}", values)
    for chunk_rows in [1, 7, 13, 97, 200, 1000]:
        source = open_source(path, dtype="float64", chunk_rows=chunk_rows)
        assert source.rows == 200 and source.features == 3
        assert source.chunk_rows == [min(chunk_rows, 200 - s) for s in range(0, 200, chunk_rows)]
        assert np.array_equal(read_all(source), values)
    assert source.description == str(path)
    expected = ["c0", "c1", "c2"] if suffix == ".npy" else ["x0", "x1", "x2"]
    assert source.feature_names == expected
    assert source.target_name == ("c3" if suffix == ".npy" else "y")


@pytest.mark.parametrize("suffix", FORMATS)
def test_float32_chunks_are_the_values_rounded_once(tmp_path, suffix):
    values = table()
    path = write(tmp_path / f"d{suffix}", values)
    got = read_all(open_source(path, dtype="float32", chunk_rows=50))
    assert np.array_equal(got, values.astype(np.float32).astype(np.float64))


def test_named_target_is_taken_out_of_the_features(tmp_path):
    values = table()
    for suffix in (".csv", ".parquet"):
        source = open_source(write(tmp_path / f"d{suffix}", values), "x1", "float64", 64)
        assert source.feature_names == ["x0", "x2", "y"] and source.target_name == "x1"
        assert np.array_equal(read_all(source), values[:, [0, 2, 3, 1]])


@pytest.mark.parametrize("target", [1, "1", -3, "-3", "c1", " 1"])
def test_npy_target_by_index_or_name(tmp_path, target):
    values = table()
    source = open_source(write(tmp_path / "d.npy", values), target, "float64", 64)
    assert source.feature_names == ["c0", "c2", "c3"] and source.target_name == "c1"
    assert np.array_equal(read_all(source), values[:, [0, 2, 3, 1]])


def test_npy_in_fortran_order_and_other_dtypes(tmp_path):
    values = table()
    np.save(tmp_path / "f.npy", np.asfortranarray(values))
    assert np.array_equal(read_all(open_source(tmp_path / "f.npy", None, "float64", 13)), values)
    ints = np.arange(40, dtype=">i4").reshape(10, 4)  # big-endian integers
    np.save(tmp_path / "i.npy", ints)
    assert np.array_equal(read_all(open_source(tmp_path / "i.npy", None, "float64", 3)), ints)


def test_parquet_integer_and_decimal_columns(tmp_path):
    import decimal

    pq.write_table(
        pa.table(
            {
                "a": pa.array([1, 2, 3], pa.int8()),
                "b": pa.array(
                    [decimal.Decimal("1.25"), decimal.Decimal("-2.5"), 0], pa.decimal128(6, 2)
                ),
                "y": pa.array([0.5, 1.5, 2.5], pa.float32()),
            }
        ),
        tmp_path / "t.parquet",
    )
    got = read_all(open_source(tmp_path / "t.parquet", None, "float64", 2))
    assert got.tolist() == [[1, 1.25, 0.5], [2, -2.5, 1.5], [3, 0, 2.5]]


@pytest.mark.parametrize("suffix", FORMATS)
def test_directory_and_glob_of_shards(tmp_path, suffix):
    values = table(rows=230)
    cuts = [0, 50, 51, 140, 230]
    for i in range(4):
        write(tmp_path / f"part{i}{suffix}", values[cuts[i] : cuts[i + 1]])
    (tmp_path / "_SUCCESS").write_text("")  # other files of a directory are not data
    (tmp_path / "notes.txt").write_text("")
    for spec in (tmp_path, str(tmp_path / f"part*{suffix}"), str(tmp_path / f"part[0-3]{suffix}")):
        source = open_source(spec, dtype="float64", chunk_rows=20)
        assert np.array_equal(read_all(source), values)
        assert max(source.chunk_rows) == 20 and len(source.chunk_rows) == 3 + 1 + 5 + 5
        assert f"(4 {suffix} files)" in source.description


def test_shards_are_sorted_by_name(tmp_path):
    write(tmp_path / "b.npy", np.full((2, 2), 2.0))
    write(tmp_path / "a.npy", np.full((3, 2), 1.0))
    assert read_all(open_source(tmp_path, None, "float64"))[:, 0].tolist() == [1, 1, 1, 2, 2]


# --- CSV: one reader, the grammar's values ------------------------------------------------------


def grammar_texts(count, seed):
    g = np.random.default_rng(seed)
    values = g.standard_normal(count) * 10.0 ** g.integers(-320, 300, count)
    forms = ["{:.17g}", " {:+.3e}\t", "{:.6f}", "{:.5E}", "{:.0f}."]
    texts = [forms[i % len(forms)].format(v) for i, v in enumerate(values)]
    texts[:6] = ["1e-310", "-0", ".5", "7.", "+.25", "0001e-2"]
    return texts


def test_csv_fast_and_field_paths_give_float_values(tmp_path, monkeypatch):
    texts = grammar_texts(3000, 1)
    expected = np.array([float(t) for t in texts]).reshape(-1, 3)
    body = "".join(",".join(texts[i : i + 3]) + "\n" for i in range(0, len(texts), 3))
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b,y\n" + body)
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('a,b,"y"\n# comment\n\n' + body.replace("\n", "\r\n"))
    calls = []
    field_block = csv_text._field_block
    monkeypatch.setattr(csv_text, "_field_block", lambda *a: calls.append(1) or field_block(*a))
    for path, fast in [(plain, True), (quoted, False)]:
        calls.clear()
        for chunk_rows in (1000, 7):
            got = read_all(open_source(path, dtype="float64", chunk_rows=chunk_rows))
            assert got.view(np.int64).tolist() == expected.view(np.int64).tolist()  # bitwise
        assert (not calls) == fast
        data = datasets.load_csv(path, dtype="float64")
        assert (
            np.array_equal(data.X.numpy(), expected[:, :2]) and data.y.numpy()[0] == expected[0, 2]
        )


def test_pyarrow_accepts_only_what_the_grammar_accepts():
    # The fast path reads any block of plain characters through pyarrow: every text it accepts
    # must be a number of the grammar with the same value, bit for bit; the rest it must refuse.
    rng = random.Random(5)
    alphabet = "0123456789+-.eE \t"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
        block = csv_text._plain_block(f"{text},1\n".encode(), ["a", "y"], 2, "float64")
        try:
            expected = parse_number(text)
        except ValueError:
            assert block is None, text
            continue
        if block is not None:
            assert struct.pack("d", block.values[0, 0]) == struct.pack("d", expected), text


def test_csv_in_small_blocks_and_long_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_text, "BLOCK_BYTES", 64)  # many blocks; lines longer than one
    values = table(rows=60)
    values[5, 2] = float("1." + "1" * 90)  # a 90-digit field: a line longer than a block
    lines = ["x0,x1,x2,y", "# a comment"]
    for i, row in enumerate(values):
        lines.append(",".join(repr(float(v)) for v in row) + ("\r" if i % 2 else ""))
        lines.extend([""] if i % 9 == 0 else [])
    lines[30] = '"' + lines[30].rstrip("\r").replace(",", '","') + '"'  # one quoted line
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    for chunk_rows in (1, 11, 60):
        assert np.array_equal(
            read_all(open_source(path, dtype="float64", chunk_rows=chunk_rows)), values
        )
    lines[50] = lines[50].replace(",", ",abc", 1)
    path.write_text("\n".join(lines) + "\n")
    assert message(open_source, path, chunk_rows=5).startswith(
        f"{path}: line 51, column 2 ('x1'): 'abc"
    )


BAD_CSV = [
    ("x,y\n1,2\n3,abc\n", "line 3, column 2 ('y'): 'abc' is not a finite number: expected decimal"),
    ("x,y\n1,2\n3,\n", "line 3, column 2 ('y'): '' is not a finite number: the field is empty"),
    ("x,y\n1,2\nnan,4\n", "line 3, column 1 ('x'): 'nan' is not a finite number: NaN and infinity"),
    ("x,y\n1,2\n3,-inf\n", "line 3, column 2 ('y'): '-inf' is not a finite number: NaN and infin"),
    (
        "x,y\n1,2\n1e300,4\n",
        "line 3, column 1 ('x'): '1e300' is outside the range of float32, the "
        "training dtype (largest magnitude 3.4028235e38); train in float64",
    ),
    ("x,y\n1,2\n3,4,5\n", "line 3 has 3 fields, the header has 2"),
    ("x,y\n1,2\n3\r4,5\n", "line 3, column 1 ('x'): '3\\r4' is not a finite number"),
    ("1,2\n3,4\n", "line 1 is not a header: column 1 holds '1', not a column name"),
    ("x,y\n", "no data rows after the header"),
    ("x,y\n1,2\n", "only 1 data row; a line needs at least 2 points to fit"),
    ("", "empty file (expected a header row, then numeric rows)"),
]


@pytest.mark.parametrize("content, expected", BAD_CSV)
def test_bad_csv_is_reported_at_open_with_file_line_column_value(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert message(open_source, path, chunk_rows=1).startswith(f"{path}: {expected}")
    assert message(datasets.load_csv, path).startswith(f"{path}: {expected}")


# --- Parquet and .npy errors, found when the chunk is read -------------------------------------


def first_error(path, **kwargs):
    source = open_source(path, chunk_rows=kwargs.pop("chunk_rows", 4), **kwargs)
    return message(lambda: [source.read_chunk(k) for k in range(source.chunk_count)])


def test_parquet_null_nan_inf_and_overflow_name_file_row_column_value(tmp_path):
    def parquet(column):
        path = tmp_path / "t.parquet"
        pq.write_table(
            pa.table({"a": pa.array(column), "y": np.arange(9.0)}), path, row_group_size=3
        )
        return path

    base = [0.5] * 9
    path = parquet(base[:6] + [None] + base[7:])
    assert first_error(path) == (
        f"{path}: row 7, column 1 ('a') is empty (null); every cell must hold a number"
    )
    path = parquet(base[:4] + [float("nan")] + base[5:])
    assert first_error(path) == (
        f"{path}: row 5, column 1 ('a'): 'nan' is not a finite number: NaN and infinity are not "
        "accepted"
    )
    path = parquet(base[:8] + [-float("inf")])
    assert first_error(path).startswith(f"{path}: row 9, column 1 ('a'): '-inf' is not a finite")
    path = parquet(base[:2] + [1e300] + base[3:])
    assert first_error(path) == (
        f"{path}: row 3, column 1 ('a'): '1e+300' is outside the range of float32, the training "
        "dtype (largest magnitude 3.4028235e38); train in float64"
    )
    assert len(read_all(open_source(path, dtype="float64"))) == 9  # fine in float64


def test_parquet_non_numeric_column(tmp_path):
    for column, arrow in [(["a", "b"], "string"), ([True, False], "bool")]:
        path = tmp_path / "s.parquet"
        pq.write_table(pa.table({"x": [1.0, 2.0], "s": column, "y": [1.0, 2.0]}), path)
        assert message(open_source, path) == (
            f"{path}: column 's' has Arrow type {arrow}; training data must be numeric (integer, "
            "floating point or decimal)"
        )


def test_npy_errors(tmp_path):
    values = table(rows=20)
    values[13, 2] = np.inf
    path = write(tmp_path / "d.npy", values)
    assert first_error(path) == (
        f"{path}: row 14, column 3 ('c2'): 'inf' is not a finite number: NaN and infinity are not "
        "accepted"
    )
    values[13, 2] = -3e39
    write(path, values)
    assert first_error(path).startswith(
        f"{path}: row 14, column 3 ('c2'): '-3e+39' is outside the range of float32"
    )
    np.save(path, np.zeros(5))
    assert message(open_source, path) == (
        f"{path}: a .npy file of training data must be 2-D [rows, columns], with the target one "
        "of the columns; got shape (5,)"
    )
    np.save(path, np.zeros((3, 2), dtype=complex))
    assert "its dtype is complex128; training data must be integers or floating point" in message(
        open_source, path
    )
    np.save(path, np.zeros((3, 2)))
    assert message(open_source, path, target="c2") == (
        f"{path}: target column c2 is out of range: the file has 2 columns (0 to 1, or -2 to -1)"
    )
    assert message(open_source, path, target="price").startswith(
        f"{path}: target 'price' is not a column of a .npy file: give its index (0 to 1"
    )
    path.write_bytes(b"not an array")
    assert message(open_source, path).startswith(f"{path}: not a .npy file that can be read")


def test_csv_and_parquet_target_must_exist(tmp_path):
    for suffix in (".csv", ".parquet"):
        path = write(tmp_path / f"d{suffix}", table(rows=3))
        assert message(open_source, path, target="price") == (
            f"{path}: target column 'price' not found; columns: x0, x1, x2, y"
        )


# --- specs and schemas -------------------------------------------------------------------------


def test_spec_errors(tmp_path):
    (tmp_path / "d.txt").write_text("x,y\n1,2\n")
    assert message(open_source, tmp_path / "d.txt") == (
        f"{tmp_path / 'd.txt'}: not a data file that can be read (its extension is '.txt'); "
        "expected a .csv, .parquet or .npy file, a directory of them, or a glob pattern"
    )
    assert (
        message(open_source, tmp_path / "none.csv") == f"{tmp_path / 'none.csv'}: no such CSV file"
    )
    pattern = str(tmp_path / "*.parquet")
    assert message(open_source, pattern) == f"{pattern}: no file matches the pattern"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert message(open_source, empty) == (
        f"{empty}: the directory holds no .csv, .parquet or .npy files"
    )
    write(empty / "a.csv", table(rows=3))
    write(empty / "b.npy", table(rows=3))
    assert message(open_source, empty) == (
        f"{empty}: the data files must all have one format, but a.csv is .csv and b.npy is .npy"
    )


def test_schema_mismatch_between_shards(tmp_path):
    for suffix in (".csv", ".parquet"):
        folder = tmp_path / suffix[1:]
        folder.mkdir()
        write(folder / f"a{suffix}", table(rows=3))
        write(folder / f"b{suffix}", table(rows=3), ["x0", "z", "x2", "y"])
        assert message(open_source, folder) == (
            f"the data files do not have the same columns: column 2 is 'x1' in "
            f"{folder / f'a{suffix}'} but 'z' in {folder / f'b{suffix}'}"
        )
        write(folder / f"b{suffix}", table(rows=3, columns=3))
        assert message(open_source, folder) == (
            f"the data files do not have the same columns: column 3 is 'x2' in "
            f"{folder / f'a{suffix}'} but 'y' in {folder / f'b{suffix}'}"
        )
    folder = tmp_path / "npy"
    folder.mkdir()
    write(folder / "a.npy", table(rows=3))
    write(folder / "b.npy", table(rows=3, columns=5))
    assert message(open_source, folder) == (
        f"the data files do not have the same columns: 4 columns in {folder / 'a.npy'} but 5 in "
        f"{folder / 'b.npy'}"
    )
    write(folder / "b.npy", np.ones((3, 4), dtype=np.int64))
    assert message(open_source, folder) == (
        f"the data files do not have the same kind of values: {folder / 'a.npy'} holds float64 "
        f"and {folder / 'b.npy'} holds int64"
    )


# --- rank parts --------------------------------------------------------------------------------


def layouts(tmp_path, suffix, values):
    """One file; four shards (more than some worlds, fewer than none); two shards."""
    one = write(tmp_path / f"one{suffix}", values)
    four, two = tmp_path / "four", tmp_path / "two"
    four.mkdir(exist_ok=True)
    two.mkdir(exist_ok=True)
    for i, (a, b) in enumerate([(0, 10), (10, 11), (11, 60), (60, 97)]):
        write(four / f"p{i}{suffix}", values[a:b])
    for i, (a, b) in enumerate([(0, 3), (3, 97)]):
        write(two / f"p{i}{suffix}", values[a:b])
    return [one, four, two]


@pytest.mark.parametrize("suffix", FORMATS)
def test_parts_cover_every_row_once(tmp_path, suffix):
    values = table(rows=97)
    for spec in layouts(tmp_path, suffix, values):
        for world in (1, 2, 3, 4):
            parts = [
                open_source(spec, None, "float64", 6, rank=r, world=world) for r in range(world)
            ]
            assert all(part.rows >= 1 for part in parts)
            assert np.array_equal(np.concatenate([read_all(p) for p in parts]), values), (
                spec,
                world,
            )
            if world > 1:
                assert parts[1].description.startswith(f"{spec}")
                assert f"part 2 of {world}: {parts[1].rows} rows, " in parts[1].description


def test_parts_of_one_csv_split_at_line_starts(tmp_path):
    # Comments, quotes and CRLF lines around the byte cuts: each line read by exactly one rank.
    lines = ["a,y"] + [
        f'"{i}",{i * 2}\r' if i % 3 == 0 else f"# note {i}\n{i},{i * 2}" for i in range(1, 40)
    ]
    path = tmp_path / "c.csv"
    path.write_text("\n".join(lines) + "\n")
    for world in range(1, 9):
        got = [
            read_all(open_source(path, None, "float64", 4, rank=r, world=world))
            for r in range(world)
        ]
        assert np.concatenate(got)[:, 0].tolist() == list(range(1, 40)), world


def test_more_ranks_than_rows(tmp_path):
    path = write(tmp_path / "d.npy", table(rows=3))
    assert message(open_source, path, rank=0, world=4) == (
        f"{path}: 3 rows cannot be split among 4 processes; every process needs at least one row"
    )
    path = write(tmp_path / "d.csv", table(rows=3))
    assert message(open_source, path, rank=3, world=40).startswith(
        f"{path}, part 4 of 40 holds no data rows"
        if False
        else f"{path}: part 4 of 40 holds no data"
    )


# --- statistics, budgets, memory ---------------------------------------------------------------


def test_column_stats_over_chunks_equal_in_memory(tmp_path):
    values = table(rows=500, seed=4) + 1e4  # a large offset: sum-of-squares formulas would cancel
    path = write(tmp_path / "d.parquet", values)
    whole = torch.from_numpy(values)
    parts = [open_source(path, None, "float64", 17, rank=r, world=3) for r in range(3)]
    stats = column_stats(parts[0]).merge(column_stats(parts[1])).merge(column_stats(parts[2]))
    assert stats.rows == 500
    torch.testing.assert_close(stats.mean, whole.mean(0), rtol=1e-12, atol=0)
    torch.testing.assert_close(stats.std, whole.std(0, correction=0), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1000000", 1000000),
        ("512M", 512 << 20),
        ("512MiB", 512 << 20),
        ("2G", 2 << 30),
        ("1.5GiB", 3 << 29),
        ("2GB", 2 * 10**9),
        ("64k", 65536),
        ("100b", 100),
        (" 3 t ", 3 << 40),
    ],
)
def test_parse_memory_budget(text, expected):
    assert parse_memory_budget(text) == expected


@pytest.mark.parametrize("text", ["", "M", "-1G", "1.5.2G", "12 apples", "0"])
def test_bad_memory_budget(text):
    assert message(parse_memory_budget, text).startswith("a memory budget ")


def test_chunks_sized_by_the_budget_and_fits_in(tmp_path):
    path = write(tmp_path / "d.npy", table(rows=1000))
    budget = 8 * 32 * 4 * 100  # 100 rows of 4 columns at 32 bytes a value, times 8
    source = open_source(path, memory_budget=budget)
    assert source.chunk_rows == [100] * 10
    assert source.nbytes == 1000 * 4 * 4
    reading = 100 * 4 * 32
    assert source.fits_in(16000 + reading) and not source.fits_in(16000 + reading - 1)
    assert sources.default_memory_budget() > 0


MEMORY_SCRIPT = """
import sys
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
import numpy, pyarrow.csv, pyarrow.parquet, torch
from linreg_ext.sources import open_source
peaks = [peak_mib()]
source = open_source(sys.argv[1], dtype="float64", chunk_rows=int(sys.argv[2]))
for epoch in range(int(sys.argv[3])):
    for k in range(source.chunk_count):
        source.read_chunk(k)
    peaks.append(peak_mib())
print(source.chunk_count, *peaks)
"""


def streamed_peaks(path, chunk_rows, epochs=3):
    """Streams a file `epochs` times in a subprocess: its chunk count, and the peak resident size
    (MiB) before opening it and after each epoch."""
    out = run_python("-c", textwrap.dedent(MEMORY_SCRIPT), path, chunk_rows, epochs, timeout=120)
    assert out.returncode == 0, out.stderr
    chunks, *peaks = out.stdout.split()
    return int(chunks), [float(p) for p in peaks]


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/status")


@linux_only
def test_streamed_npy_keeps_memory_bounded_by_the_chunk(tmp_path):
    # A 40 MiB file read through 1 MiB chunks: the peak resident size may grow by a few chunks
    # (the file's rows, X and y) and a small allowance, never by the file's size.
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(0).standard_normal((655360, 8)))
    chunks, peaks = streamed_peaks(path, 16384)
    assert chunks == 40
    assert peaks[-1] - peaks[0] < 4 * 1 + 8, peaks  # MiB


@linux_only
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_csv_and_parquet_memory_stays_flat_over_epochs(tmp_path, suffix):
    # CSV blocks (csv_text.BLOCK_BYTES), Parquet pages and the allocator cost a fixed amount on
    # top of the chunk (about 40-60 MiB measured, whatever the file's size): it is paid in the
    # first epoch, and later epochs add nothing (no stream or buffer kept). The allocator's
    # caches may still step up by a few MiB once in a while (up to 10 MiB seen in 12 epochs of
    # this Parquet file, then flat); keeping one row group (4 MiB) or one CSV block per epoch
    # would add 20 MiB over the last five epochs.
    values = np.random.default_rng(0).standard_normal((1048576, 4)).astype(np.float32)
    data = pa.table({f"c{i}": values[:, i] for i in range(4)})
    path = tmp_path / f"d{suffix}"
    if suffix == ".csv":
        pa.csv.write_csv(data, path, pa.csv.WriteOptions(quoting_style="none"))
    else:
        pq.write_table(data, path, row_group_size=1 << 18)  # chunks span row groups
    chunks, peaks = streamed_peaks(path, 8192, epochs=7)
    assert chunks == 128
    assert peaks[7] - peaks[2] < 16, peaks  # MiB
    assert peaks[7] - peaks[0] < 128, peaks  # the fixed allowance


def test_bench_data_checks_and_reports_every_loader(tmp_path):
    bench = Path(__file__).resolve().parents[1] / "bench" / "bench_data.py"
    out = run_python(bench, "--rows", "3000", "--out", tmp_path, "--workdir", tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "data.json").read_text())["results"]
    assert len(results) == 7 and all(r["rows"] == 3000 and r["seconds"] > 0 for r in results)
    assert "| CSV, numpy.loadtxt | 3,000 |" in (tmp_path / "data.md").read_text()
    assert {p.name for p in tmp_path.iterdir()} == {"data.json", "data.md"}  # data removed


@pytest.mark.parametrize(
    "file_dtype, dtype, target, mapped",
    [
        ("float32", "float32", None, True),  # the target last: X and y views into the map
        ("float64", "float64", 0, True),  # the target first
        ("float64", "float64", 1, False),  # a middle target: X is copied without it
        ("float64", "float32", None, False),  # another dtype: converted copies
        (">f8", "float64", None, False),  # big-endian: read and converted
    ],
)
def test_npy_chunks_are_views_of_the_file_when_they_can_be(
    tmp_path, file_dtype, dtype, target, mapped
):
    values = np.random.default_rng(3).standard_normal((1000, 4)).astype(file_dtype)
    path = tmp_path / "m.npy"
    np.save(path, values)
    source = sources.open_source(path, target=target, dtype=dtype, chunk_rows=300)
    chunk = source.read_chunk(1)
    assert (chunk.X.stride(0) == 4) == mapped and (chunk.y.stride(0) == 4) == mapped
    t = 3 if target is None else target
    want = values.astype(dtype)[300:600]
    np.testing.assert_array_equal(chunk.X.numpy(), np.delete(want, t, axis=1))
    np.testing.assert_array_equal(chunk.y.numpy(), want[:, t])
    # Reading the next chunk releases this one's pages, never its values.
    source.read_chunk(2)
    np.testing.assert_array_equal(chunk.X.numpy(), np.delete(want, t, axis=1))


def test_a_mapped_npy_chunk_is_checked_when_first_read(tmp_path):
    values = np.ones((100, 3), dtype=np.float32)
    values[57, 1] = np.inf
    np.save(tmp_path / "bad.npy", values)
    source = sources.open_source(tmp_path / "bad.npy", chunk_rows=40)
    source.read_chunk(0)
    with pytest.raises(DataError, match=r"row 58, column 2 \('c1'\): .*inf"):
        source.read_chunk(1)
