"""The package as installed: `python -m linreg_ext info` and the build/torch version check."""

import torch
from conftest import run_python

import linreg_ext


def test_info_reports_version_torch_and_backends():
    out = run_python("-m", "linreg_ext", "info", timeout=300)
    assert out.returncode == 0, out.stderr
    cuda_compiled = torch._C._dispatch_has_kernel_for_dispatch_key(
        "linreg_ext::linear_mse_grad", "CUDA"
    )
    assert f"linreg_ext {linreg_ext.__version__}" in out.stdout
    assert f"torch: {torch.__version__} running, {torch.__version__} at build time" in out.stdout
    assert "CPU kernels: yes" in out.stdout
    assert ("CUDA kernels: yes" if cuda_compiled else "CUDA kernels: no") in out.stdout


def test_import_explains_a_torch_version_mismatch():
    # A _build_info claiming another torch stands in for an extension built elsewhere.
    code = (
        "import sys, types\n"
        "sys.modules['linreg_ext._build_info'] = types.SimpleNamespace(TORCH_VERSION='2.0.0')\n"
        "import linreg_ext\n"
    )
    out = run_python("-c", code, timeout=300)
    assert out.returncode != 0
    assert "linreg_ext._C was built against torch 2.0.0, but torch" in out.stderr
    assert "pip install --no-build-isolation -e ." in out.stderr
    assert "undefined symbol" not in out.stderr


def test_ops_registered_without_python_autograd_are_cpp_kernels():
    # The C++ library alone defines the schemas and kernels (no Python-defined op).
    schema = torch.ops.linreg_ext.linear_mse_grad.default._schema
    assert str(schema) == (
        "linreg_ext::linear_mse_grad(Tensor X, Tensor weight, Tensor bias, Tensor y) "
        "-> (Tensor loss, Tensor grad_weight, Tensor grad_bias)"
    )
    assert torch._C._dispatch_has_kernel_for_dispatch_key("linreg_ext::linear_forward", "CPU")


def test_autograd_is_registered_in_cpp():
    # Autograd lives in C++ (no Python on a training step's path, and usable from LibTorch).
    for op in ("linear_forward", "linear_mse_grad"):
        dump = torch._C._dispatch_dump(f"linreg_ext::{op}")
        autograd = [line for line in dump.splitlines() if line.startswith("Autograd")]
        assert autograd and "csrc/autograd/linreg_autograd.cpp" in autograd[0], dump
