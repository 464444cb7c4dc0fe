"""The accuracy rule the kernels are held to, in one place: the tests and the benchmark use it.

A result is compared, norm-wise, with the exact answer (the plain-PyTorch reference evaluated in
float64, or in float32 for half types, on the same inputs). float64 must agree to 1e-12 relative.
Any other dtype is judged by a ratio: the kernel's error may be at most twice PyTorch's own error
in that dtype (the reference run in it), plus one rounding of the output; float32 must moreover
stay within 1e-6 relative.
"""

import torch
from torch import Tensor

# Relative (norm-wise) error allowed whatever PyTorch's own error is; half types: none (ratio only).
MAX_RELATIVE_ERROR = {torch.float64: 1e-12, torch.float32: 1e-6}


def relative_error(got: Tensor, exact: Tensor) -> float:
    """||got - exact|| / ||exact||, computed in float64."""
    exact = exact.double()
    return ((got.double() - exact).norm() / exact.norm()).item()


def accuracy_failure(got: Tensor, exact: Tensor, pytorch: Tensor | None = None) -> str | None:
    """What is wrong with the accuracy of `got`, in words, or None when it meets the rule.

    Args:
        got: the kernel's output.
        exact: the same quantity, computed more precisely (float64; float32 for half types).
        pytorch: the reference's output in got's dtype: PyTorch's own error, to compare with.
            Required for every dtype but float64.
    """
    exact = exact.double()
    scale = exact.norm().item()
    err = (got.double() - exact).norm().item()
    if got.dtype == torch.float64:  # nothing more exact to compare with: float64 must just agree
        limit = MAX_RELATIVE_ERROR[torch.float64] * scale + 1e-300
        return None if err <= limit else f"relative error {err / scale:.2e}"
    if pytorch is None:
        raise ValueError(f"the accuracy of {got.dtype} is judged against PyTorch's own error")
    base = (pytorch.double() - exact).norm().item()
    rounding = torch.finfo(got.dtype).eps * scale  # the unavoidable rounding of the output
    if not err <= 2 * base + rounding:
        return f"kernel error {err:.3e} vs PyTorch's own {base:.3e}"
    limit = MAX_RELATIVE_ERROR.get(got.dtype)
    if limit is not None and not err <= limit * scale:
        return f"relative error {err / scale:.2e} exceeds {limit:g}"
    return None
