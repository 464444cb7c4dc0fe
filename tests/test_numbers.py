"""The number grammar (linreg_ext/numbers.py and cpp_app/numbers.h) against its one table of
cases, tests/data/number_grammar.json: each text's value, or the exact error message."""

import json
from pathlib import Path

import numpy as np
import pytest
from input_check import cpp_numbers

from linreg_ext.numbers import parse_number, parse_numbers, quote_text

CASES = json.loads((Path(__file__).parent / "data" / "number_grammar.json").read_text())["cases"]


def python_result(text: str) -> str:
    try:
        return "ok " + repr(parse_number(text))
    except ValueError as err:
        return f"err {err}"


def expected(case: dict) -> str:
    return "ok " + repr(float(case["value"])) if "value" in case else "err " + case["error"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ascii(c["text"])[:30])
def test_python_follows_the_table(case):
    assert python_result(case["text"]) == expected(case)


def test_cpp_follows_the_table():
    got = cpp_numbers([c["text"] for c in CASES])
    for case, line in zip(CASES, got, strict=True):
        if line.startswith("ok "):
            line = "ok " + repr(float(line[3:]))  # to_chars' shortest text, as a Python float
        assert line == expected(case), ascii(case["text"])


def test_the_table_covers_the_issue_cases():
    texts = {c["text"]: expected(c) for c in CASES}
    assert texts["1e-310"] == "ok 1e-310"  # subnormals are numbers (strtod said ERANGE)
    for rejected in ("nan", "inf", "-inf", "1e309", "0x1p3", "1_000", "", "NA", "\ufeff1"):
        assert texts[rejected].startswith("err "), rejected


def test_parse_numbers_is_parse_number_on_a_column():
    texts = [c["text"] for c in CASES if "value" in c]
    np.testing.assert_array_equal(parse_numbers(texts), [parse_number(t) for t in texts])
    assert parse_numbers([]).shape == (0,)
    with pytest.raises(ValueError, match=r"^row 2: 'nan' is not a finite number: NaN"):
        parse_numbers(["1", "2", "nan", "x"])
    with pytest.raises(ValueError, match=r"^row 1: '1\\n2' is not a finite number"):
        parse_numbers(["1", "1\n2"])  # a newline inside a text is not a separator
    with pytest.raises(ValueError, match=r"^row 0: '1e999' is not a finite number: it overflows"):
        parse_numbers(["1e999"])


def test_quote_text_escapes_and_cuts():
    assert quote_text("a\x00b\r\n\t\x7f\u00e9") == r"'a\x00b\r\n\t\x7f\xc3\xa9'"
    assert quote_text("1" * 41) == "'" + "1" * 40 + "…'"
    assert quote_text("1" * 40) == "'" + "1" * 40 + "'"
