"""bench/sweep_d.py runs end to end (--quick), and bench/sweep_d_cuda.py's harness (gate, timing,
report, time limit) on the CPU kernels. Speed is judged from a full run, not here."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_quick_sweep_writes_its_report(tmp_path):
    out = subprocess.run(
        [sys.executable, ROOT / "bench" / "sweep_d.py", "--quick", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "correctness gate passed" in out.stdout
    results = json.loads((tmp_path / "sweep.json").read_text())
    assert {g["dtype"] for g in results["gate"]} == {"float32", "float64"}
    rows = results["sweep"]
    assert {(r["dtype"], r["threads"]) for r in rows} >= {("float32", 1), ("float64", 1)}
    for r in rows:
        assert r["grad_ratio"] > 0 and r["fwd_ratio"] > 0 and r["loop"]
        assert r["threads"] != 1 or r["ceiling_grad_ns_per_row"] >= 0
    assert "Targets" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- bench/sweep_d_cuda.py: the GPU sweep's harness, run on the CPU kernels here ---------------

sys.path.insert(0, str(ROOT / "bench"))
import sweep_d_cuda  # noqa: E402

import linreg_ext  # noqa: E402

# A tiny configuration: two dtypes x four D (one past the register kernels), 2 ms per timing.
TINY = ["--device", "cpu", "--ds", "1,3,17,300", "--elements", "6000", "--budget-ms", "2"]


NO_GPU_MESSAGE = (
    "error: --device cuda, but torch.cuda.is_available() is False "
    "(no GPU, or a CPU-only torch build)"
)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without GPU")
def test_sweep_d_device_cuda_without_a_gpu_exits_2_with_one_line(tmp_path):
    # Through bench/sweep_d.py, which hands --device cuda to bench/sweep_d_cuda.py.
    out = subprocess.run(
        [sys.executable, ROOT / "bench" / "sweep_d.py", "--device", "cuda", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.returncode, out.stderr.splitlines()) == (2, [NO_GPU_MESSAGE])
    assert not list(tmp_path.iterdir())


def test_cuda_sweep_without_a_gpu_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sweep_d_cuda.main(["--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.splitlines() == [NO_GPU_MESSAGE]
    assert not list(tmp_path.iterdir())


def test_cpu_refuses_half_types_before_any_work(tmp_path, capsys):
    assert sweep_d_cuda.main(TINY + ["--dtypes", "float32,float16", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --device cpu supports dtypes float32, float64, got float16"
    )
    assert not list(tmp_path.iterdir())


def test_cuda_sweep_harness_writes_its_report(tmp_path):
    # Run in a child: torch.compile (D = 1, float32) must not leave state in the test process.
    out = subprocess.run(
        [sys.executable, ROOT / "bench" / "sweep_d_cuda.py", *TINY, "--compare-ds", "1"]
        + ["--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "correctness gate passed" in out.stdout
    results = json.loads((tmp_path / "sweep.json").read_text())
    # The least-squares gate ran at the swept D it covers, in both dtypes.
    assert {(g["dtype"], g["D"]) for g in results["gate"]} == {
        (d, D) for d in ("float32", "float64") for D in (1, 3)
    }
    rows = results["sweep"]
    assert [(r["dtype"], r["D"]) for r in rows] == [
        (d, D) for D in (1, 3, 17, 300) for d in ("float32", "float64")
    ]
    for r in rows:
        itemsize = 4 if r["dtype"] == "float32" else 8
        assert r["N"] == 6000 // r["D"]
        t = r["ms"]
        floor = min(t["sum"], t["amax"])
        assert r["grad_ratio"] == pytest.approx(t["fused"] / floor)
        assert r["fwd_ratio"] == pytest.approx(t["forward"] / t["read_write"])
        grad_bytes = r["N"] * (r["D"] + 1) * itemsize  # X and y, read once
        assert r["GBps"]["floor"] == pytest.approx(grad_bytes / (floor * 1e-3) / 1e9)
        assert r["GBps"]["forward"] == pytest.approx(grad_bytes / (t["forward"] * 1e-3) / 1e9)
    (compared,) = results["compare"]  # float32 at D = 1, after the sweep
    assert compared["D"] == 1 and results["compare_note"] is None
    for impl in ("eager", "compiled"):
        assert compared["speedup"][impl] == pytest.approx(
            compared["ms"][impl] / compared["ms"]["fused"]
        )
    text = (tmp_path / "sweep.md").read_text()
    for D in (1, 3, 17, 300):  # on the CPU the kernel column names the CPU backend's loop
        assert f"| {D} | {torch.ops.linreg_ext._cpu_loop(D, torch.float32)} |" in text
    assert "float32 against PyTorch" in text and "torch.compile failed" not in text
    assert "Targets (<= 1.15" in text and "Stopped" not in text
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "sweep.partial.json").exists()


def test_time_limit_stops_between_shapes_and_still_reports(tmp_path):
    args = TINY + ["--dtypes", "float32", "--compare-ds", "", "--max-seconds", "0"]
    assert sweep_d_cuda.main(args + ["--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["D"] for r in results["sweep"]] == [1]  # the first shape always runs
    assert results["stopped"] == {"D": 3, "dtype": "float32"}
    assert "Stopped at the 0 s limit** before D=3 float32: 1 of 4 shapes" in (
        (tmp_path / "sweep.md").read_text()
    )


@pytest.mark.parametrize("op", ["linear_mse_grad", "linear_forward"])
def test_gate_names_the_first_wrong_shape(monkeypatch, op):
    real = getattr(linreg_ext, op)

    def off_at_d3(X, *args):  # right everywhere but D = 3, where one output is 1e-5 off
        out = real(X, *args)
        if X.shape[1] != 3:
            return out
        if op == "linear_forward":
            return out * (1 + 1e-5)
        return out[0], out[1] * (1 + 1e-5), out[2]

    monkeypatch.setattr(linreg_ext, op, off_at_d3)
    what = "pred" if op == "linear_forward" else "grad_weight"
    with pytest.raises(AssertionError, match=rf"^D=3 float32 {what} at N=2001: "):
        sweep_d_cuda.gate([1, 3, 17], ["float32", "float64"], "cpu", 6000)


def test_targets_name_each_miss():
    def row(D, grad, fwd):
        return {"dtype": "bfloat16", "D": D, "kernel": sweep_d_cuda.kernel_label(D)} | {
            "grad_ratio": grad,
            "fwd_ratio": fwd,
            "grad_ratio_p10": grad,
            "fwd_ratio_p10": fwd,
        }

    rows = [row(1, 1.02, 1.15), row(9, 1.16, 1.01), row(512, 1.40, 1.30)]
    missed = sweep_d_cuda.targets(rows)
    assert [(m["op"], m["D"]) for m in missed] == [
        ("linear_mse_grad", 9),
        ("linear_mse_grad", 512),
        ("linear_forward", 512),
    ]
    text = sweep_d_cuda.targets_text(missed, rows)
    assert text.startswith("- met: 3 of 6; **NOT MET**:")
    assert "linear_mse_grad bfloat16 D=9 (G=4 K=8): 1.16 x" in text
    assert (
        sweep_d_cuda.targets_text([], rows[:1])
        == "- met: all 2 (D, dtype, op) within 1.15 x the floor"
    )


def test_kernel_labels_follow_the_cuda_dispatch():
    # Parse with_row_shape and kMaxRegisterD from the CUDA sources: the labels must not drift.
    cu = (ROOT / "csrc" / "cuda" / "linreg_kernel.cu").read_text()
    body = cu[cu.index("void with_row_shape") :].split("\n}\n")[0]
    pairs = re.findall(
        r"integral_constant<int, (\d+)>\{\}, std::integral_constant<int, (\d+)>", body
    )
    limits = [int(d) for d in re.findall(r"D <= (\d+)\)", body)]
    assert len(pairs) == len(limits) + 1  # the last branch is the `else`
    cuh = (ROOT / "csrc" / "cuda" / "linreg_kernels.cuh").read_text()
    max_register = int(re.search(r"kMaxRegisterD = (\d+);", cuh).group(1))
    for D in sweep_d_cuda.DS:
        if D > max_register:
            want = "long rows"
        else:
            G, K = pairs[next((i for i, lim in enumerate(limits) if D <= lim), len(limits))]
            want = f"G={G} K={K}"
        assert sweep_d_cuda.kernel_label(D) == want, D


def test_a_failing_torch_compile_costs_the_comparison_only(monkeypatch, tmp_path):
    def broken(fn, **options):
        def call(*args):
            raise RuntimeError("no compiler here\nsecond line")

        return call

    monkeypatch.setattr(torch, "compile", broken)
    args = TINY + ["--dtypes", "float32", "--compare-ds", "1,2", "--out", str(tmp_path)]
    assert sweep_d_cuda.main(args) == 0
    results = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["D"] for r in results["sweep"]] == [1, 3, 17, 300]  # the sweep is whole
    assert results["compare"] == []
    note = "torch.compile failed at D=1: RuntimeError: no compiler here"
    assert results["compare_note"] == note
    assert f"Eager and compiled: {note}." in (tmp_path / "sweep.md").read_text()
