"""The CPU kernels against the read floor at every number of features D.

    python bench/sweep_d.py [--quick] [--out DIR] [--device cuda]

(--device cuda runs the GPU sweep, bench/sweep_d_cuda.py, with the other arguments.)

Sweeps D = 1..64, 96, 128, 256, 512, 1024 for linear_mse_grad and linear_forward, float32 and
float64, 1 and 2 threads, about 16M elements of X per shape (N scaled), after a correctness gate
(every D against the float64 reference, and the gradient at an exact least-squares solution).

  floor (grad)     read X and y once: the faster of torch.sum and torch.amax of each
  floor (forward)  read X (torch.sum) + write the output (out.zero_() on touched memory); the
                   first touch of a fresh output (torch.empty(N).zero_() minus out.zero_()) is
                   measured apart and added, since linear_forward returns a new tensor
  ceiling          ns per row with X and y in L2 (one thread): what the loop itself costs
All of one shape's implementations are timed in interleaved rounds; ratios are given from the
medians and from the 10th percentiles, and the targets are judged on the latter: on a shared
machine other processes take the cores in some rounds, which inflates medians at random while a
shape's fastest tenth of rounds is what the memory and the loop allow. Writes DIR/sweep.json,
DIR/sweep.md (tables, targets) and DIR/sweep.png (fused/floor against D, 1 and 2 threads).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import linreg_ext
from linreg_ext import reference

sys.path.insert(0, str(Path(__file__).parent))
from timing import time_interleaved  # noqa: E402

from bench import eager_autograd, machine  # noqa: E402

DS = list(range(1, 65)) + [96, 128, 256, 512, 1024]
QUICK_DS = [1, 2, 3, 5, 8, 17, 64, 96]
DTYPES = {"float32": torch.float32, "float64": torch.float64}
TARGET = 1.15  # fused <= 1.15 x the same-run floor, every D, both ops, dtypes and thread counts
COMPARE_DS = [1, 2, 4, 8, 16, 64]  # eager and torch.compile, float32, all threads
LS_DS = [1, 2, 3, 5, 8, 16, 33, 64, 256]


def problem(N, D, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=dtype)
    w = torch.randn(D, generator=g, dtype=dtype)
    b = torch.randn(1, generator=g, dtype=dtype)
    y = X @ w + b + torch.randn(N, generator=g, dtype=dtype)
    return X, w * 0.9, b, y


def least_squares_problem(N, D, dtype, seed):
    """Noisy, offset, badly scaled data and its exact least-squares weight and bias in dtype."""
    g = torch.Generator().manual_seed(seed)
    scale = 10.0 ** torch.linspace(-2, 2, D, dtype=torch.float64)
    offset = 100.0 + 10 * torch.arange(D, dtype=torch.float64)
    X = (offset + torch.randn(N, D, generator=g, dtype=torch.float64)) * scale
    w_true = torch.randn(D, generator=g, dtype=torch.float64) / scale
    y = X @ w_true + 3.0 + torch.randn(N, generator=g, dtype=torch.float64)
    X, y = X.to(dtype), y.to(dtype)  # the problem is the data as stored
    A = torch.cat([X.double(), torch.ones(N, 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(A, y.double().unsqueeze(1), driver="gelsd").solution[:, 0]
    return X, solution[:D].to(dtype), solution[D:].to(dtype), y


def exact_gradient(X, weight, bias, y):
    """[(2/N) X^T r, (2/N) sum r] in numpy's long double (64-bit mantissa on x86-64)."""
    ld = np.longdouble
    Xl = X.double().numpy().astype(ld)
    r = Xl @ weight.double().numpy().astype(ld) + ld(bias.double().item()) - y.double().numpy()
    return np.concatenate([2 * (Xl.T @ r), [2 * r.sum()]]) / ld(X.shape[0])


def gradient_mass(X, weight, bias, y):
    """The norm of [(2/N) |X|^T m, (2/N) sum m], m = |X||w| + |b| + |y|: what rounding errors in
    forming and summing r X are proportional to. A float64 gradient at a float64 least-squares
    solution is about 1e-16 of it, below what float64 sums resolve to 1e-6 of the gradient."""
    Xa = X.double().abs()
    m = Xa @ weight.double().abs() + bias.double().abs() + y.double().abs()
    return (torch.cat([Xa.T @ m, m.sum().reshape(1)]) * 2 / X.shape[0]).norm().item()


