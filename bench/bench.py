"""The linreg_ext benchmark: the fused op against PyTorch eager, torch.compile and the read floor.

    python bench/bench.py [--quick] [--device cpu|cuda] [--out DIR]

In one process: a correctness check of every configuration first, then interleaved timings
(bench/timing.py), reported as time, GB/s and ratios. Writes DIR/results.json (every number),
DIR/results.md (the tables and the targets, met or not) and DIR/throughput.png (GB/s per shape
per implementation, the read floor as a line). --quick runs a small version of everything in
under a minute; the test suite runs it to prove the harness works, and judges no speed.

Implementations of one training step's loss and gradient:
  floor      reads X and y once and does nothing else: the faster of torch.sum and torch.amax of
             each, timed in the same rounds; the bandwidth bound
  fused      linreg_ext.linear_mse_grad: one pass over X
  eager      ((X @ w + b - y) ** 2).mean() and torch.autograd.grad: what a user writes first
  manual     the hand-written gradient in plain PyTorch (linreg_ext.reference.linear_mse_grad)
  compiled   torch.compile of `manual`
linear_forward is timed the same way (fused, eager, compiled) beside its own floor, a read-only
pass over X. GOALS, below, holds every target the report checks.
"""

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

import linreg_ext
from linreg_ext import datasets, reference, train
from linreg_ext._accuracy import accuracy_failure, relative_error

sys.path.insert(0, str(Path(__file__).parent))
import report  # noqa: E402
from timing import time_interleaved  # noqa: E402

# The goals of the speed issues, every number in one place; report.targets() checks a run against
# them. Per-device entries apply on that device only; "by D" entries on rows of that D.
GOALS = {
    # linear_mse_grad: time <= this x the read floor (X and y read once), every shape
    "grad_over_floor": 1.15,
    # linear_mse_grad: >= this x faster than eager + autograd, by D (full runs only)
    "grad_vs_eager": {"cpu": {1: 25, 16: 3, 64: 3, 256: 6}, "cuda": {1: 16}},
    # linear_mse_grad: >= this x faster than torch.compile, from this D up
    "grad_vs_compiled": {"cpu": {1: 1.2, 16: 2.0}, "cuda": {16: 2.0}},
    # linear_mse_grad in bfloat16: >= this x faster than in float32 (about 2 x: half the bytes)
    "bfloat16_vs_float32": {"cuda": 1.7},
    # every thread vs one thread: the fused time ratio must exceed this
    "threads_vs_one": {"cpu": 1.0},
    # one linear_mse_grad call from Python, N = 1 and 100: at most this many microseconds
    "call_us": {"cpu": 10},
    # a training step at N = 100: below this x the eager step's time
    "step_vs_eager": {"cpu": 0.5},
    # linear_forward (read X, write pred): at least this share of the read floor's bandwidth
    "forward_share_of_floor": {"cuda": 0.85},
    # linear_forward: >= this x faster than eager, by (N, D) (full runs)
    "forward_vs_eager": {"cpu": {(10_000_000, 1): 2.0, (1_000_000, 16): 1.5}},
    # no cliff: from this many rows (X far larger than the caches), fused <= this x the floor
    # and the time per row grows by at most this factor up to the largest N
    "scaling_from_rows": 10**7,
    "scaling_over_floor": 1.15,
    # extra peak memory of one linear_mse_grad call (no N-sized temporary): at most this
    "extra_memory_bytes": 2**20,
    # a train.fit epoch: >= this x faster with the fused loss than with the reference loss
    "epoch_vs_reference": 3,
}

GRAD_SHAPES = {
    "cpu": [(10_000_000, 1), (1_000_000, 16), (1_000_000, 64), (200_000, 256)],
    "cuda": [(100_000_000, 1), (10_000_000, 16), (1_000_000, 256)],
}
QUICK_SHAPES = [(200_000, 1), (20_000, 16)]
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
GRAD_DTYPES = {"cpu": ["float32", "float64"], "cuda": ["float32", "bfloat16"]}
FORWARD_SHAPES = {
    "cpu": [(10_000_000, 1), (1_000_000, 16)],
    "cuda": [(100_000_000, 1), (10_000_000, 16)],
}


