"""Shared fixtures, marks and inputs. Tests marked `cuda` are skipped, with the reason shown, when
this machine has no CUDA device; the same files run unchanged on a GPU machine.

sample_inputs() is the one generator of op inputs that the reference, gradient and opcheck tests
all draw from (pytorch/extension-cpp's test_extension.py pattern): every layout the kernels must
read (contiguous, transposed, sliced, expanded) with every combination of inputs requiring grad.
"""

import contextlib
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor

import linreg_ext  # registers the ops
from linreg_ext._accuracy import accuracy_failure

HAS_CUDA = torch.cuda.is_available()
ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device; torch.cuda.is_available() is False")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_cuda)


def run_python(*args, timeout=600) -> subprocess.CompletedProcess:
    """Runs this Python with args (text output captured) from tests/, so that `-m linreg_ext...`
    and `-c` import the installed package, never the checkout's linreg_ext/ folder, which has no
    compiled _C after a plain (non-editable) `pip install .`."""
    return subprocess.run(
        [sys.executable, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).parent,
    )


def cpp_program(env_var: str, name: str) -> Path:
    """A C++ program that `make cpp` builds (build/cmake/NAME), or the one env_var names."""
    return Path(os.environ.get(env_var, ROOT / "build" / "cmake" / name))


def require_built(path: Path, env_var: str) -> Path:
    """Skips the test, with the reason shown, when a C++ program is not built (a plain
    `pip install .[test]` builds none), unless env_var names it, as `make test` does: then a
    missing program fails the test."""
    if not path.is_file():
        missing = f"{path} is not built: run `make cpp` (or set {env_var})"
        if env_var in os.environ:
            pytest.fail(missing)
        pytest.skip(missing)
    return path


@pytest.fixture(scope="module")
def app() -> Path:
    """cpp_app's linreg_predict (LINREG_PREDICT overrides the path)."""
    return require_built(cpp_program("LINREG_PREDICT", "linreg_predict"), "LINREG_PREDICT")


# Parametrize over this to run a test on every device; the CUDA case carries the `cuda` mark.
DEVICES = [pytest.param("cpu", id="cpu"), pytest.param("cuda", id="cuda", marks=pytest.mark.cuda)]


