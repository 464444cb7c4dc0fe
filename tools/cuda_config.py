"""The CUDA build facts, defined once: the default GPU architectures and the toolkit root.

setup.py imports this file; the Makefile and bench/gpu_check.sh run it (standard library only, so
it works before any virtual environment exists):

    python3 tools/cuda_config.py archs    the default TORCH_CUDA_ARCH_LIST
    python3 tools/cuda_config.py root     the CUDA toolkit root, or nothing when there is none
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# GPU architectures the CUDA kernels are compiled for unless TORCH_CUDA_ARCH_LIST says otherwise:
# A100, A10/A40/RTX 30xx, L4/L40/RTX 40xx, H100 (+PTX: later GPUs JIT-compile the 9.0 code).
DEFAULT_CUDA_ARCHS = "8.0;8.6;8.9;9.0+PTX"


def find_cuda_root() -> str | None:
    """The toolkit root, from CUDA_HOME/CUDA_PATH or from where nvcc really lives.

    nvcc on PATH may be a wrapper script (/usr/local/bin/nvcc), from which torch would guess the
    root wrongly; nvcc --dryrun prints the directory of the real binary.
    """
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None
    try:
        out = subprocess.run(
            [nvcc, "--dryrun", "-E", "-x", "cu", os.devnull],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return None
    match = re.search(r"^#\$ _HERE_=(.*)$", out.stdout + out.stderr, re.MULTILINE)
    here = Path(match.group(1).strip()) if match else Path(nvcc).resolve().parent
    return str(here.parent)


if __name__ == "__main__":
    facts = {"archs": lambda: DEFAULT_CUDA_ARCHS, "root": lambda: find_cuda_root() or ""}
    if len(sys.argv) != 2 or sys.argv[1] not in facts:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(facts)}")
    print(facts[sys.argv[1]]())