def problem(N, D, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    X = torch.randn(N, D, generator=g, device=device, dtype=dtype)
    w = torch.randn(D, generator=g, device=device, dtype=dtype)
    b = torch.randn(1, generator=g, device=device, dtype=dtype)
    y = X @ w + b + torch.randn(N, generator=g, device=device, dtype=dtype)
    return X, w * 0.9, b, y  # a model near, not at, the fit


def eager_autograd(X, w, b, y):
    w = w.detach().requires_grad_()
    b = b.detach().requires_grad_()
    loss = ((X @ w + b - y) ** 2).mean()
    return (loss, *torch.autograd.grad(loss, [w, b]))


def read_floor_sum(X, y):
    return X.sum(), y.sum()


def read_floor_amax(X, y):
    return X.amax(), y.amax()


def grad_impls(X, w, b, y, compiled) -> dict:
    return {
        "floor_sum": lambda: read_floor_sum(X, y),
        "floor_amax": lambda: read_floor_amax(X, y),
        "fused": lambda: linreg_ext.linear_mse_grad(X, w, b, y),
        "eager": lambda: eager_autograd(X, w, b, y),
        "manual": lambda: reference.linear_mse_grad(X, w, b, y),
        "compiled": lambda: compiled(X, w, b, y),
    }


def forward_impls(X, w, b, compiled) -> dict:
    return {
        "fused": lambda: linreg_ext.linear_forward(X, w, b),
        "eager": lambda: reference.linear_forward(X, w, b),
        "compiled": lambda: compiled(X, w, b),
        # the bandwidth to compare with: read-only passes over X
        "floor_sum": lambda: X.sum(),
        "floor_amax": lambda: X.amax(),
    }


def call_impls(X, w, b, y) -> dict:
    return {
        "fused": lambda: linreg_ext.linear_mse_grad(X, w, b, y),
        "manual": lambda: reference.linear_mse_grad(X, w, b, y),
    }


def training_step(X, y, loss_fn, device):
    """One SGD step of the tutorial's model on (X, y) with loss_fn, as a closure."""
    model = linreg_ext.LinearRegression(X.shape[1]).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.011, momentum=0.89)

    def step():
        opt.zero_grad()
        loss_fn(X, model.weight, model.bias, y).backward()
        opt.step()

    return step


def check_correct(X, w, b, y):
    """Relative (norm-wise) error of the fused op against the float64 reference; raises if it
    breaks the tests' accuracy rule (linreg_ext._accuracy)."""
    got = linreg_ext.linear_mse_grad(X, w, b, y)
    exact = reference.linear_mse_grad(X.double(), w.double(), b.double(), y.double())
    pytorch = reference.linear_mse_grad(X, w, b, y)  # PyTorch's own error, in X's dtype
    for g, e, p in zip(got, exact, pytorch, strict=True):
        failure = accuracy_failure(g, e, p)
        if failure:
            raise SystemExit(f"linear_mse_grad is wrong at {tuple(X.shape)} {X.dtype}: {failure}")
    return max(relative_error(g, e) for g, e in zip(got, exact, strict=True))


def grad_section(shapes, dtypes, threads_list, device, budget):
    rows = []
    for threads in threads_list:
        if device == "cpu":
            torch.set_num_threads(threads)
        for dtype_name in dtypes:
            for N, D in shapes:
                torch._dynamo.reset()  # compiled code bakes in the thread count
                X, w, b, y = problem(N, D, DTYPES[dtype_name], device)
                err = check_correct(X, w, b, y)
                compiled = torch.compile(reference.linear_mse_grad, dynamic=False)
                timings = time_interleaved(grad_impls(X, w, b, y, compiled), device, budget)
                timings = report.with_floor(timings)
                nbytes = (X.numel() + y.numel()) * X.element_size()
                rows.append(report.grad_row(N, D, dtype_name, threads, nbytes, err, timings))
                print(report.grad_line(rows[-1]), flush=True)
    return rows


def forward_section(shapes, device, budget):
    rows = []
    for N, D in shapes:
        torch._dynamo.reset()
        X, w, b, y = problem(N, D, torch.float32, device)
        compiled = torch.compile(reference.linear_forward, dynamic=False)
        timings = report.with_floor(
            time_interleaved(forward_impls(X, w, b, compiled), device, budget)
        )
        nbytes = (X.numel() + N) * X.element_size()  # read X, write pred
        row = report.simple_row({"N": N, "D": D, "bytes": nbytes}, timings)
        row["floor_gbps"] = X.numel() * X.element_size() / timings["floor"].median_s / 1e9
        row["fused_over_floor"] = timings["fused"].median_s / timings["floor"].median_s
        rows.append(row)
        print(f"forward {N}x{D}: " + report.times_text(timings), flush=True)
    return rows


def small_section(device, budget):
    rows = []
    for N in (1, 100):
        X, w, b, y = problem(N, 1, torch.float32, device)
        calls = time_interleaved(call_impls(X, w, b, y), device, budget)
        steps = {
            "fused": training_step(X, y, linreg_ext.fused_mse_loss, device),
            "eager": training_step(X, y, reference.fused_mse_loss, device),
        }
        step_times = time_interleaved(steps, device, budget)
        rows.append(report.small_row(N, calls, step_times))
        print(
            f"small N={N}: call "
            + report.times_text(calls)
            + "; step "
            + report.times_text(step_times)
        )
    return rows