def least_squares_error_ok(dtype, err_abs, want, mass) -> bool:
    """float32: within 1e-6 of the gradient, norm-wise. float64: within 1e-12 of the gradient's
    mass (a few thousand float64 roundings of the terms; see gradient_mass)."""
    if dtype == torch.float32:
        return err_abs <= 1e-6 * float(np.linalg.norm(want.astype(np.float64)))
    return err_abs <= 1e-12 * mass


def absolute_error(got, want):
    got = np.concatenate([t.double().numpy().reshape(-1) for t in got]).astype(np.longdouble)
    return float(np.linalg.norm((got - want).astype(np.float64)))


def relative_error(got, want):
    got = np.concatenate([t.double().numpy().reshape(-1) for t in got]).astype(np.longdouble)
    return float(np.linalg.norm((got - want).astype(np.float64))) / float(
        np.linalg.norm(want.astype(np.float64))
    )


def gate(ds) -> list[dict]:
    """Correctness before any timing: raises if any D or the least-squares case is wrong."""
    rows = []
    for name, dtype in DTYPES.items():
        for D in ds:
            X, w, b, y = problem(70_001 // D | 1, D, dtype, seed=D)
            ref = reference.linear_mse_grad(X.double(), w.double(), b.double(), y.double())
            got = linreg_ext.linear_mse_grad(X, w, b, y)
            err = max((g.double() - r).norm() / r.norm() for g, r in zip(got, ref, strict=True))
            pred_ref = reference.linear_forward(X.double(), w.double(), b.double())
            pred_err = (linreg_ext.linear_forward(X, w, b).double() - pred_ref).norm()
            err = max(err.item(), (pred_err / pred_ref.norm()).item())
            bound = 1e-6 if dtype == torch.float32 else 1e-12
            if err > bound:
                raise AssertionError(f"D={D} {name}: relative error {err:.2e} > {bound:.0e}")
        for D in LS_DS if len(ds) > len(QUICK_DS) else LS_DS[:4]:
            X, w, b, y = least_squares_problem(20_001, D, dtype, seed=D)
            want = exact_gradient(X, w, b, y)
            got = linreg_ext.linear_mse_grad(X, w, b, y)[1:]
            err = relative_error(got, want)
            base = relative_error(reference.linear_mse_grad(X, w, b, y)[1:], want)
            ok = least_squares_error_ok(
                dtype, absolute_error(got, want), want, gradient_mass(X, w, b, y)
            )
            rows.append({"dtype": name, "D": D, "fused_rel_error": err, "pytorch_rel_error": base})
            if not ok:
                raise AssertionError(f"least squares D={D} {name}: {err:.2e} (PyTorch {base:.2e})")
    return rows


def ceiling_ns_per_row(D, dtype, op) -> float:
    """ns per row with X and y in L2 (about 48 and 144 KB), from the slope between two sizes:
    the loop's own cost, without the call's."""
    best = []
    small = max(16, 48 * 1024 // (dtype.itemsize * (D + 1)))
    for N in (small, 3 * small):
        X, w, b, y = problem(N, D, dtype)
        times = []
        for _ in range(200):
            t0 = time.perf_counter()
            if op == "grad":
                linreg_ext.linear_mse_grad(X, w, b, y)
            else:
                linreg_ext.linear_forward(X, w, b)
            times.append(time.perf_counter() - t0)
        best.append((N, min(times)))
    (n1, t1), (n2, t2) = best
    return max(t2 - t1, 0.0) / (n2 - n1) * 1e9


def implementations(X, w, b, y, compare) -> dict:
    N, dtype = X.shape[0], X.dtype
    out = torch.empty(N, dtype=dtype).zero_()
    fns = {
        "sum": lambda: (X.sum(), y.sum()),
        "amax": lambda: (X.amax(), y.amax()),
        "read_x": lambda: X.sum(),
        "write_out": lambda: out.zero_(),
        "fresh_out": lambda: torch.empty(N, dtype=dtype).zero_(),
        "fused": lambda: linreg_ext.linear_mse_grad(X, w, b, y),
        "forward": lambda: linreg_ext.linear_forward(X, w, b),
    }
    if compare:
        compiled = torch.compile(reference.linear_mse_grad)
        fns["eager"] = lambda: eager_autograd(X, w, b, y)
        fns["compiled"] = lambda: compiled(X, w, b, y)
    return fns


def sweep(ds, elements, threads_list, budget, partial=None) -> list[dict]:
    rows = []
    for name, dtype in DTYPES.items():
        for D in ds:
            N = max(1, elements // D)
            X, w, b, y = problem(N, D, dtype, seed=D)
            compare = name == "float32" and D in COMPARE_DS and len(ds) > len(QUICK_DS)
            fns = implementations(X, w, b, y, compare)
            for threads in threads_list:
                torch.set_num_threads(threads)
                timed = time_interleaved(fns, budget_s=budget, min_samples=5)
                t = {k: v.median_s * 1e3 for k, v in timed.items()}
                p10 = {k: v.p10_s * 1e3 for k, v in timed.items()}
                floor = min(t["sum"], t["amax"])
                first_touch = max(t["fresh_out"] - t["write_out"], 0.0)
                fwd_floor = t["read_x"] + t["write_out"]
                row = {
                    "dtype": name,
                    "D": D,
                    "N": N,
                    "threads": threads,
                    "loop": torch.ops.linreg_ext._cpu_loop(D, dtype),
                    "ms": t,
                    "floor_ms": floor,
                    "grad_ratio": t["fused"] / floor,
                    "fwd_floor_ms": fwd_floor,
                    "first_touch_ms": first_touch,
                    "fwd_ratio": t["forward"] / (fwd_floor + first_touch),
                    "fwd_ratio_without_first_touch": t["forward"] / fwd_floor,
                    "floor_GBps": X.nbytes / 1e6 / floor + y.nbytes / 1e6 / floor,
                    # The same from each one's 10th percentile: far less sensitive to other
                    # processes taking the cores in some rounds (a shared machine).
                    "ms_p10": p10,
                    "grad_ratio_p10": p10["fused"] / min(p10["sum"], p10["amax"]),
                    "fwd_ratio_p10": p10["forward"]
                    / (
                        p10["read_x"]
                        + p10["write_out"]
                        + max(p10["fresh_out"] - p10["write_out"], 0)
                    ),
                }
                if threads == 1:
                    row["ceiling_grad_ns_per_row"] = ceiling_ns_per_row(D, dtype, "grad")
                    row["ceiling_fwd_ns_per_row"] = ceiling_ns_per_row(D, dtype, "forward")
                    row["floor_ns_per_row"] = floor * 1e6 / N
                rows.append(row)
                print(
                    f"{name} D={D:4d} {threads} thr  grad {row['grad_ratio']:.2f}  "
                    f"fwd {row['fwd_ratio']:.2f}  ({row['loop']})",
                    flush=True,
                )
            if partial:  # every finished shape, in case a long run is cut short
                partial.write_text(json.dumps(rows))
    return rows


def targets(rows) -> list[dict]:
    """Misses of TARGET, judged on the 10th-percentile ratio (see the module's docstring)."""
    result = []
    for r in rows:
        for op, key in (("linear_mse_grad", "grad_ratio"), ("linear_forward", "fwd_ratio")):
            if r[key + "_p10"] > TARGET:
                result.append({**{k: r[k] for k in ("dtype", "D", "threads", "loop")}, "op": op})
                result[-1].update(ratio=r[key + "_p10"], median_ratio=r[key], why=why(r, op))
    return result


def why(r, op) -> str:
    """A missed target's likely cause, from the same run's numbers."""
    if op == "linear_forward" and r["fwd_ratio_without_first_touch"] <= TARGET:
        return "first touch of the fresh output (page faults), not the loop"
    ceiling = r.get(
        "ceiling_grad_ns_per_row" if op == "linear_mse_grad" else "ceiling_fwd_ns_per_row"
    )
    floor = r.get("floor_ns_per_row")
    if ceiling is not None and floor and ceiling > floor:
        return f"compute-bound: {ceiling:.2f} ns/row in L2 against the floor's {floor:.2f}"
    return "memory-bound on this run (in L2 the loop is faster than the floor): noise or traffic"


def markdown(results) -> str:
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu']}; CPU loops: {results['isa']}; torch {m['torch']}, "
        f"Python {m['python']}; {m['date']}.",
        "",
        "Ratios to the same-run floor, median / 10th percentile of the interleaved rounds.",
        "",
        "| dtype | D | loop | floor GB/s 1, 2 thr | grad 1 thr | grad 2 thr | forward 1 thr "
        "| forward 2 thr | ceiling ns/row grad, fwd | floor ns/row |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by = {(r["dtype"], r["D"], r["threads"]): r for r in results["sweep"]}

    def pair(r, key):
        return f"{r[key]:.2f} / {r[key + '_p10']:.2f}" if r else "-"

    for (dtype, D, threads), r in by.items():
        if threads != 1:
            continue
        two = by.get((dtype, D, 2))
        lines.append(
            f"| {dtype} | {D} | {r['loop']} | {r['floor_GBps']:.1f}, "
            f"{two['floor_GBps'] if two else float('nan'):.1f} | {pair(r, 'grad_ratio')} "
            f"| {pair(two, 'grad_ratio')} | {pair(r, 'fwd_ratio')} | {pair(two, 'fwd_ratio')} "
            f"| {r['ceiling_grad_ns_per_row']:.2f}, {r['ceiling_fwd_ns_per_row']:.2f} "
            f"| {r['floor_ns_per_row']:.2f} |"
        )
    compared = [r for r in results["sweep"] if "eager" in r["ms"]]
    if compared:
        lines += ["", "| D | threads | floor ms | fused ms | eager ms | compiled ms |"]
        lines.append("|---|---|---|---|---|---|")
        for r in compared:
            t = r["ms"]
            lines.append(
                f"| {r['D']} | {r['threads']} | {r['floor_ms']:.2f} | {t['fused']:.2f} "
                f"| {t['eager']:.2f} | {t['compiled']:.2f} |"
            )
    lines += ["", "Least-squares gate (relative error of the gradient, norm-wise):", ""]
    lines += ["| dtype | D | fused | PyTorch |", "|---|---|---|---|"]
    for g in results["gate"]:
        lines.append(
            f"| {g['dtype']} | {g['D']} | {g['fused_rel_error']:.1e} "
            f"| {g['pytorch_rel_error']:.1e} |"
        )
    lines += ["", f"Targets (<= {TARGET} x the same-run floor):", ""]
    lines += targets_text(results["targets"], results["sweep"]).splitlines()
    return "\n".join(lines) + "\n"


def targets_text(missed, rows) -> str:
    total = 2 * len(rows)
    if not missed:
        return f"- met: all {total} (D, dtype, threads, op) within {TARGET} x the floor"
    lines = [f"- met: {total - len(missed)} of {total}; **NOT MET**:"]
    for t in missed:
        lines.append(
            f"  - {t['op']} {t['dtype']} D={t['D']} {t['threads']} thr ({t['loop']}): "
            f"{t['ratio']:.2f} x (median {t['median_ratio']:.2f} x); {t['why']}"
        )
    return "\n".join(lines)


def plot_ratios(series, path, statistic: str) -> None:
    """fused / floor against D, linear_mse_grad and linear_forward side by side: one line per
    (label, line style, rows) of `series`; statistic "p10" plots the 10th-percentile ratios,
    "median" the medians. The CUDA sweep (sweep_d_cuda.py) draws its plot with this too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suffix = "_p10" if statistic == "p10" else ""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, title in (
        (axes[0], "grad_ratio", "linear_mse_grad"),
        (axes[1], "fwd_ratio", "linear_forward"),
    ):
        for label, style, rows in series:
            pts = [(r["D"], r[key + suffix]) for r in rows]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, marker=".", label=label)
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.axhline(TARGET, color="red", lw=0.8, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("D (features)")
        ax.set_title(f"{title} / same-run read floor ({statistic})")
    axes[0].set_ylabel("time / floor")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot(rows, path):
    series = [
        (
            f"{dtype}, {threads} thr",
            style,
            [r for r in rows if (r["dtype"], r["threads"]) == (dtype, threads)],
        )
        for dtype in DTYPES
        for threads, style in ((1, "--"), (2, "-"))
    ]
    plot_ratios(series, path, "p10")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few D, small sizes (seconds)")
    parser.add_argument("--out", default="bench/results", help="directory for the outputs")
    parser.add_argument("--ds", help="comma-separated D to sweep instead of all")
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda"],
        default="cpu",
        help="cuda: run bench/sweep_d_cuda.py with these arguments (it has more options)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.device == "cuda":
        import sweep_d_cuda

        return sweep_d_cuda.main(sys.argv[1:] if argv is None else argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    ds = [int(d) for d in args.ds.split(",")] if args.ds else QUICK_DS if args.quick else DS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    all_threads = torch.get_num_threads()
    threads = sorted({1, min(2, all_threads)})
    results = {"machine": machine("cpu"), "isa": torch.ops.linreg_ext._cpu_isa()}
    results["gate"] = gate(ds)
    print("correctness gate passed", flush=True)
    elements = 2**18 if args.quick else 2**24
    partial = out / "sweep.partial.json"
    results["sweep"] = sweep(ds, elements, threads, 0.2 if args.quick else 0.6, partial)
    partial.unlink(missing_ok=True)
    torch.set_num_threads(all_threads)
    results["targets"] = targets(results["sweep"])
    (out / "sweep.json").write_text(json.dumps(results, indent=2))
    (out / "sweep.md").write_text(markdown(results))
    plot(results["sweep"], out / "sweep.png")
    print(f"\nwrote {out}/sweep.json, sweep.md, sweep.png")
    print(targets_text(results["targets"], results["sweep"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
