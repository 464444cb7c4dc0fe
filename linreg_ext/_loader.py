"""Loads linreg_ext._C, whose static initializers register the ops with the dispatcher.

A binary extension only works with the exact torch it was compiled against; a mismatch would
otherwise surface as an obscure "undefined symbol". setup.py records the build's torch version in
_build_info.py, and this module compares it with the running torch before loading anything.
"""

import importlib

import torch

REBUILD_HINT = (
    "rebuild it against the running torch: `pip install --no-build-isolation -e .` in the "
    "linreg_ext checkout (or `make build`)"
)


def load_extension() -> None:
    try:
        build_info = importlib.import_module("linreg_ext._build_info")
    except ImportError as err:
        raise ImportError(f"linreg_ext is not built (no _build_info.py); {REBUILD_HINT}") from err
    if build_info.TORCH_VERSION != torch.__version__:
        raise ImportError(
            f"linreg_ext._C was built against torch {build_info.TORCH_VERSION}, but torch "
            f"{torch.__version__} is running; {REBUILD_HINT}"
        )
    try:
        importlib.import_module("linreg_ext._C")
    except ImportError as err:
        raise ImportError(f"linreg_ext._C failed to load ({err}); {REBUILD_HINT}") from err
