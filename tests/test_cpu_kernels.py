"""The CPU loops, shape by shape: every D from 1 to 64 and 96 to 1024, odd N, N = 1, non-contiguous
views (with NaN beside them), one and two threads, the gradient at an exact least-squares solution,
and each instruction set (AVX-512, AVX2, baseline) forced through LINREG_EXT_CPU_ISA.

The forced runs rerun this file in a subprocess with the variable set; a variant this CPU cannot
run is skipped, with the reason shown.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import check_against_reference, make_problem

import linreg_ext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import sweep_d  # noqa: E402  (the least-squares case, shared with the benchmark's gate)

DS = list(range(1, 65)) + [96, 128, 256, 512, 1024]
DTYPES = [torch.float32, torch.float64]
ISAS = ["avx512", "avx2", "baseline"]
FORCED = os.environ.get("LINREG_EXT_CPU_ISA")


@pytest.fixture(params=[1, 2], ids=lambda t: f"{t}thr")
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def row_counts(D):
    # N = 1, a few rows (only the scalar tails), odd N over many blocks, and enough rows that two
    # threads each get a chunk (ATen's grain is about 32K elements).
    return [1, 7, 203, 70_001 // D | 1]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("D", DS)
def test_every_width_matches_reference(D, dtype, threads):
    for N in row_counts(D):
        check_against_reference(*make_problem(N, D, dtype, seed=D + N), f"{N}x{D} ")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("D", [1, 2, 3, 5, 6, 7, 8, 9, 16, 17, 32, 33, 64, 65, 96, 256])
def test_sliced_rows_and_strided_y_ignore_nan_beside_them(D, dtype, threads):
    # X is columns [1, D + 1) of a wider tensor whose other columns are NaN: rows are contiguous
    # but not adjacent, and loops that load whole vectors past column D must not let NaN in.
    N = 4099
    X, weight, bias, y = make_problem(N, D, dtype, seed=D)
    big = torch.full((N, D + 5), float("nan"), dtype=dtype)
    big[:, 1 : D + 1] = X
    ybig = torch.full((N, 3), float("nan"), dtype=dtype)
    ybig[:, 1] = y
    Xv, yv = big[:, 1 : D + 1], ybig[:, 1]
    assert Xv.stride() == (D + 5, 1) and yv.stride() == (3,)
    check_against_reference(Xv, weight, bias, yv, f"view {N}x{D} ")
    assert all(t.isfinite().all() for t in linreg_ext.linear_mse_grad(Xv, weight, bias, yv))
    assert linreg_ext.linear_forward(Xv, weight, bias).isfinite().all()


# Run in a child: a read past X's end would kill the interpreter (SIGSEGV), not fail a test.
GUARDED_X = """
import ctypes, mmap, sys
import numpy as np, torch
import linreg_ext
from linreg_ext import reference

libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
page = mmap.PAGESIZE
for dtype in (np.float32, np.float64):
    for D in range(1, 20):
        for N in (1, 4, 5, 8, 9, 32, 33, 100, 101):  # every N mod 4: the blocks end anywhere
            for stride in (D, D + 3):
                n = (N - 1) * stride + D  # the elements the view X spans
                size = -(-n * np.dtype(dtype).itemsize // page) * page
                region = mmap.mmap(-1, size + page)
                start = ctypes.addressof(ctypes.c_char.from_buffer(region))
                assert libc.mprotect(start + size, page, 0) == 0  # PROT_NONE after X
                flat = np.frombuffer(region, dtype, n, size - n * np.dtype(dtype).itemsize)
                flat[:] = np.random.default_rng(D).standard_normal(n)
                X = torch.from_numpy(flat).as_strided((N, D), (stride, 1))
                w, b = torch.randn(D, dtype=X.dtype), torch.randn(1, dtype=X.dtype)
                y = torch.randn(N, dtype=X.dtype)
                got = linreg_ext.linear_mse_grad(X, w, b, y)[1]
                want = reference.linear_mse_grad(X.double(), w.double(), b.double(), y.double())[1]
                assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-6), (D, N, stride)
                pred = linreg_ext.linear_forward(X, w, b).double()
                want = reference.linear_forward(X.double(), w.double(), b.double())
                assert torch.allclose(pred, want, rtol=1e-5, atol=1e-6), (D, N, stride)
                del X, flat
