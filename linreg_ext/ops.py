"""Typed Python wrappers of the linreg_ext ops, with their fake kernels.

The ops are defined in C++ (csrc/ops.cpp) and run by the CPU and CUDA kernels; their autograd is
C++ too (csrc/autograd/linreg_autograd.cpp), so a training step never enters Python between the
forward and the backward, and a C++-only process can differentiate them. Beside each op sits its
`register_fake` (shapes for meta and fake tensors: torch.compile, opcheck), which repeats the C++
input checks (csrc/checks.h) with the same messages, because fake tensors never reach C++.
"""

import torch
from torch import Tensor

__all__ = ["linear_forward", "linear_mse_grad", "fused_mse_loss"]


def linear_forward(X: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """Predictions of a linear model, pred = X @ weight + bias.

    Args:
        X (Tensor[N, D]): inputs, float32 or float64 (CUDA also float16, bfloat16); any strides.
        weight (Tensor[D] or Tensor[1, D]): coefficients, same dtype and device as X.
        bias (Tensor[1] or 0-D): intercept, same dtype and device as X.

    Returns:
        Tensor[N]: pred, in X's dtype. Differentiable w.r.t. X, weight and bias.
    """
    return torch.ops.linreg_ext.linear_forward(X, weight, bias)


def _dtype_name(dtype: torch.dtype) -> str:
    """A dtype as the C++ checks print it: Python's name without "torch." (float32)."""
    return str(dtype).removeprefix("torch.")


def _check_linear(op: str, X: Tensor, weight: Tensor, bias: Tensor) -> None:
    torch._check(
        X.dim() == 2,
        lambda: f"{op}: X must be 2-D [N, D], got {X.dim()}-D with shape {list(X.shape)}",
    )
    torch._check(
        X.dtype.is_floating_point,
        lambda: f"{op}: X must be a floating-point tensor, got dtype {_dtype_name(X.dtype)}",
    )
    D = X.shape[1]
    torch._check(
        tuple(weight.shape) in ((D,), (1, D)),
        lambda: (
            f"{op}: weight must have shape [{D}] or [1, {D}] (one entry per column of X), "
            f"got shape {list(weight.shape)}"
        ),
    )
    torch._check(
        bias.dim() <= 1 and bias.numel() == 1,
        lambda: (
            f"{op}: bias must have shape [1] (or be a 0-D scalar tensor), "
            f"got shape {list(bias.shape)}"
        ),
    )
    for name, t in (("weight", weight), ("bias", bias)):
        _check_like_x(op, name, t, X)


def _check_like_x(op: str, name: str, t: Tensor, X: Tensor) -> None:
    torch._check(
        t.dtype == X.dtype,
        lambda: (
            f"{op}: {name} must have the dtype of X ({_dtype_name(X.dtype)}), "
            f"got {_dtype_name(t.dtype)}"
        ),
    )
    torch._check(
        t.device == X.device,
        lambda: f"{op}: {name} must be on the device of X ({X.device}), got {t.device}",
    )


# Shapes for meta and fake tensors (torch.compile, opcheck): the C++ kernels never see those.
@torch.library.register_fake("linreg_ext::linear_forward")
def _linear_forward_fake(X: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    _check_linear("linear_forward", X, weight, bias)
    return X.new_empty(X.shape[0])


def linear_mse_grad(
    X: Tensor, weight: Tensor, bias: Tensor, y: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Mean squared error of a linear model and its gradient, in one pass over X.

    With r = X @ weight + bias - y (never materialized):
    loss = mean(r**2), grad_weight = (2/N) X^T r, grad_bias = (2/N) sum(r).

    Args:
        X (Tensor[N, D]): inputs, N >= 1, float32 or float64 (CUDA also float16, bfloat16).
        weight (Tensor[D] or Tensor[1, D]): coefficients, same dtype and device as X.
        bias (Tensor[1] or 0-D): intercept, same dtype and device as X.
        y (Tensor[N] or Tensor[N, 1]): targets, same dtype and device as X.

    Returns:
        (loss (Tensor[]), grad_weight (weight's shape), grad_bias (bias's shape)), in X's dtype.
        loss is differentiable (see fused_mse_loss); grad_weight and grad_bias are plain values.
    """
    return torch.ops.linreg_ext.linear_mse_grad(X, weight, bias, y)


@torch.library.register_fake("linreg_ext::linear_mse_grad")
def _linear_mse_grad_fake(X: Tensor, weight: Tensor, bias: Tensor, y: Tensor):
    op = "linear_mse_grad"
    _check_linear(op, X, weight, bias)
    N = X.shape[0]
    torch._check(
        tuple(y.shape) in ((N,), (N, 1)),
        lambda: (
            f"{op}: y must have shape [{N}] or [{N}, 1] (one target per row of X), "
            f"got shape {list(y.shape)}"
        ),
    )
    _check_like_x(op, "y", y, X)
    torch._check(
        N > 0,
        lambda: (
            f"{op}: X must have at least one row; the mean squared error of an empty batch "
            f"is undefined, got shape {list(X.shape)}"
        ),
    )
    return X.new_empty(()), X.new_empty(weight.shape), X.new_empty(bias.shape)


def fused_mse_loss(X: Tensor, weight: Tensor, bias: Tensor, y: Tensor) -> Tensor:
    """Differentiable mean((X @ weight + bias - y)**2), forward and gradient in one pass.

    The forward runs linear_mse_grad and keeps its gradients; backward() multiplies them by the
    incoming gradient, so a training step reads X once. Gradients w.r.t. X and y are computed too
    when those require grad (one more pass over X).

    Args:
        X (Tensor[N, D]): inputs, N >= 1.
        weight (Tensor[D] or Tensor[1, D]): coefficients.
        bias (Tensor[1] or 0-D): intercept.
        y (Tensor[N] or Tensor[N, 1]): targets.

    Returns:
        Tensor[]: the loss, in X's dtype.
    """
    return torch.ops.linreg_ext.linear_mse_grad(X, weight, bias, y)[0]