def scaling_section(rows_list, device, budget):
    rows = []
    for N in rows_list:
        X, w, b, y = problem(N, 1, torch.float32, device)
        impls = grad_impls(X, w, b, y, compiled=None)
        impls = {k: impls[k] for k in ("floor_sum", "floor_amax", "fused")}
        timings = report.with_floor(time_interleaved(impls, device, budget))
        rows.append(report.simple_row({"N": N, "D": 1, "bytes": 8 * N}, timings))
        print(f"scaling N={N}: " + report.times_text(timings), flush=True)
    return rows


def memory_probe(impl: str, N: int, D: int) -> None:
    """Run in a child process: prints the peak-memory growth (bytes) of one call of impl."""
    # Inputs made without temporaries, so that their creation sets no high-water mark of its own.
    X, y = torch.randn(N, D), torch.randn(N)
    w, b = torch.randn(D), torch.randn(1)
    fns = {
        "fused": linreg_ext.linear_mse_grad,
        "eager": eager_autograd,
        "manual": reference.linear_mse_grad,
    }
    fns[impl](X[:64], w, b, y[:64])  # start the thread pool and lazy initializations first
    before = peak_rss_bytes()
    fns[impl](X, w, b, y)
    print(peak_rss_bytes() - before)


def peak_rss_bytes() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: that survives
    exec, so a child started by a large parent would inherit the parent's peak."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def memory_section(N, D):
    rows = []
    for impl in ("fused", "eager", "manual"):
        out = subprocess.run(
            [sys.executable, __file__, "--memory-probe", impl, str(N), str(D)],
            capture_output=True,
            text=True,
            check=True,
        )
        extra = int(out.stdout.split()[-1])
        rows.append({"impl": impl, "N": N, "D": D, "extra_bytes": extra, "x_bytes": N * D * 4})
        print(f"memory {impl} {N}x{D}: {extra / 2**20:.1f} MiB extra at peak", flush=True)
    return rows


def e2e_section(N, D, epochs, device):
    X, _, _, y = problem(N, D, torch.float32, device)
    data = datasets.Dataset(X.cpu(), y.cpu(), [f"x{i}" for i in range(D)], "y", "generated")
    rows = []
    for loss in ("fused", "reference"):
        config = train.TrainConfig(epochs=epochs, device=device, loss=loss)
        result = train.fit(data, config, log=lambda _: None, progress=False)
        rows.append({"loss": loss, "N": N, "D": D, "epoch_s": result.seconds / epochs})
        print(f"e2e {loss}: {result.seconds / epochs * 1e3:.1f} ms per epoch", flush=True)
    return rows


def machine(device) -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "linreg_ext": linreg_ext.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        info["cpu"] = f"{names[0]} x {len(names)}" if names else info["cpu"]
    except OSError:
        pass
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", default="bench/results", help="directory for the outputs")
    parser.add_argument(
        "--memory-probe", nargs=3, metavar=("IMPL", "N", "D"), help=argparse.SUPPRESS
    )
    parser.add_argument("--sweep-d", action="store_true", help="run bench/sweep_d.py (every D)")
    args = parser.parse_args(argv)
    if args.sweep_d:
        import sweep_d

        return sweep_d.main(["--out", args.out] + ["--quick"] * args.quick)
    if args.memory_probe:
        memory_probe(args.memory_probe[0], int(args.memory_probe[1]), int(args.memory_probe[2]))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda, but no CUDA device is available", file=sys.stderr)
        return 1
    device, quick = args.device, args.quick
    all_threads = torch.get_num_threads()
    threads = [all_threads] if quick or device == "cuda" else sorted({all_threads, 1}, reverse=True)
    budget = 0.3 if quick else 3.0
    results = {"machine": machine(device), "device": device, "quick": quick}
    results["grad"] = grad_section(
        QUICK_SHAPES if quick else GRAD_SHAPES[device],
        ["float32"] if quick else GRAD_DTYPES[device],
        threads,
        device,
        budget,
    )
    torch.set_num_threads(all_threads)
    forward_shapes = [(200_000, 1)] if quick else FORWARD_SHAPES[device]
    results["forward"] = forward_section(forward_shapes, device, budget)
    results["small"] = small_section(device, budget)
    scaling = [10**4, 10**5, 10**6] if quick else [10**4, 10**5, 10**6, 10**7, 10**8]
    results["scaling"] = scaling_section(scaling, device, budget)
    if device == "cpu":
        results["memory"] = memory_section(10**6 if quick else 10**7, 1)
    e2e_shape = (100_000, 16, 2) if quick else (10_000_000, 16, 3)
    results["e2e"] = e2e_section(*e2e_shape, device)
    results["targets"] = report.targets(results, GOALS)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(report.markdown(results))
    report.plot(results, out / "throughput.png")
    print(f"\nwrote {out}/results.json, results.md, throughput.png")
    print(report.targets_text(results["targets"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