def make_problem(N, D, dtype, device="cpu", seed=0, y_2d=False):
    """A random regression problem (X [N, D], weight [D], bias [1], y [N] or [N, 1]), seeded."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=torch.float64)
    weight = torch.randn(D, generator=g, dtype=torch.float64)
    bias = torch.randn(1, generator=g, dtype=torch.float64)
    y = X @ weight + bias + 0.5 * torch.randn(N, generator=g, dtype=torch.float64)
    # Targets are not an exact fit, and weight is perturbed, so residuals are not tiny.
    weight = weight + 0.3 * torch.randn(D, generator=g, dtype=torch.float64)
    if y_2d:
        y = y.unsqueeze(1)
    return tuple(t.to(device=device, dtype=dtype) for t in (X, weight, bias, y))


LAYOUTS = ("contiguous", "transposed", "sliced", "expanded")


def relayout(X, weight, bias, y, layout):
    """The problem in another memory layout: same shapes, views with other strides.

    transposed: X is a transposed view (columns contiguous). sliced: every other row and column
    of a larger X; weight and y with stride 2. expanded: stride-0 views (X's first column
    repeated across D, weight's first entry across D, y's first target across N, bias from a 0-D
    tensor), so the values change, and every kernel must still match the reference on them.
    """
    if layout == "contiguous":
        return X, weight, bias, y
    if layout == "expanded":
        N, D = X.shape
        X = X[:, :1].expand(N, D) if D else X
        weight = weight[:1].expand(D) if D else weight
        y = y[:1].expand(y.shape)
        return X, weight, bias.reshape(()).expand(bias.shape), y
    if layout == "transposed":
        X = X.t().contiguous().t()
    elif layout == "sliced":
        big = torch.zeros(2 * X.shape[0], 2 * X.shape[1], dtype=X.dtype, device=X.device)
        big[::2, ::2] = X
        X = big[::2, ::2]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    wide_w = torch.stack([torch.zeros_like(weight), weight], dim=1)  # weight with stride 2
    wide_y = torch.stack([y.reshape(-1), torch.zeros_like(y.reshape(-1))], dim=1)
    return X, wide_w[:, 1], bias, wide_y[:, 0].reshape(y.shape)


INPUT_NAMES = ("X", "weight", "bias", "y")


@dataclass
class Sample:
    args: tuple[Tensor, Tensor, Tensor, Tensor]  # X, weight, bias, y: linear_mse_grad's inputs
    layout: str  # one of LAYOUTS

    @property
    def requires_grad(self) -> bool:
        return any(t.requires_grad for t in self.args)

    def all_or_none_require_grad(self, arity: int = 4) -> bool:
        """Whether the first `arity` inputs (linear_forward: 3) all require grad, or none does."""
        return len({t.requires_grad for t in self.args[:arity]}) == 1

    def __repr__(self) -> str:
        """Shape, layout and which inputs require grad: what a failure message needs."""
        X, y = self.args[0], self.args[3]
        grads = "+".join(n for n, t in zip(INPUT_NAMES, self.args, strict=True) if t.requires_grad)
        return f"{list(X.shape)} y{list(y.shape)} {self.layout}, grad: {grads or 'none'}"


SAMPLE_SHAPES = ((1, 1), (6, 3), (9, 1))


def sample_inputs(device, dtype, shapes=SAMPLE_SHAPES, y_2d=(False, True)) -> Iterator[Sample]:
    """Inputs of the ops in every layout, with every combination of inputs requiring grad.

    Each (N, D) in shapes, each y shape ([N] and [N, 1] by default), each layout of LAYOUTS and
    each of the 16 subsets of (X, weight, bias, y) that require grad, including none. The
    tensors are fresh leaves (views of seeded data) for every sample.
    """
    for (N, D), y_is_2d in itertools.product(shapes, y_2d):
        problem = make_problem(N, D, dtype, device, seed=N * 100 + D, y_2d=y_is_2d)
        for layout in LAYOUTS:
            args = relayout(*problem, layout)
            for grads in itertools.product((False, True), repeat=4):
                leaves = tuple(
                    t.detach().requires_grad_(g) for t, g in zip(args, grads, strict=True)
                )
                yield Sample(leaves, layout)


@contextlib.contextmanager
def naming(sample: Sample) -> Iterator[None]:
    """Re-raises a failure inside as an AssertionError that names the sample, so that a loop over
    samples says which one failed."""
    try:
        yield
    except Exception as err:
        raise AssertionError(f"{sample}: {err}") from err


def assert_accurate(got, exact, pytorch, what):
    """got: kernel output; exact: float64 (or float32) reference; pytorch: reference in got's
    dtype. The rule itself is linreg_ext._accuracy's, shared with the benchmark."""
    assert got.dtype == pytorch.dtype and got.shape == pytorch.shape, what
    failure = accuracy_failure(got, exact, pytorch)
    assert failure is None, f"{what}: {failure}"


def check_against_reference(X, weight, bias, y, what=""):
    """Both ops against the plain-PyTorch reference, by the accuracy rule above."""
    from linreg_ext import reference

    got = linreg_ext.linear_mse_grad(X, weight, bias, y)
    same = reference.linear_mse_grad(X, weight, bias, y)
    ref64 = reference.linear_mse_grad(*(t.double() for t in (X, weight, bias, y)))
    for name, g, s, r in zip(("loss", "grad_weight", "grad_bias"), got, same, ref64, strict=True):
        assert_accurate(g, r, s, f"{what}{name}")
    pred = linreg_ext.linear_forward(X, weight, bias)
    pred_same = reference.linear_forward(X, weight, bias)
    pred64 = reference.linear_forward(X.double(), weight.double(), bias.double())
    assert_accurate(pred, pred64, pred_same, f"{what}pred")


# The .pt2 packages, compiled once per session for every test module that asks (AOTInductor
# compiles take 8-30 s): defined in pt2_fixtures.py, registered here so that they are shared.
from pt2_fixtures import baseline_pt2, pt2_dir, tutorial, wide64  # noqa: E402, F401
