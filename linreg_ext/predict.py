"""Predictions from an exported model, the Python twin of cpp_app's linreg_predict.

    python -m linreg_ext.predict MODEL.pt 4.0 5.5       one-feature samples (-- before --1)
    python -m linreg_ext.predict MODEL.pt --csv FILE    rows of D features (optional header)

MODEL is a TorchScript file or an AOTInductor package (.pt2), told apart by content
(linreg_ext.model_file, the twin of cpp_app/model.cpp). The same options, input rules
(linreg_ext.csv_input, linreg_ext.numbers), messages (after the program name), exit codes and
output as the C++ app, so that it is the reference the C++ app and the server are compared with:
each prediction is the shortest text that reads back as the same value in the model's dtype,
chosen the way C++'s std::to_chars chooses (fixed or scientific, whichever is shorter). Exit
codes: 0 success (and --help), 1 a bad model or input, 2 a bad command line. When stdout is
closed early (`| head -1`) it dies quietly of SIGPIPE, as the C++ app does.
"""

import os
import signal
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from . import csv_input, model_file

PROG = "python -m linreg_ext.predict"
USAGE = (
    f"usage: {PROG} MODEL.pt [VALUE ...] [--csv FILE|-] [--device cpu|cuda] [--info]\n"
    "                  [-h|--help] [--] [VALUE ...]\n"
    "  VALUE ...       one sample per value (models with one feature); after --, every\n"
    "                  argument is a value (or the model, if not given yet)\n"
    "  --csv FILE      rows of comma-separated features, optional header; '-' reads stdin\n"
    "  --device DEV    cpu (default) or cuda\n"
    "  --info          print the model's metadata.json and exit\n"
)


def format_prediction(value: float, dtype: torch.dtype) -> str:
    """Shortest round-trip text of value as `dtype`, fixed or scientific like std::to_chars."""
    x = np.float32(value) if dtype == torch.float32 else np.float64(value)
    if np.isfinite(x) and x == np.trunc(x) and abs(x) >= 1:
        fixed = str(int(x))  # to_chars writes the integer part exactly, not padded with zeros
    else:
        fixed = np.format_float_positional(x, unique=True, trim="-")
    scientific = np.format_float_scientific(x, unique=True, trim="-", exp_digits=2)
    return scientific if len(scientific) < len(fixed) else fixed


def predict(model: model_file.LoadedModel, samples, device: str = "cpu") -> list[str]:
    """Formatted predictions for samples: a list of one-feature values, or float64[N, D]."""
    dtype = model.dtype
    X = torch.as_tensor(np.asarray(samples, dtype=np.float64))
    X = X.reshape(-1, 1) if X.dim() == 1 else X
    with torch.inference_mode():
        pred = model(X.to(device, dtype)).to("cpu", torch.float64)
    return [format_prediction(v, dtype) for v in pred.tolist()]


class UsageError(Exception):
    """A bad command line: the message and the usage go to stderr, exit 2."""


class PredictError(Exception):
    """A bad model or input: one line on stderr, exit 1."""


@dataclass
class Options:
    model: str = ""
    values: list[str] = field(default_factory=list)
    csv: str = ""
    device: str = "cpu"
    info: bool = False
    help: bool = False


def parse_args(argv: list[str]) -> Options:
    """linreg_predict's parse_args (cpp_app/options.cpp), rule for rule."""
    opt = Options()
    have_model = options_ended = False
    args = iter(argv)
    for arg in args:
        if options_ended or not (arg.startswith("--") or arg == "-h"):
            if have_model:
                opt.values.append(arg)
            else:
                opt.model, have_model = arg, True
        elif arg == "--":
            options_ended = True
        elif arg in ("--csv", "--device"):
            value = next(args, None)
            if value is None:
                raise UsageError(f"{arg} needs a value")
            setattr(opt, arg[2:], value)
        elif arg == "--info":
            opt.info = True
        elif arg in ("-h", "--help"):
            opt.help = True
            return opt
        else:
            raise UsageError(f"unknown option {arg} (put -- before values that start with --)")
    if not have_model:
        raise UsageError("no model given")
    if opt.device not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda, got '{opt.device}'")
    if not opt.info and bool(opt.values) == bool(opt.csv):
        raise UsageError(
            "no input: give values or --csv FILE"
            if not opt.values
            else "give values or --csv, not both"
        )
    return opt


def _first_line(message: str) -> str:
    return next((line for line in message.splitlines() if line.strip(" \t")), "")


def _load_model(path: str) -> model_file.LoadedModel:
    """The model at `path` (.pt or .pt2), with cpp_app/model.cpp's checks and messages."""
    try:
        return model_file.load(path)
    except model_file.ModelFileError as err:
        raise PredictError(str(err)) from None


def run(opt: Options) -> int:
    """linreg_predict's run (cpp_app/main.cpp), step for step."""
    if os.path.isdir(opt.model):
        raise PredictError(f"model file '{opt.model}' is a directory")
    model = _load_model(opt.model)
    if opt.info:
        sys.stdout.write(model.metadata_text + "\n")
        return 0
    if model.dtype not in (torch.float32, torch.float64):
        raise PredictError(
            f"the model's dtype {str(model.dtype).removeprefix('torch.')} is not float32 or float64"
        )
    float32 = model.dtype == torch.float32
    if not opt.csv:
        samples = csv_input.samples_from_values(opt.values, model.in_features, float32)
    elif opt.csv == "-":
        samples = csv_input.samples_from_csv(
            sys.stdin.buffer.read(), "stdin", model.in_features, float32
        )
    else:
        if os.path.isdir(opt.csv):
            raise PredictError(f"CSV file '{opt.csv}' is a directory")
        try:
            with open(opt.csv, "rb") as f:
                data = f.read()
        except OSError:
            raise PredictError(f"cannot open CSV file '{opt.csv}'") from None
        samples = csv_input.samples_from_csv(data, opt.csv, model.in_features, float32)
    if opt.device == "cuda" and not torch.cuda.is_available():
        raise PredictError("--device cuda: CUDA is not available (no GPU, or a CPU-only build)")
    model.to(opt.device)
    lines = predict(model, samples, opt.device)
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        opt = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as err:
        sys.stderr.write(f"{PROG}: {err}\n{USAGE}")
        return 2
    if opt.help:
        sys.stdout.write(USAGE)
        return 0
    try:
        return run(opt)
    except (PredictError, model_file.ModelFileError, csv_input.InputError, RuntimeError) as err:
        print(f"{PROG}: {_first_line(str(err))}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    # Die of SIGPIPE when stdout is closed early, as linreg_predict does (Python ignores it and
    # raises BrokenPipeError). Only here: a program importing this module keeps its own handling.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