print("ok")
"""


def test_float32_short_rows_take_the_transposed_loop_with_avx2():
    # The loop the benchmark reports for D = 3..10 is the one that runs (AVX2 only).
    loops = [torch.ops.linreg_ext._cpu_loop(D, torch.float32) for D in range(1, 12)]
    if torch.ops.linreg_ext._cpu_isa() != "avx2":
        assert "short_rows_transposed" not in loops
        return
    assert loops == ["column", "short_rows"] + ["short_rows_transposed"] * 8 + ["blocked_rows"]
    assert torch.ops.linreg_ext._cpu_loop(5, torch.float64) == "short_rows"
    with pytest.raises(RuntimeError, match="dtype must be float32 or float64, got Half"):
        torch.ops.linreg_ext._cpu_loop(5, torch.float16)


def test_loops_never_read_past_the_end_of_x():
    # X ends where an inaccessible page begins: loops that load whole vectors (up to 16
    # elements from a row's start) must load only rows that leave that much of X after them.
    out = subprocess.run(
        [sys.executable, "-c", GUARDED_X], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", (out.returncode, out.stderr[-2000:])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("D", [2, 5, 16, 40, 100])
def test_transposed_x(D, dtype, threads):
    X, weight, bias, y = make_problem(1001, D, dtype, seed=D)
    check_against_reference(X.t().contiguous().t(), weight, bias, y, f"transposed 1001x{D} ")


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs an 80-bit long double")
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("D", [1, 2, 3, 4, 6, 7, 8, 16, 17, 32, 33, 64, 96, 256])
def test_gradient_at_least_squares_solution(D, dtype, threads):
    # There the true gradient is tiny (zero up to the rounding of the solution to dtype) and a sum
    # of large terms of both signs: PyTorch's float32 is off by 1e-3 to 100%; the kernel must be
    # within 1e-6 in float32 (float64 arithmetic inside). In float64 the gradient is about 1e-16
    # of its terms, so the bound is relative to their mass (see bench/sweep_d.py).
    X, weight, bias, y = sweep_d.least_squares_problem(20_001, D, dtype, seed=D)
    want = sweep_d.exact_gradient(X, weight, bias, y)
    got = linreg_ext.linear_mse_grad(X, weight, bias, y)[1:]
    err = sweep_d.absolute_error(got, want)
    mass = sweep_d.gradient_mass(X, weight, bias, y)
    assert sweep_d.least_squares_error_ok(dtype, err, want, mass), (
        f"relative error {sweep_d.relative_error(got, want):.2e} (of the mass: {err / mass:.1e})"
    )


def test_forced_instruction_set_is_the_one_running():
    supported = torch.ops.linreg_ext._cpu_isas_supported()
    assert supported[-1] == "baseline" and torch.ops.linreg_ext._cpu_isa() in supported
    if FORCED:
        assert torch.ops.linreg_ext._cpu_isa() == FORCED
    else:
        assert torch.ops.linreg_ext._cpu_isa() == supported[0]  # the best one by default


def run_python(code, isa):
    env = dict(os.environ, LINREG_EXT_CPU_ISA=isa)
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_unknown_or_unsupported_instruction_set_is_an_error():
    code = "import torch, linreg_ext; print(torch.ops.linreg_ext._cpu_isa())"
    out = run_python(code, "avx9000")
    assert out.returncode != 0 and "LINREG_EXT_CPU_ISA must be one of avx512, avx2" in out.stderr
    for isa in ISAS:
        if isa not in torch.ops.linreg_ext._cpu_isas_supported():
            out = run_python(code, isa)
            assert out.returncode != 0 and f"this CPU cannot run the {isa} kernels" in out.stderr


@pytest.mark.skipif(FORCED is not None, reason="already running with one instruction set forced")
@pytest.mark.parametrize("isa", ISAS)
def test_each_instruction_set_forced(isa):
    if isa not in torch.ops.linreg_ext._cpu_isas_supported():
        pytest.skip(f"this CPU cannot run the {isa} loops (x86-64 level not supported)")
    env = dict(os.environ, LINREG_EXT_CPU_ISA=isa)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", __file__]
    out = subprocess.run(
        cmd, env=env, cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, f"{isa}:\n{out.stdout[-4000:]}\n{out.stderr[-2000:]}"
