"""The specification of linreg_ext, in plain PyTorch: every kernel is tested against these.

Each function has the signature of the op of the same name (linreg_ext.ops) and returns the same
shapes. They favour obviousness over speed: the residual is materialized, autograd is PyTorch's.
"""

import torch
from torch import Tensor

__all__ = ["linear_forward", "linear_mse_grad", "fused_mse_loss"]


def linear_forward(X: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """pred[N] = X[N, D] @ weight[D] + bias."""
    return X @ weight.reshape(-1) + bias.reshape(())


def fused_mse_loss(X: Tensor, weight: Tensor, bias: Tensor, y: Tensor) -> Tensor:
    """mean((X @ weight + bias - y)**2), differentiable by PyTorch's autograd."""
    return torch.mean((linear_forward(X, weight, bias) - y.reshape(-1)) ** 2)


def linear_mse_grad(
    X: Tensor, weight: Tensor, bias: Tensor, y: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """(loss, grad_weight, grad_bias) from the closed-form gradient of the MSE.

    With r = X @ weight + bias - y: loss = mean(r**2), grad_weight = (2/N) X^T r,
    grad_bias = (2/N) sum(r), shaped like weight and bias.
    """
    r = linear_forward(X, weight, bias) - y.reshape(-1)
    n = X.shape[0]
    loss = torch.mean(r * r)
    grad_weight = (2.0 / n) * (r @ X)
    grad_bias = (2.0 / n) * r.sum()
    return loss, grad_weight.reshape(weight.shape), grad_bias.reshape(bias.shape)
