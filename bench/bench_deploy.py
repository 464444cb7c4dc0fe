"""What a C++ program pays for each deployment format: TorchScript (.pt) vs AOTInductor (.pt2,
portable AVX2 and native ISA), measured by build/cmake/linreg_bench_load (cpp_app/bench_load.cpp).

    python bench/bench_deploy.py [--rounds 3] [--threads 1] [--json FILE]

For D = 1 and 16 (float32) it writes the three files, checks that each reproduces the eager
model bit for bit (through linreg_ext.model_file, the loader the Python CLI uses), then reports
load time (the first in a process, and repeated), per-call latency at N = 1 and 1000, and
achieved GB/s at N = 10^6 (bytes of X and of the predictions over the median time), with the
machine and versions. The files are measured in turn, --rounds times, each figure the best of
its rounds' medians: the formats see the same machine conditions (it may be shared).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import linreg_ext
from linreg_ext import LinearRegression, aoti, model_file, torchscript

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("LINREG_BENCH_LOAD", ROOT / "build" / "cmake" / "linreg_bench_load"))
FILES = [("TorchScript .pt", None), (".pt2 avx2 (portable)", "avx2"), (".pt2 native", "native")]


def metadata(model: LinearRegression) -> dict:
    D = model.in_features
    return {
        "in_features": D,
        "feature_names": [f"x{i}" for i in range(D)],
        "target_name": "y",
        "dtype": "float32",
        "training": {},
        "linreg_ext_version": linreg_ext.__version__,
        "torch_version": torch.__version__,
    }


def write(model: LinearRegression, path: Path, cpu_isa: str | None) -> None:
    g = torch.Generator().manual_seed(1)
    X = torch.randn(1000, model.in_features, generator=g)
    if cpu_isa is None:
        torchscript.save(torchscript.script(model), path, metadata(model))
    else:
        aoti.compile_package(model, X[:8], path, metadata(model), cpu_isa=cpu_isa)
    with torch.inference_mode():
        if not torch.equal(model_file.load(path)(X), model(X).reshape(-1)):
            raise SystemExit(f"{path}: predictions differ from the eager model")


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor(),
    )
    native, _ = aoti.native_cpu()
    return (
        f"{cpu} (-march=native is {native}), {os.cpu_count()} cores visible, "
        f"torch {torch.__version__}, Python {platform.python_version()}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measure every file this often")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of the runs")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if not BENCH.is_file():
        print(f"{BENCH} is not built: run `make cpp`", file=sys.stderr)
        return 1
    files = []
    with tempfile.TemporaryDirectory() as tmp:
        for D in (1, 16):
            torch.manual_seed(D)
            model = LinearRegression(D).eval()
            for label, isa in FILES:
                path = Path(tmp) / f"d{D}-{isa or 'ts'}.{'pt2' if isa else 'pt'}"
                write(model, path, isa)
                files.append((D, label, path))
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        runs: dict[Path, list[dict]] = {path: [] for _, _, path in files}
        for _ in range(args.rounds):
            for D, label, path in files:
                out = subprocess.run(
                    [BENCH, path], capture_output=True, text=True, check=True, env=env
                )
                runs[path].append(json.loads(out.stdout))
                print(f"D={D:<2} {label:<22} {out.stdout.strip()}", file=sys.stderr)
        rows = []
        for D, label, path in files:
            best = {k: min(r[k] for r in runs[path]) for k in runs[path][0] if k != "format"}
            best["gbps_n1e6"] = max(r["gbps_n1e6"] for r in runs[path])
            rows.append({"D": D, "file": label, "bytes": path.stat().st_size, **best})
    print(f"Machine: {machine()}; OMP_NUM_THREADS={args.threads}, best of {args.rounds} rounds\n")
    print(
        "| D | file | size | first load (ms) | load (ms) | N=1 (µs/call) | N=1000 (µs/call) "
        "| N=10⁶ (GB/s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['D']} | {r['file']} | {r['bytes'] / 1e3:.0f} kB | {r['first_load_ms']:.1f} | "
            f"{r['load_ms']:.2f} | {r['us_n1']:.2f} | {r['us_n1000']:.2f} | {r['gbps_n1e6']:.2f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
