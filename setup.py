"""Builds linreg_ext._C, the operator library, from csrc/.

The CUDA kernels (csrc/cuda/*.cu) are compiled when torch is a CUDA build and a CUDA toolkit is
found. LINREG_EXT_CUDA=1 insists on them (and fails if they cannot be built), LINREG_EXT_CUDA=0
leaves them out. TORCH_CUDA_ARCH_LIST narrows the GPU architectures for a faster build (the
default list, and the search for the toolkit, are tools/cuda_config.py's).

Build with: pip install --no-build-isolation -e .
"""

import glob
import os
import sys
from pathlib import Path

ROOT = Path(__file__).parent.resolve()
sys.path.insert(0, str(ROOT / "tools"))  # a PEP 517 build does not put setup.py's folder there
from cuda_config import DEFAULT_CUDA_ARCHS, find_cuda_root  # noqa: E402


def want_cuda(torch_cuda: str | None, cuda_root: str | None) -> bool:
    choice = os.environ.get("LINREG_EXT_CUDA", "").strip().lower()
    possible = torch_cuda is not None and cuda_root is not None
    if choice in ("1", "on", "true", "yes"):
        if not possible:
            raise RuntimeError(
                "LINREG_EXT_CUDA=1 but the CUDA kernels cannot be built: "
                f"torch.version.cuda={torch_cuda!r}, CUDA toolkit root={cuda_root!r} "
                "(install a CUDA build of torch and set CUDA_HOME to the toolkit root)"
            )
        return True
    if choice in ("0", "off", "false", "no"):
        return False
    if choice:
        raise RuntimeError(f"LINREG_EXT_CUDA must be 0 or 1 (or unset for auto), got {choice!r}")
    return possible


# torch.utils.cpp_extension reads CUDA_HOME once, on import: settle it first.
CUDA_ROOT = find_cuda_root()
if CUDA_ROOT:
    os.environ.setdefault("CUDA_HOME", CUDA_ROOT)
    os.environ.setdefault("CUDA_PATH", CUDA_ROOT)

import torch  # noqa: E402
from setuptools import setup  # noqa: E402
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402

WITH_CUDA = want_cuda(torch.version.cuda, CUDA_ROOT)
if WITH_CUDA:
    os.environ.setdefault("TORCH_CUDA_ARCH_LIST", DEFAULT_CUDA_ARCHS)


def write_build_info() -> None:
    """Records what _C is built against, so import can explain a mismatch (see _loader.py)."""
    info = {
        "TORCH_VERSION": torch.__version__,
        "TORCH_CUDA_VERSION": torch.version.cuda if WITH_CUDA else None,
        "CUDA_ARCH_LIST": os.environ.get("TORCH_CUDA_ARCH_LIST") if WITH_CUDA else None,
    }
    lines = ['"""Written by setup.py at build time; do not edit."""', ""]
    lines += [f"{key} = {value!r}" for key, value in info.items()]
    (ROOT / "linreg_ext" / "_build_info.py").write_text("\n".join(lines) + "\n")


def extension():
    # The op library is every .cpp under csrc/ but the Python module stub, the same glob that
    # CMakeLists.txt takes for the C++ app's library; the stub makes it importable as _C.
    stub = "csrc/python_module.cpp"
    sources = sorted(p for p in glob.glob("csrc/**/*.cpp", recursive=True) if p != stub) + [stub]
    cxx_flags = ["-O3"]
    link_flags = []
    # at::parallel_for runs its body serially unless the caller is compiled with OpenMP.
    if torch.backends.openmp.is_available():
        cxx_flags.append("-fopenmp")
        link_flags.append("-fopenmp")
    if not WITH_CUDA:
        return CppExtension(
            "linreg_ext._C",
            sources,
            extra_compile_args={"cxx": cxx_flags},
            extra_link_args=link_flags,
        )
    return CUDAExtension(
        "linreg_ext._C",
        sources + sorted(glob.glob("csrc/**/*.cu", recursive=True)),
        extra_compile_args={"cxx": cxx_flags, "nvcc": ["-O3", "-lineinfo"]},
        extra_link_args=link_flags,
    )


write_build_info()
setup(
    ext_modules=[extension()],
    cmdclass={"build_ext": BuildExtension},
)
