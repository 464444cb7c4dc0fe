"""Training at scale: epoch time and peak memory in memory vs streamed, and 1 vs 2 processes.

    python bench/bench_train.py [--rows 2000000] [--features 16] [--epochs 20] [--rounds 3]
                                [--out DIR]

Each measurement runs in a fresh subprocess, so that its peak RSS (VmHWM of /proc/self/status,
which exec resets; getrusage's ru_maxrss would carry the parent's peak over) is its own; the
child also reports its RSS before any data exists (the interpreter, torch and the op library:
the fixed overhead). Modes, all full-batch float32 on the CPU with the same data:
  memory       fit on a Dataset in memory (kept chunks: the data read once)
  chunks       the same tensors streamed as TensorSource chunks of --chunk-rows (no file)
  npy, parquet the data in a file written beforehand and read once (page-cached), streamed by
               open_source in chunks of --chunk-rows
An epoch's time is the median of the child's per-epoch times (an epoch of 30 ms on two shared
cores is now and then 2x slower, which moves a mean); memory, chunks and npy run --rounds times,
alternating, and each reports the median of its rounds with their range, so that a slow spell of
the machine falls on every mode alike.
Targets (issue 14): streamed .npy within 1.3x of the in-memory epoch; its peak RSS within the
chunk budget plus the fixed overhead. Then 1 vs 2 processes under torchrun (gloo, this machine):
time per step and the share of it spent in the step's all-reduce of D + 5 float64.
Writes train.md and train.json to --out (default bench/results/train).
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    """This process's peak resident size so far, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(rows: int, D: int):
    import torch

    from linreg_ext.datasets import Dataset

    g = torch.Generator().manual_seed(0)
    X = torch.randn(rows, D, generator=g)
    y = X @ torch.linspace(-1, 1, D) + 0.5 + 0.1 * torch.randn(rows, generator=g)
    return Dataset(X, y, [f"x{i}" for i in range(D)], "y", "generated")


def write_file(kind: str, path: Path, rows: int, D: int) -> None:
    """The benchmark's data as .npy ([rows, D + 1], target last) or Parquet, then read once."""
    import numpy as np

    data = make_data(rows, D)
    table = np.concatenate([data.X.numpy(), data.y.numpy()[:, None]], axis=1)
    if kind == "npy":
        np.save(path, table)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        names = [*data.feature_names, data.target_name]
        pq.write_table(pa.table({n: table[:, i] for i, n in enumerate(names)}), path)
    path.read_bytes()  # into the page cache


def child(args) -> dict:
    """One measurement, in this process: {"epoch_s", "base_rss_mib", "peak_rss_mib", ...}."""
    import linreg_ext  # noqa: F401  (the op library: part of the fixed overhead)
    from linreg_ext import distributed, train
    from linreg_ext.fitting import Hooks
    from linreg_ext.sources import TensorSource, open_source

    base = rss_mib()
    group = distributed.join("cpu") if args.mode == "dist" else None
    config = train.TrainConfig(epochs=args.epochs, lr=0.05, momentum=0.5)
    quiet = {"log": lambda _: None, "progress": False}
    if args.mode in ("memory", "chunks", "dist"):
        data = make_data(args.rows, args.features)
        rank, world = (group.rank, group.world) if group else (0, 1)
        chunk_rows = args.chunk_rows if args.mode == "chunks" else None
        source = TensorSource(data, chunk_rows, rank, world)
        keep = args.mode != "chunks"
    else:
        source = open_source(args.file, chunk_rows=args.chunk_rows)
        keep = False
    epochs: list[float] = []
    hooks = Hooks(on_epoch=lambda stats, _r2: epochs.append(stats.seconds))
    start = time.perf_counter()
    result = train.fit(source, config, group=group, keep_in_memory=keep, hooks=hooks, **quiet)
    out = {
        "mode": args.mode,
        "epoch_s": statistics.median(epochs) if epochs else result.seconds / args.epochs,
        "epoch_mean_s": result.seconds / args.epochs,
        "epochs_s": epochs,
        "fit_s": time.perf_counter() - start,
        "base_rss_mib": base,
        "peak_rss_mib": rss_mib(),
        "loss": result.loss,
    }
    if group is not None:
        per_step = group.reduce_seconds / group.reduces if group.reduces else 0.0
        out.update(world=group.world, reduce_s_per_step=per_step)
        out["step_s"] = result.seconds / args.epochs  # full batch: one step an epoch
        group.close()
        if group.rank != 0:
            return {}
    return out


