"""`python -m linreg_ext info`: what this installation of linreg_ext is and can run."""

import argparse
import sys

import torch

import linreg_ext
from linreg_ext import _build_info

OPS = ("linear_forward", "linear_mse_grad")


def backends() -> dict[str, bool]:
    """Backends whose kernels are registered for every op, asked of the dispatcher itself."""
    has = torch._C._dispatch_has_kernel_for_dispatch_key
    return {key: all(has(f"linreg_ext::{op}", key) for op in OPS) for key in ("CPU", "CUDA")}


def info() -> str:
    compiled = backends()
    lines = [
        f"linreg_ext {linreg_ext.__version__}",
        f"torch: {torch.__version__} running, {_build_info.TORCH_VERSION} at build time",
        f"CPU kernels: {'yes' if compiled['CPU'] else 'no'} ({torch.get_num_threads()} threads)",
    ]
    if compiled["CPU"]:  # the instruction set the CPU loops run (LINREG_EXT_CPU_ISA forces one)
        lines[-1] += f", {torch.ops.linreg_ext._cpu_isa()} loops"
    if compiled["CUDA"]:
        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        lines.append(
            f"CUDA kernels: yes (CUDA {_build_info.TORCH_CUDA_VERSION}, "
            f"archs {_build_info.CUDA_ARCH_LIST}; {gpus} GPU(s) visible)"
        )
    else:
        lines.append("CUDA kernels: no (not compiled in)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linreg_ext", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="print the version, the torch it was built against, the backends")
    parser.parse_args(argv)
    print(info())
    return 0


if __name__ == "__main__":
    sys.exit(main())
