"""linreg_ext: a fused linear-regression MSE operator for PyTorch, in C++ and CUDA.

Importing the package loads the compiled op library, whose C++ registers torch.ops.linreg_ext.*
with their CPU and CUDA kernels and their autograd (csrc/autograd/), then the Python fake kernels
(linreg_ext.ops) that meta and fake tensors need: torch.compile, opcheck.
"""

from ._loader import load_extension
from ._version import __version__

load_extension()

from . import reference  # noqa: E402
from .model import LinearRegression  # noqa: E402
from .ops import fused_mse_loss, linear_forward, linear_mse_grad  # noqa: E402

__all__ = [
    "LinearRegression",
    "fused_mse_loss",
    "linear_forward",
    "linear_mse_grad",
    "reference",
    "__version__",
]
