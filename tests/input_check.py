"""Runs cpp_app's number and CSV readers through build/cmake/linreg_input_check (a driver built
by CMake from tests/cpp/input_check.cpp, no LibTorch); LINREG_INPUT_CHECK overrides the path."""

import subprocess

from conftest import cpp_program, require_built

DRIVER = cpp_program("LINREG_INPUT_CHECK", "linreg_input_check")


def _run(args: list[str], docs: list[bytes]) -> list[str]:
    require_built(DRIVER, "LINREG_INPUT_CHECK")
    stdin = "".join(d.hex() + "\n" for d in docs)
    out = subprocess.run(
        [str(DRIVER), *args], input=stdin.encode(), capture_output=True, timeout=300, check=True
    )
    lines = out.stdout.decode("utf-8").split("\n")[:-1]
    assert len(lines) == len(docs), out.stderr
    return lines


def cpp_numbers(texts: list[str]) -> list[str]:
    """For each text: "ok VALUE" (shortest round-trip float64) or "err MESSAGE"."""
    return _run(["numbers"], [t.encode("utf-8", "surrogateescape") for t in texts])


def cpp_csv(docs: list[bytes], in_features: int, float32: bool) -> list[str]:
    """For each CSV document: "ok V1 V2 ..." (row-major float64 values) or "err MESSAGE"."""
    return _run(["csv", str(in_features), "32" if float32 else "64"], docs)
