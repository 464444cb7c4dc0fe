"""LinearRegression: a drop-in for nn.Linear(in_features, 1) whose forward runs the custom op."""

import math
import operator

import numpy as np
import torch
from torch import Tensor, nn

from .ops import fused_mse_loss, linear_forward

__all__ = ["LinearRegression"]


class LinearRegression(nn.Module):
    """y = X @ weight.T + bias with the parameters of nn.Linear(in_features, 1).

    Same parameter names, shapes (weight [1, D], bias [1]) and initialization as nn.Linear, so
    state dicts load both ways and the same seed gives the same starting point. Scriptable with
    torch.jit.script: forward calls torch.ops.linreg_ext.linear_forward.

    Args:
        in_features (int): D, the number of input features.
    """

    def __init__(self, in_features: int, device=None, dtype=None) -> None:
        super().__init__()
        # operator.index: any integer type, as nn.Linear takes (np.int64(3)); never a bool, which
        # is an int to Python but would make in_features=True.
        if isinstance(in_features, bool | np.bool_):
            raise TypeError(f"in_features must be an int, got a bool ({in_features!r})")
        try:
            in_features = operator.index(in_features)
        except TypeError:
            raise TypeError(
                f"in_features must be an int, got {type(in_features).__name__} ({in_features!r})"
            ) from None
        if in_features < 1:
            raise ValueError(f"in_features must be a positive int, got {in_features!r}")
        factory = {"device": device, "dtype": dtype}
        self.in_features = in_features
        self.weight = nn.Parameter(torch.empty(1, in_features, **factory))
        self.bias = nn.Parameter(torch.empty(1, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # nn.Linear's initialization, draw for draw.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, X: Tensor) -> Tensor:
        """X (Tensor[N, D]) -> predictions (Tensor[N, 1])."""
        return linear_forward(X, self.weight, self.bias).unsqueeze(1)

    @torch.jit.unused
    def loss(self, X: Tensor, y: Tensor) -> Tensor:
        """Mean squared error of the predictions for X (Tensor[N, D]) against y ([N] or [N, 1])."""
        return fused_mse_loss(X, self.weight, self.bias, y)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features=1"
