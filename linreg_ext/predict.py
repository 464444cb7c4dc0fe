"""Predictions from an exported model, printed exactly as cpp_app's linreg_predict does.

    python -m linreg_ext.predict MODEL.pt 4.0 5.5     one-feature samples, one prediction per line

MODEL is a TorchScript file or an AOTInductor package (.pt2), told apart by content.

The Python twin of the C++ app, used to show (and test) that both give the same output for the
same file: each prediction is the shortest text that reads back as the same value in the model's
dtype, chosen the way C++'s std::to_chars chooses (fixed or scientific, whichever is shorter).
"""

import argparse
import sys

import numpy as np
import torch

from . import model_file


def format_prediction(value: float, dtype: torch.dtype) -> str:
    """Shortest round-trip text of value as `dtype`, fixed or scientific like std::to_chars."""
    x = np.float32(value) if dtype == torch.float32 else np.float64(value)
    if np.isfinite(x) and x == np.trunc(x) and abs(x) >= 1:
        fixed = str(int(x))  # to_chars writes the integer part exactly, not padded with zeros
    else:
        fixed = np.format_float_positional(x, unique=True, trim="-")
    scientific = np.format_float_scientific(x, unique=True, trim="-", exp_digits=2)
    return scientific if len(scientific) < len(fixed) else fixed


def predict(model: model_file.LoadedModel, values: list[float]) -> list[str]:
    dtype = model.dtype
    X = torch.tensor(values, dtype=torch.float64).reshape(-1, 1).to(dtype)
    with torch.inference_mode():
        pred = model(X).tolist()
    return [format_prediction(v, dtype) for v in pred]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linreg_ext.predict", description=__doc__)
    parser.add_argument("model", help="a .pt or .pt2 file from export/export.py")
    # REMAINDER, so that values such as -1e3 are not taken for options.
    parser.add_argument("values", nargs=argparse.REMAINDER, help="one-feature samples")
    args = parser.parse_args(argv)
    try:
        values = [float(v) for v in args.values]
    except ValueError as err:
        parser.error(str(err))
    if not values:
        parser.error("no values given")
    try:
        model = model_file.load(args.model)
        if model.in_features != 1:
            D = model.in_features
            raise model_file.ModelFileError(f"{args.model} takes {D} features, not 1")
        lines = predict(model, values)
    except (OSError, model_file.ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
