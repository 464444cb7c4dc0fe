"""The number grammar of every linreg_ext program: trainer, predictors, server.

One definition, twinned in C++ by cpp_app/numbers.{h,cpp}; both are tested against the one table
tests/data/number_grammar.json (text -> value, or the exact error message).

    number   = blank* sign? mantissa exponent? blank*      blank = ' ' | '\\t'
    sign     = '+' | '-'
    mantissa = digit+ ('.' digit*)? | '.' digit+           digit = '0'..'9' (ASCII only)
    exponent = ('e' | 'E') sign? digit+

The value is the text rounded to the nearest float64 (subnormals such as 1e-310 are kept; a value
below the smallest subnormal becomes a signed zero); a text that rounds to infinity (1e309) is
rejected. No hex (0x1p3), no nan/inf/infinity, no digit separators (1_000), no empty text.
"""

import math
import re
from collections.abc import Sequence

import numpy as np

_NUMBER = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
# Characters a column of numbers may hold at all; "\n" separates the joined column.
_OUTSIDE_GRAMMAR = re.compile(r"[^0-9+\-.eE \t\n]")
_QUOTE_LIMIT = 40
_GENERIC = "expected decimal digits with an optional sign, fraction and exponent, e.g. -1.5e3"


def quote_text(text: str) -> str:
    """`text` in single quotes, safe to print, exactly as cpp_app's quote_text writes it.

    The text's UTF-8 bytes (undecodable input kept via surrogateescape) outside printable ASCII
    are escaped (\\t \\r \\n, else \\xHH), and a text over 40 bytes is cut to 40 and "…".
    """
    raw = text.encode("utf-8", "surrogateescape")
    out = []
    for c in raw[:_QUOTE_LIMIT]:
        if c == 0x09:
            out.append("\\t")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        elif c < 0x20 or c >= 0x7F:
            out.append(f"\\x{c:02x}")
        else:
            out.append(chr(c))
    return "'" + "".join(out) + ("…" if len(raw) > _QUOTE_LIMIT else "") + "'"


def parse_number(text: str) -> float:
    """The value of `text` under the grammar above.

    Raises:
        ValueError: naming the text (quoted by quote_text) and why it is not a number.
    """
    if _NUMBER.fullmatch(text) is not None:
        value = float(text)  # correctly rounded, like std::from_chars
        if math.isfinite(value):
            return value
        reason = "it overflows float64 (largest magnitude 1.7976931348623157e308)"
    else:
        stripped = text.strip(" \t")
        word = stripped[1:] if stripped[:1] in ("+", "-") else stripped
        if not stripped:
            reason = "the field is empty"
        elif word.isascii() and word.lower() in ("nan", "inf", "infinity"):
            reason = "NaN and infinity are not accepted"
        else:
            reason = _GENERIC
    raise ValueError(f"{quote_text(text)} is not a finite number: {reason}")


def parse_numbers(texts: Sequence[str]) -> np.ndarray:
    """A column of texts as float64[len(texts)], each under the grammar above.

    Fast for whole columns: one regular-expression scan of the joined column rules out every
    character the grammar never allows, then Python's float() (whose grammar on the remaining
    characters is this one) converts; only a failing column is walked text by text, so that the
    error names the first bad text.

    Raises:
        ValueError: "row I: <parse_number's message>", I counting from 0.
    """
    if len(texts) == 0:
        return np.empty(0, dtype=np.float64)
    joined = "\n".join(texts)
    if _OUTSIDE_GRAMMAR.search(joined) is None and joined.count("\n") == len(texts) - 1:
        try:
            values = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
        except ValueError:
            pass
        else:
            if np.isfinite(values).all():
                return values
    for i, text in enumerate(texts):
        try:
            parse_number(text)
        except ValueError as err:
            raise ValueError(f"row {i}: {err}") from None
    raise AssertionError("unreachable: the column failed as a whole but not text by text")
