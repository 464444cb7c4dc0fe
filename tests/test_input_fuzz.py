"""Differential fuzzing of the number and CSV readers: cpp_app (through linreg_input_check)
against linreg_ext.numbers / linreg_ext.csv_input on generated inputs, a bounded number of them
(seeded, a few seconds). Both must give the same values, or the same message, for every input."""

import random
import subprocess

import pytest
from conftest import require_built
from input_check import DRIVER, cpp_csv, cpp_numbers

from linreg_ext import csv_input
from linreg_ext.numbers import parse_number

NUMBER_CASES = 20_000
CSV_CASES = 5_000
# Pieces of the grammar and of its neighbours: the generator glues a few of them together.
PIECES = [*"0123456789.eE+-", " ", "\t", "\r", "\n", ",", '"', "#", "_", "x", "nan", "inf", "NA"]
PIECES += ["1e-310", "308", "324", "999", "0x1p3", "\ufeff", "\x00", "\xa0", "\u0661", "\udcff"]


def random_text(rng: random.Random, max_pieces: int = 8) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(max_pieces + 1)))


def python_number(text: str) -> str:
    try:
        return "ok " + repr(parse_number(text))
    except ValueError as err:
        return f"err {err}"


def python_csv(doc: bytes, in_features: int, float32: bool) -> str:
    try:
        samples = csv_input.samples_from_csv(doc, "input", in_features, float32)
    except csv_input.InputError as err:
        return f"err {err}"
    return "ok " + " ".join(repr(v) for v in samples.reshape(-1).tolist())


def as_python_floats(line: str) -> str:
    if not line.startswith("ok"):
        return line
    return " ".join(["ok", *(repr(float(v)) for v in line.split()[1:])])


def test_random_numbers_agree():
    rng = random.Random(11)
    texts = [random_text(rng) for _ in range(NUMBER_CASES)]
    texts += [
        f"{rng.uniform(-1, 1):.{rng.randrange(20)}e}{rng.randrange(-330, 330)}" for _ in range(2000)
    ]
    got = [as_python_floats(line) for line in cpp_numbers(texts)]
    mismatches = [
        (t, g, python_number(t)) for t, g in zip(texts, got, strict=True) if g != python_number(t)
    ]
    assert not mismatches, mismatches[:5]
    accepted = sum(g.startswith("ok") for g in got)
    assert accepted > 1000  # the generator reaches the accepting side too


def random_csv(rng: random.Random, in_features: int) -> bytes:
    """Mostly-valid documents with one hostile detail, or free-form junk."""
    good = ["1", "2.5", " -3e38", "3.5e38", "1e-310", '"4"', "0x1", "nan", "", "7 "]
    if rng.random() < 0.5:
        lines = [
            ",".join(rng.choice(good[:5]) for _ in range(in_features))
            for _ in range(rng.randrange(1, 4))
        ]
        if rng.random() < 0.5:
            lines[rng.randrange(len(lines))] = ",".join(rng.choices(good, k=in_features))
    else:
        lines = [
            ",".join(random_text(rng, 3) for _ in range(rng.randrange(1, 4)))
            for _ in range(rng.randrange(1, 5))
        ]
    if rng.random() < 0.4:
        header = ["x,y", "x", '"a","b"', "\ufeffx,y", "# c", "NA,1", "nan", "_a,\u00e9", "a,1"]
        lines.insert(0, rng.choice(header))
    text = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
    return text.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("float32", [False, True], ids=["float64", "float32"])
@pytest.mark.parametrize("in_features", [1, 2])
def test_random_csv_agree(in_features, float32):
    rng = random.Random(12 + 2 * in_features + float32)
    docs = [random_csv(rng, in_features) for _ in range(CSV_CASES)]
    got = [as_python_floats(line) for line in cpp_csv(docs, in_features, float32)]
    for doc, line in zip(docs, got, strict=True):
        assert line == python_csv(doc, in_features, float32), doc
    assert sum(g.startswith("ok") for g in got) > CSV_CASES // 10


def test_cpp_invariants_on_generated_inputs():
    require_built(DRIVER, "LINREG_INPUT_CHECK")
    out = subprocess.run(
        [str(DRIVER), "random", "7", "50000"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("50000 inputs, ")
