"""Instructions per row of each CPU loop shape (AVX2), counted by valgrind's callgrind.

    python bench/loop_instructions.py [D ...]

Builds bench/loop_count.cpp (the loops of csrc/cpu/linreg_loops.h, as kernels_avx2.cpp compiles
them), runs it under callgrind, and reports (instructions at N2 rows - at N1 rows) / (N2 - N1)
for mse_sums and forward: the loop's own cost per row, without call overhead or tails. Needs
g++ and valgrind; callgrind does not run AVX-512 code, so only the AVX2 loops are counted.
"""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import torch.utils.cpp_extension as ext

ROOT = Path(__file__).resolve().parents[1]
DS = list(range(1, 65)) + [96, 128, 256, 512, 1024]


def counts(ds) -> dict:
    """{(op, dtype, D): (loop, instructions per row)}"""
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "loop_count"
        includes = [f"-I{d}" for d in ext.include_paths()] + [f"-I{ROOT / 'csrc' / 'cpu'}"]
        src = ROOT / "bench" / "loop_count.cpp"
        subprocess.run(
            ["g++", "-O3", "-std=c++20", str(src), "-o", str(exe), *includes], check=True
        )
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--collect-atstart=no",
                f"--callgrind-out-file={tmp}/cg.out",
            ]
            + [str(exe)]
            + [str(d) for d in ds],
            check=True,
            capture_output=True,
        )
        ir = {}
        for dump in Path(tmp).glob("cg.out*"):
            text = dump.read_text(errors="replace")
            label = re.search(r"^desc: Trigger: Client Request: (.*)$", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if label and total:
                op, dtype, D, N, loop = label.group(1).split()
                ir[(op, dtype, int(D), int(N))] = (loop, int(total.group(1)))
    result = {}
    for (op, dtype, D, N), (loop, n2) in ir.items():
        if N == 4096:
            result[(op, dtype, D)] = (loop, (n2 - ir[(op, dtype, D, 2048)][1]) / 2048)
    return result


def main(argv=None) -> int:
    ds = [int(d) for d in (argv if argv is not None else sys.argv[1:])] or DS
    table = counts(ds)
    print("| D | loop | mse float32 | mse float64 | forward float32 | forward float64 |")
    print("|---|---|---|---|---|---|")
    for D in ds:
        loop = table[("mse", "float32", D)][0]
        cells = [
            f"{table[(op, dt, D)][1]:.1f}"
            for op in ("mse", "forward")
            for dt in ("float32", "float64")
        ]
        print(f"| {D} | {loop} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
