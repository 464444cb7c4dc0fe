"""Shared fixtures and marks. Tests marked `cuda` are skipped, with the reason shown, when this
machine has no CUDA device; the same files run unchanged on a GPU machine."""

import pytest
import torch

import linreg_ext  # noqa: F401  (registers the ops)

HAS_CUDA = torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="needs a CUDA device; torch.cuda.is_available() is False")
    for item in items:
        if "cuda" in item.keywords and not HAS_CUDA:
            item.add_marker(skip_cuda)


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