def run_child(mode: str, args, file: Path | None = None, world: int = 1) -> dict:
    command = [__file__, "--child", mode, "--rows", str(args.rows), "--features"]
    command += [str(args.features), "--epochs", str(args.epochs)]
    command += ["--chunk-rows", str(args.chunk_rows)]
    if file is not None:
        command += ["--file", str(file)]
    launcher = [sys.executable]
    if world > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(world)]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OMP_NUM_THREADS": os.environ.get(
            "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // world))
        ),
    }
    done = subprocess.run(
        [*launcher, *command], capture_output=True, text=True, env=env, timeout=3600
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"mode": mode, "error": [last[:120]]}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


def median_run(runs: list[dict]) -> dict:
    """The run with the median epoch time (the lower one of an even count), with every run's
    epoch time under "rounds_epoch_s"; the first failed run instead, if any failed."""
    failed = [r for r in runs if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(runs, key=lambda r: r["epoch_s"])
    return {**ordered[(len(ordered) - 1) // 2], "rounds_epoch_s": [r["epoch_s"] for r in runs]}


def report(rows: list[dict], args) -> str:
    chunk_mib = args.chunk_rows * (args.features + 1) * 4 / 2**20
    memory = next((r for r in rows if r.get("mode") == "memory"), {})
    lines = [
        f"# Training at scale: {args.rows} rows x {args.features} features, float32, CPU, "
        f"full batch, {args.epochs} epochs; chunks of {args.chunk_rows} rows "
        f"({chunk_mib:.1f} MiB); epoch = median of a run's epochs; memory, chunks and npy: "
        f"the median of {args.rounds} alternating runs (range in brackets)",
        "",
        "| mode | processes | epoch (s) | vs memory | peak RSS (MiB) | fixed (MiB) | all-reduce |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['mode']} | | skipped: {' '.join(r['error'])} | | | | |")
            continue
        ratio = r["epoch_s"] / memory["epoch_s"] if "epoch_s" in memory else float("nan")
        share = ""
        if "reduce_s_per_step" in r:
            per_step = r["reduce_s_per_step"]
            share = f"{per_step * 1e6:.0f} us ({per_step / r['step_s']:.1%})"
        epoch = f"{r['epoch_s']:.4f}"
        if len(r.get("rounds_epoch_s", [])) > 1:
            epoch += f" ({min(r['rounds_epoch_s']):.4f}-{max(r['rounds_epoch_s']):.4f})"
        lines.append(
            f"| {r['mode']} | {r.get('world', 1)} | {epoch} | {ratio:.2f}x | "
            f"{r['peak_rss_mib']:.0f} | {r['base_rss_mib']:.0f} | {share} |"
        )
    lines += ["", f"command: `python bench/bench_train.py {' '.join(sys.argv[1:])}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--features", type=int, default=16)
    # 5 epochs of 30 ms make a ratio that moves by 30% between runs; 20 are steadier.
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3, help="alternating runs of memory/chunks/npy")
    p.add_argument("--chunk-rows", type=int, default=1 << 18)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "train"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rounds < 1:
        p.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.child:
        args.mode = args.child
        result = child(args)
        if result:
            print(json.dumps(result), flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = {kind: Path(tmp) / f"data.{kind}" for kind in ("npy", "parquet")}
        for kind, path in files.items():
            write_file(kind, path, args.rows, args.features)
        runs: dict[str, list[dict]] = {"memory": [], "chunks": [], "npy": []}
        for _ in range(args.rounds):
            for mode, done in runs.items():
                done.append(run_child(mode, args, files.get(mode)))
        rows = [median_run(done) for done in runs.values()]
        rows.append(run_child("parquet", args, files["parquet"]))
    rows += [run_child("dist", args, world=1), run_child("dist", args, world=2)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = report(rows, args)
    (out / "train.md").write_text(text)
    (out / "train.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
