"""The CUDA kernels against the read floor at every number of features D.

    python bench/sweep_d_cuda.py [--quick] [--out DIR]      (or bench/sweep_d.py --device cuda)

The GPU counterpart of bench/sweep_d.py: D = 1..64, 96, 128, 256, 512, 1024 (--quick: 8 of them)
in float32, bfloat16, float16 and float64, about 64M elements of X per shape (N = 2^26 // D:
256 MB in float32, so X is several times the L2 and every pass reads device memory), after a
correctness gate on the GPU (every D and dtype against the float64 reference, by the tests' rule
in linreg_ext._accuracy; the gradient at an exact least-squares solution in float32/float64).

  floor (grad)     read X and y once: the faster of torch.sum and torch.amax of each
  floor (forward)  read X (torch.sum) and write the output (out.zero_()), timed as one pair; on
                   the GPU a fresh output comes from the caching allocator: no first touch to add
  eager, compiled  ((X @ w + b - y) ** 2).mean() with autograd, and torch.compile of the
                   reference gradient (static shapes), float32 at D = 1, 2, 4, 8, 16, 64 (full
                   runs), after the sweep: a slow or failing compiler costs this, never the sweep
All of a shape's implementations are timed with CUDA events in interleaved rounds (bench/timing.py),
about 20 ms each; ratios are from the medians (and the 10th percentiles, recorded too): a GPU
runs one process's kernels at a time, so the medians are not inflated by neighbours as the CPU
sweep's are. No thread counts and no L2 ceiling: neither applies to a GPU run.

The whole sweep is budgeted at about a minute on an H100 (an estimate: ~120 ms a shape, six
torch.compile compilations; not yet run on a GPU); --max-seconds (90) stops it between shapes,
the report says where, so that a slow machine still writes its results. Writes DIR/sweep.json,
DIR/sweep.md (tables, targets) and DIR/sweep.png (fused/floor against D, per dtype).
--device cpu runs the same harness on the CPU kernels (float32, float64; small sizes): what the
tests check on a machine without a GPU. Exit status 2 when --device cuda has no GPU.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import linreg_ext
from linreg_ext import reference
from linreg_ext._accuracy import accuracy_failure

sys.path.insert(0, str(Path(__file__).parent))
import sweep_d  # noqa: E402
from timing import time_interleaved  # noqa: E402

from bench import eager_autograd, machine, problem  # noqa: E402

DS = sweep_d.DS
QUICK_DS = sweep_d.QUICK_DS
DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "float64": torch.float64,
}
DEVICE_DTYPES = {"cuda": list(DTYPES), "cpu": ["float32", "float64"]}  # what each backend accepts
TARGET = sweep_d.TARGET  # fused <= 1.15 x the same-run floor, every D, dtype and op
COMPARE_DS = [1, 2, 4, 8, 16, 64]  # eager and torch.compile, float32
ELEMENTS = {"cuda": 2**26, "cpu": 2**18}  # of X per shape
GATE_ELEMENTS = 2**22  # at most, per gate shape: several grid-stride rounds at D = 1 on an H100

# The row shape (G lanes a row, K columns a lane) each D runs with: a copy of with_row_shape in
# csrc/cuda/linreg_kernel.cu, for the report's labels only (tests/test_sweep.py checks the copy).
ROW_SHAPES = [(1, 1, 1), (2, 1, 2), (4, 1, 4), (8, 1, 8), (32, 4, 8), (64, 8, 8), (128, 16, 8)]
MAX_REGISTER_D = 256  # kMaxRegisterD in csrc/cuda/linreg_kernels.cuh; longer rows: a warp per row


def kernel_label(D: int, device: str = "cuda", dtype: torch.dtype = torch.float32) -> str:
    """Which kernel variant serves rows of D columns: on CUDA from ROW_SHAPES, on the CPU the
    loop the CPU backend itself names for the dtype (float32 or float64)."""
    if device == "cpu":
        return torch.ops.linreg_ext._cpu_loop(D, dtype)
    if D > MAX_REGISTER_D:
        return "long rows"
    G, K = next(((g, k) for d, g, k in ROW_SHAPES if D <= d), (32, 8))
    return f"G={G} K={K}"


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def gate(ds, dtypes, device, elements) -> list[dict]:
    """Correctness before any timing: raises AssertionError naming the first wrong (D, dtype).

    Every D and dtype: linear_mse_grad and linear_forward against the float64 reference, by
    linreg_ext._accuracy (float64: 1e-12 relative; others: within twice PyTorch's own error in
    that dtype plus one rounding, float32 also within 1e-6: the CUDA tests' rule). float32 and
    float64 also at an exact least-squares solution, where r X cancels (bench/sweep_d.py)."""
    rows = []
    for name in dtypes:
        dtype = DTYPES[name]
        for D in ds:
            X, w, b, y = problem(max(1, min(elements, GATE_ELEMENTS) // D) | 1, D, dtype, device, D)
            exact = reference.linear_mse_grad(X.double(), w.double(), b.double(), y.double())
            pytorch = reference.linear_mse_grad(X, w, b, y)
            got = linreg_ext.linear_mse_grad(X, w, b, y)
            checks = list(
                zip(("loss", "grad_weight", "grad_bias"), got, exact, pytorch, strict=True)
            )
            pred_exact = reference.linear_forward(X.double(), w.double(), b.double())
            pred = linreg_ext.linear_forward(X, w, b)
            checks.append(("pred", pred, pred_exact, reference.linear_forward(X, w, b)))
            for what, g, e, p in checks:
                failure = accuracy_failure(g, e, p)  # .item() inside: synchronizes
                if failure:
                    raise AssertionError(f"D={D} {name} {what} at N={X.shape[0]}: {failure}")
        if name in ("float32", "float64"):
            rows += least_squares_gate([d for d in sweep_d.LS_DS if d in ds], name, device)
    return rows


def least_squares_gate(ds, name, device) -> list[dict]:
    """The gradient at an exact least-squares solution (bench/sweep_d.py's case and bound): the
    problem and the exact gradient are made on the CPU, the op runs on `device`."""
    rows = []
    dtype = DTYPES[name]
    for D in ds:
        X, w, b, y = sweep_d.least_squares_problem(20_001, D, dtype, seed=D)
        want = sweep_d.exact_gradient(X, w, b, y)
        got = [t.cpu() for t in linreg_ext.linear_mse_grad(*(t.to(device) for t in (X, w, b, y)))]
        err = sweep_d.relative_error(got[1:], want)
        base = sweep_d.relative_error(reference.linear_mse_grad(X, w, b, y)[1:], want)
        mass = sweep_d.gradient_mass(X, w, b, y)
        abs_err = sweep_d.absolute_error(got[1:], want)
        rows.append({"dtype": name, "D": D, "fused_rel_error": err, "pytorch_rel_error": base})
        if not sweep_d.least_squares_error_ok(dtype, abs_err, want, mass):
            raise AssertionError(f"least squares D={D} {name}: {err:.2e} (PyTorch {base:.2e})")
    return rows


def implementations(X, w, b, y) -> dict:
    """What one shape times: the floors' passes and both ops."""
    out = torch.empty(X.shape[0], dtype=X.dtype, device=X.device)
    return {
        "sum": lambda: (X.sum(), y.sum()),
        "amax": lambda: (X.amax(), y.amax()),
        # one pair, as the grad floor's: the small write's launch hides under the read, as the
        # forward kernel's does under its own (timed apart, a short write is launch-bound)
        "read_write": lambda: (X.sum(), out.zero_()),
        "fused": lambda: linreg_ext.linear_mse_grad(X, w, b, y),
        "forward": lambda: linreg_ext.linear_forward(X, w, b),
    }


def first_call_s(fn, device) -> float:
    """Seconds of one call, synchronized: for torch.compile, the compilation (a cache hit: ~0)."""
    synchronize(device)
    t0 = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - t0


def shape_row(name, D, X, y, timed, device) -> dict:
    """Ratios and GB/s of one shape from its timings (medians, and 10th percentiles)."""
    t = {k: v.median_s * 1e3 for k, v in timed.items()}
    p10 = {k: v.p10_s * 1e3 for k, v in timed.items()}
    grad_mb = (X.nbytes + y.nbytes) / 1e6  # read X and y
    fwd_mb = (X.nbytes + X.shape[0] * X.element_size()) / 1e6  # read X, write pred

    def floors(ms):
        return min(ms["sum"], ms["amax"]), ms["read_write"]

    floor, fwd_floor = floors(t)
    floor_p10, fwd_floor_p10 = floors(p10)
    return {
        "dtype": name,
        "D": D,
        "N": X.shape[0],
        "kernel": kernel_label(D, device, X.dtype),
        "ms": t,
        "ms_p10": p10,
        "floor_ms": floor,
        "fwd_floor_ms": fwd_floor,
        "grad_ratio": t["fused"] / floor,
        "fwd_ratio": t["forward"] / fwd_floor,
        "grad_ratio_p10": p10["fused"] / floor_p10,
        "fwd_ratio_p10": p10["forward"] / fwd_floor_p10,
        "GBps": {
            "floor": grad_mb / floor,
            "fused": grad_mb / t["fused"],
            "fwd_floor": fwd_mb / fwd_floor,
            "forward": fwd_mb / t["forward"],
        },
    }


def sweep(ds, dtypes, device, elements, budget_s, deadline, partial=None):
    """Every (D, dtype), D outermost so that a run stopped at the deadline has every dtype of the
    Ds it reached. Returns (rows, None) or (rows, the first shape not run)."""
    rows = []
    for D in ds:
        for name in dtypes:
            if rows and time.monotonic() > deadline:
                return rows, {"D": D, "dtype": name}
            X, w, b, y = problem(max(1, elements // D), D, DTYPES[name], device, seed=D)
            fns = implementations(X, w, b, y)
            timed = time_interleaved(fns, device, budget_s=budget_s * len(fns), min_samples=5)
            rows.append(shape_row(name, D, X, y, timed, device))
            r = rows[-1]
            print(
                f"{name:8s} D={D:4d} N={r['N']:>9d}  grad {r['grad_ratio']:.2f}  "
                f"fwd {r['fwd_ratio']:.2f}  floor {r['GBps']['floor']:.0f} GB/s  ({r['kernel']})",
                flush=True,
            )
            del X, w, b, y, fns  # free the shape's memory before the next one is made
            if partial:  # every finished shape, in case the run is cut short
                partial.write_text(json.dumps(rows))
    return rows, None


def compare(ds, device, elements, budget_s, deadline) -> tuple[list[dict], str | None]:
    """float32 linear_mse_grad against eager autograd and torch.compile, compiled for each shape
    (static shapes, as bench.py and a training loop of fixed shape have them), after the sweep, so
    that neither a slow compiler nor a failing one costs the sweep. Returns (rows, None), or the
    rows so far and why it stopped (the time limit, or torch.compile's error: reported, not
    raised)."""
    rows = []
    for D in ds:
        if time.monotonic() > deadline:
            return rows, f"stopped at the time limit before D={D}"
        try:
            rows.append(compare_one(D, device, elements, budget_s))
        except CompileFailed as e:
            return rows, f"torch.compile failed at D={D}: {e}"
        t = rows[-1]["ms"]
        print(
            f"float32  D={D:4d} fused {t['fused']:.3f} ms, eager {t['eager']:.3f} ms, compiled "
            f"{t['compiled']:.3f} ms (first call {rows[-1]['compiled_first_call_s']:.1f} s)",
            flush=True,
        )
    return rows, None


class CompileFailed(Exception):
    """torch.compile raised: the message is the original error's type and first line."""


def compare_one(D, device, elements, budget_s) -> dict:
    """One D of compare(): the grad floor, fused, eager and a fresh static torch.compile."""
    X, w, b, y = problem(max(1, elements // D), D, torch.float32, device, seed=D)
    fns = {k: v for k, v in implementations(X, w, b, y).items() if k in ("sum", "amax", "fused")}
    fns["eager"] = lambda: eager_autograd(X, w, b, y)
    try:
        torch._dynamo.reset()  # a fresh compilation for this shape, as bench.py does
        compiled = torch.compile(reference.linear_mse_grad, dynamic=False)
        fns["compiled"] = lambda: compiled(X, w, b, y)
        first = first_call_s(fns["compiled"], device)  # the compilation
    except Exception as e:  # any compiler failure: reported by compare(), the sweep is kept
        text = str(e).strip()
        raise CompileFailed(type(e).__name__ + (": " + text.splitlines()[0] if text else "")) from e
    timed = time_interleaved(fns, device, budget_s=budget_s * len(fns), min_samples=5)
    t = {k: v.median_s * 1e3 for k, v in timed.items()}
    return {
        "D": D,
        "N": X.shape[0],
        "ms": t,
        "floor_ms": min(t["sum"], t["amax"]),
        "speedup": {k: t[k] / t["fused"] for k in ("eager", "compiled")},
        "compiled_first_call_s": first,
    }


def targets(rows) -> list[dict]:
    """Misses of TARGET, judged on the medians (see the module's docstring)."""
    missed = []
    for r in rows:
        for op, key in (("linear_mse_grad", "grad_ratio"), ("linear_forward", "fwd_ratio")):
            if r[key] > TARGET:
                missed.append(
                    {
                        **{k: r[k] for k in ("dtype", "D", "kernel")},
                        "op": op,
                        "ratio": r[key],
                        "p10_ratio": r[key + "_p10"],
                    }
                )
    return missed


def targets_text(missed, rows) -> str:
    total = 2 * len(rows)
    if not missed:
        return f"- met: all {total} (D, dtype, op) within {TARGET} x the floor"
    lines = [f"- met: {total - len(missed)} of {total}; **NOT MET**:"]
    for t in missed:
        lines.append(
            f"  - {t['op']} {t['dtype']} D={t['D']} ({t['kernel']}): {t['ratio']:.2f} x "
            f"(10th percentile {t['p10_ratio']:.2f} x)"
        )
    return "\n".join(lines)


def markdown(results) -> str:
    m, rows, cfg = results["machine"], results["sweep"], results["config"]
    dtypes = [d for d in DTYPES if any(r["dtype"] == d for r in rows)]
    by = {(r["dtype"], r["D"]): r for r in rows}
    ds = sorted({r["D"] for r in rows})
    clock = "CUDA events" if cfg["device"] == "cuda" else "time.perf_counter"
    device = m.get("gpu", m["cpu"])
    if "cuda" in m:
        device += f" ({m['sms']} SMs, {m['gpu_memory_GB']:.0f} GB), CUDA {m['cuda']}"
    lines = [
        f"Device: {device}; torch {m['torch']}, Python {m['python']}; {m['date']}; "
        f"{results['seconds']:.0f} s in all.",
        f"About {cfg['elements']:,} elements of X per shape; {cfg['budget_ms']:g} ms of timing per "
        f"implementation per shape ({clock}, interleaved rounds).",
    ]
    if results.get("stopped"):
        s = results["stopped"]
        lines.append(
            f"**Stopped at the {cfg['max_seconds']:g} s limit** before D={s['D']} {s['dtype']}: "
            f"{len(rows)} of {len(cfg['ds']) * len(cfg['dtypes'])} shapes measured."
        )
    lines += ["", "Worst ratio per dtype (medians), and the grad floor's bandwidth:", ""]
    lines += ["| dtype | grad: worst (D) | forward: worst (D) | floor GB/s: min, median |"]
    lines.append("|---|---|---|---|")
    for d in dtypes:
        mine = [r for r in rows if r["dtype"] == d]
        g = max(mine, key=lambda r: r["grad_ratio"])
        f = max(mine, key=lambda r: r["fwd_ratio"])
        gbps = sorted(r["GBps"]["floor"] for r in mine)
        lines.append(
            f"| {d} | {g['grad_ratio']:.2f} ({g['D']}) | {f['fwd_ratio']:.2f} ({f['D']}) "
            f"| {gbps[0]:.0f}, {gbps[len(gbps) // 2]:.0f} |"
        )
    lines += ["", "Time / same-run floor (medians), linear_mse_grad and linear_forward:", ""]
    lines.append("| D | kernel | " + " | ".join(f"{d} grad | {d} fwd" for d in dtypes) + " |")
    lines.append("|---|---|" + "---|---|" * len(dtypes))
    for D in ds:
        cells = []
        for d in dtypes:
            r = by.get((d, D))
            cells += [f"{r['grad_ratio']:.2f}", f"{r['fwd_ratio']:.2f}"] if r else ["-", "-"]
        kernel = next(r["kernel"] for r in rows if r["D"] == D)
        lines.append(f"| {D} | {kernel} | " + " | ".join(cells) + " |")
    lines += ["", "GB/s achieved: grad floor / fused linear_mse_grad / fused linear_forward:", ""]
    lines.append("| D | " + " | ".join(dtypes) + " |")
    lines.append("|---|" + "---|" * len(dtypes))
    for D in ds:
        cells = []
        for d in dtypes:
            g = by[(d, D)]["GBps"] if (d, D) in by else None
            cells.append(f"{g['floor']:.0f} / {g['fused']:.0f} / {g['forward']:.0f}" if g else "-")
        lines.append(f"| {D} | " + " | ".join(cells) + " |")
    compared = results["compare"]
    if compared:
        lines += [
            "",
            "float32 against PyTorch (torch.compile with static shapes, compiled for each D):",
            "",
        ]
        lines.append(
            "| D | floor ms | fused ms | eager ms | compiled ms | eager / fused "
            "| compiled / fused | compiled first call s |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for r in compared:
            t = r["ms"]
            lines.append(
                f"| {r['D']} | {r['floor_ms']:.3f} | {t['fused']:.3f} | {t['eager']:.3f} "
                f"| {t['compiled']:.3f} | {r['speedup']['eager']:.1f} "
                f"| {r['speedup']['compiled']:.2f} | {r['compiled_first_call_s']:.1f} |"
            )
    if results["compare_note"]:
        lines += ["", f"Eager and compiled: {results['compare_note']}."]
    lines += ["", "Least-squares gate (relative error of the gradient, norm-wise):", ""]
    lines += ["| dtype | D | fused | PyTorch |", "|---|---|---|---|"]
    for g in results["gate"]:
        lines.append(
            f"| {g['dtype']} | {g['D']} | {g['fused_rel_error']:.1e} "
            f"| {g['pytorch_rel_error']:.1e} |"
        )
    lines += ["", f"Targets (<= {TARGET} x the same-run floor, medians):", ""]
    lines += targets_text(results["targets"], rows).splitlines()
    return "\n".join(lines) + "\n"


def plot(rows, path):
    series = [(dtype, "-", [r for r in rows if r["dtype"] == dtype]) for dtype in DTYPES]
    sweep_d.plot_ratios(series, path, "median")


def int_list(text: str) -> list[int]:
    """'1,2,64' -> [1, 2, 64], every entry a positive integer ('' -> [])."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--quick", action="store_true", help=f"D = {QUICK_DS} only, no eager/compiled")
    p.add_argument("--out", default="bench/results/cuda", help="directory for the outputs")
    p.add_argument("--ds", type=int_list, help="comma-separated D to sweep instead of all")
    p.add_argument("--dtypes", help="comma-separated dtypes (default: all the device supports)")
    p.add_argument("--compare-ds", type=int_list, help=f"D for eager/compiled ({COMPARE_DS})")
    p.add_argument("--elements", type=int, help="elements of X per shape (cuda 2^26, cpu 2^18)")
    p.add_argument("--budget-ms", type=float, default=20.0, help="timing per implementation")
    p.add_argument("--max-seconds", type=float, default=90.0, help="stop between shapes after")
    return p.parse_args(argv)


def main(argv=None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    device = args.device
    if device == "cuda" and not torch.cuda.is_available():
        print(
            "error: --device cuda, but torch.cuda.is_available() is False "
            "(no GPU, or a CPU-only torch build)",
            file=sys.stderr,
        )
        return 2
    dtypes = args.dtypes.split(",") if args.dtypes else DEVICE_DTYPES[device]
    unsupported = [d for d in dtypes if d not in DEVICE_DTYPES[device]]
    if unsupported:
        print(
            f"error: --device {device} supports dtypes {', '.join(DEVICE_DTYPES[device])}, "
            f"got {', '.join(unsupported)}",
            file=sys.stderr,
        )
        return 2
    ds = args.ds or (QUICK_DS if args.quick else DS)
    compare_ds = (
        args.compare_ds if args.compare_ds is not None else [] if args.quick else COMPARE_DS
    )
    elements = args.elements or ELEMENTS[device]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {
        "device": device,
        "ds": ds,
        "dtypes": dtypes,
        "compare_ds": compare_ds,
        "elements": elements,
        "budget_ms": args.budget_ms,
        "max_seconds": args.max_seconds,
    }
    results = {"machine": machine(device), "config": config}
    if device == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        results["machine"].update(
            cuda=torch.version.cuda,
            sms=props.multi_processor_count,
            gpu_memory_GB=props.total_memory / 1e9,
        )
    results["gate"] = gate(ds, dtypes, device, elements)
    print(f"correctness gate passed ({time.monotonic() - start:.1f} s)", flush=True)
    partial = out / "sweep.partial.json"
    deadline = start + args.max_seconds
    results["sweep"], results["stopped"] = sweep(
        ds, dtypes, device, elements, args.budget_ms / 1e3, deadline, partial
    )
    partial.unlink(missing_ok=True)
    results["compare"], results["compare_note"] = [], None
    if compare_ds:
        results["compare"], results["compare_note"] = compare(
            compare_ds, device, elements, args.budget_ms / 1e3, deadline
        )
    results["targets"] = targets(results["sweep"])
    results["seconds"] = time.monotonic() - start
    (out / "sweep.json").write_text(json.dumps(results, indent=2))
    (out / "sweep.md").write_text(markdown(results))
    plot(results["sweep"], out / "sweep.png")
    if results["stopped"]:
        print(f"stopped at the {args.max_seconds:g} s limit before {results['stopped']}")
    print(f"\nwrote {out}/sweep.json, sweep.md, sweep.png ({results['seconds']:.0f} s)")
    print(targets_text(results["targets"], results["sweep"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
