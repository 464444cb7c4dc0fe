"""Load time of an N x 16 float32 training set (15 features and a target) in each format.

    python bench/bench_data.py [--rows 10000000] [--out bench/results/data] [--workdir DIR]

The same random values are written (untimed) as CSV (pyarrow's writer: shortest round-trip
decimals), Parquet (row groups of 1M rows) and .npy, in a temporary directory (or --workdir)
that is removed afterwards. Then, each the best of --repeat runs, with a warm page cache:

  - CSV, numpy.loadtxt: the baseline a script would use;
  - CSV, datasets.load_csv: this package's reader, whole file in one pass (pyarrow.csv for blocks
    of plain numbers, every value checked against linreg_ext.numbers' grammar);
  - CSV, open_source: the streamed path, its open (a scan that checks every value and records the
    chunks) and then every chunk read;
  - Parquet and .npy, open_source: open (footers, headers) and every chunk read;
  - Parquet, pyarrow.parquet.read_table and .npy, numpy.load: what the formats cost with no checks.

Every loader's values are first checked equal to the generated ones (bit for bit), before any
timing. Prints a markdown table (rows, MB on disk, seconds, rows/s) and writes data.md and
data.json to --out.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from linreg_ext import datasets  # noqa: E402
from linreg_ext._io import atomic_write  # noqa: E402
from linreg_ext.sources import open_source  # noqa: E402

COLUMNS = 16


def generate(rows: int, seed: int = 0) -> np.ndarray:
    """float32 [rows, 16]: features of mixed scales, a target near a linear function of them."""
    g = np.random.default_rng(seed)
    values = np.empty((rows, COLUMNS), dtype=np.float32)
    step = 1 << 20
    weights = g.standard_normal(COLUMNS - 1)
    for start in range(0, rows, step):
        n = min(step, rows - start)
        X = g.standard_normal((n, COLUMNS - 1)) * 10.0 ** g.integers(-2, 3, COLUMNS - 1)
        values[start : start + n, :-1] = X
        values[start : start + n, -1] = X @ weights + g.standard_normal(n) * 0.1
    return values


def write_files(values: np.ndarray, folder: Path) -> dict[str, Path]:
    names = [f"x{i}" for i in range(COLUMNS - 1)] + ["y"]
    table = pa.table(dict(zip(names, values.T, strict=True)))
    paths = {
        "csv": folder / "data.csv",
        "parquet": folder / "data.parquet",
        "npy": folder / "data.npy",
    }
    pacsv.write_csv(table, paths["csv"], pacsv.WriteOptions(quoting_style="none"))
    pq.write_table(table, paths["parquet"], row_group_size=1 << 20)
    np.save(paths["npy"], values)
    return paths


def streamed(path: Path, chunk_rows: int):
    """open_source then every chunk: (values [rows, 16] float32, seconds to open)."""
    t0 = time.perf_counter()
    source = open_source(path, dtype="float32", chunk_rows=chunk_rows)
    opened = time.perf_counter() - t0
    out = np.empty((source.rows, COLUMNS), dtype=np.float32)
    for k in range(source.chunk_count):
        chunk = source.read_chunk(k)
        rows = slice(chunk.first_row, chunk.first_row + len(chunk.y))
        out[rows, :-1], out[rows, -1] = chunk.X.numpy(), chunk.y.numpy()
    return out, opened


def loaders(paths: dict[str, Path], chunk_rows: int) -> dict:
    """name -> (file format, function returning (values, seconds to open or None))."""

    def whole_csv():
        data = datasets.load_csv(paths["csv"])
        return torch.cat([data.X, data.y[:, None]], 1).numpy(), None

    return {
        "CSV, numpy.loadtxt": (
            "csv",
            lambda: (np.loadtxt(paths["csv"], delimiter=",", skiprows=1, dtype=np.float32), None),
        ),
        "CSV, datasets.load_csv": ("csv", whole_csv),
        "CSV, open_source + all chunks": ("csv", lambda: streamed(paths["csv"], chunk_rows)),
        "Parquet, open_source + all chunks": (
            "parquet",
            lambda: streamed(paths["parquet"], chunk_rows),
        ),
        "Parquet, pyarrow.parquet.read_table": (
            "parquet",
            lambda: (
                np.stack([c.to_numpy() for c in pq.read_table(paths["parquet"]).columns], 1),
                None,
            ),
        ),
        ".npy, open_source + all chunks": ("npy", lambda: streamed(paths["npy"], chunk_rows)),
        ".npy, numpy.load": ("npy", lambda: (np.load(paths["npy"]), None)),
    }


def measure(values: np.ndarray, paths: dict[str, Path], args) -> list[dict]:
    rows = []
    for name, (kind, load) in loaders(paths, args.chunk_rows).items():
        got, _ = load()  # the check, before any timing
        if got.dtype != np.float32 or not np.array_equal(got, values):
            raise SystemExit(f"{name}: the values read differ from the values written")
        del got
        best, best_open = float("inf"), None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            got, opened = load()
            seconds = time.perf_counter() - t0
            del got
            if seconds < best:
                best, best_open = seconds, opened
        mb = paths[kind].stat().st_size / 1e6
        rows.append(
            {
                "loader": name,
                "rows": len(values),
                "mb_on_disk": mb,
                "seconds": best,
                "open_seconds": best_open,
                "rows_per_s": len(values) / best,
            }
        )
        print(f"  {name}: {best:.3f} s", file=sys.stderr, flush=True)
    return rows


def markdown(results: list[dict], args) -> str:
    lines = [
        f"### Loading {args.rows:,} x {COLUMNS} float32 rows "
        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, warm page cache, "
        f"chunks of {args.chunk_rows:,} rows, best of {args.repeat})",
        "",
        "| loader | rows | MB on disk | seconds | of which open | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        opened = "" if r["open_seconds"] is None else f"{r['open_seconds']:.3f}"
        lines.append(
            f"| {r['loader']} | {r['rows']:,} | {r['mb_on_disk']:.1f} | {r['seconds']:.3f} | "
            f"{opened} | {r['rows_per_s']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=1 << 20)
    parser.add_argument("--repeat", type=int, default=1, help="runs per loader; the best counts")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "data"))
    parser.add_argument("--workdir", help="where the data files go (default: a temporary dir)")
    args = parser.parse_args(argv)
    values = generate(args.rows)
    folder = Path(tempfile.mkdtemp(prefix="bench_data_", dir=args.workdir))
    try:
        print(f"writing {args.rows:,} x {COLUMNS} rows to {folder}", file=sys.stderr, flush=True)
        results = measure(values, write_files(values, folder), args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    text = markdown(results, args)
    print(text, end="")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "data.md", lambda p: p.write_text(text), force=True)
    document = {
        "rows": args.rows,
        "columns": COLUMNS,
        "chunk_rows": args.chunk_rows,
        "results": results,
    }
    atomic_write(
        out / "data.json", lambda p: p.write_text(json.dumps(document, indent=2)), force=True
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
