"""Exports a trained LinearRegression for the C++ app (cpp_app/): TorchScript, or an AOTInductor
package (.pt2).

    python export/export.py [--checkpoint CKPT] --out model.pt [--force]
    python export/export.py ... --out model.pt2 [--cpu-isa avx2|baseline|native] [--device cpu|cuda]
    python -m linreg_ext.export ...                                  (the same program)

The format follows --out's extension (.pt2: AOTInductor, anything else: TorchScript) unless
--format says otherwise. The model's forward calls torch.ops.linreg_ext.linear_forward (the
custom op itself, which the C++ app links), and the file carries metadata.json: in_features,
feature and target names, dtype, the training summary and the library and torch versions
(train.describe); a .pt2 adds the device and the CPU instruction set it was compiled for
(linreg_ext.aoti: avx2 by default, which runs on any x86-64-v3 CPU).
With no checkpoint, the program first trains on the bundled dataset. Before reporting success it
loads the written file back and checks that it reproduces the in-memory model's predictions; the
file appears at --out only then (written to a temporary file and renamed).

A model with a NaN or infinite parameter, or whose feature names do not match in_features, is
refused. --out is checked before any work and written as linreg_ext._io.atomic_write describes
(never over an existing file without --force, never over a directory, FIFO, device or symbolic
link; mode 0666 less the umask). Exit codes as linreg_ext._cli lists them.
"""

import argparse
import copy
import sys
from pathlib import Path

import torch

from . import aoti, model_file, torchscript
from ._cli import INTERRUPTED, Console, fail
from ._io import atomic_write, check_output
from .datasets import bundled_dataset
from .model import LinearRegression
from .predict import format_prediction
from .train import TrainConfig, describe, fit, load_checkpoint, versions


def train_default() -> tuple[LinearRegression, dict]:
    """A model trained on the bundled dataset with the default config, and its description."""
    data = bundled_dataset()
    config = TrainConfig()
    result = fit(data, config, log=lambda _: None, progress=False)
    return result.model, describe(result, data, config)


def verification_inputs(model: LinearRegression) -> torch.Tensor:
    """Rows on which the written file must reproduce the model: all-4.0 and 64 random ones."""
    g = torch.Generator().manual_seed(0)
    X = 10 * torch.randn(64, model.in_features, generator=g, dtype=torch.float64)
    return torch.cat([torch.full((1, model.in_features), 4.0, dtype=torch.float64), X]).to(
        model.weight.dtype
    )


def check_exportable(model: LinearRegression, description: dict) -> None:
    """ValueError unless the model's numbers are finite and its description fits it.

    A NaN or infinite weight predicts nothing useful; feature names that do not match
    in_features would mislabel every column of the C++ app's input.
    """
    for name, p in (("weights", model.weight), ("bias", model.bias)):
        if torch.isnan(p).any():
            raise ValueError(f"the model's {name} are NaN; it cannot be exported (retrain it)")
        if not torch.isfinite(p).all():
            raise ValueError(f"the model's {name} are infinite; it cannot be exported (retrain it)")
    D = model.in_features
    if description.get("in_features", D) != D:
        raise ValueError(
            f"the description says in_features={description['in_features']!r}, the model has {D}"
        )
    names = description.get("feature_names")
    if names is not None:
        if not (isinstance(names, list) and all(isinstance(n, str) and n for n in names)):
            raise ValueError(f"feature_names must be a list of non-empty names, got {names!r}")
        if len(names) != D:
            raise ValueError(f"{len(names)} feature_names for a model of {D} in_features")
        if len(set(names)) != D:
            raise ValueError(f"feature_names must be unique, got {names!r}")


FORMATS = ("torchscript", "pt2")


def output_format(out: Path, fmt: str | None = None) -> str:
    """--format, or the one --out's extension names."""
    return fmt or ("pt2" if out.suffix == ".pt2" else "torchscript")


def export(
    model: LinearRegression,
    description: dict,
    out: Path,
    force: bool,
    fmt: str = "torchscript",
    cpu_isa: str = aoti.DEFAULT_CPU_ISA,
    device: str = "cpu",
) -> dict:
    """Writes and verifies the model as `fmt`; returns the metadata written.

    The metadata is `description` (train.describe's fields) with the versions that wrote the file
    (and for a .pt2, its device and CPU instruction set). Refuses a model that check_exportable
    refuses.
    """
    check_exportable(model, description)
    model = model.eval()
    metadata = {**description, **versions()}
    if fmt == "pt2":
        return export_pt2(model, metadata, out, force, cpu_isa, device)
    scripted = torchscript.script(model)
    if "linreg_ext::linear_forward" not in str(scripted.inlined_graph):
        raise RuntimeError("the scripted forward does not call linreg_ext::linear_forward")
    X = verification_inputs(model)
    with torch.no_grad():
        expected = model(X)

    def write_and_verify(tmp: Path) -> None:
        torchscript.save(scripted, tmp, metadata)
        loaded, loaded_metadata = torchscript.load(tmp)
        with torch.no_grad():
            got = loaded(X)
        if not torch.equal(got, expected) or loaded_metadata != metadata:
            raise RuntimeError(f"{out}: the saved model does not reproduce the in-memory model")

    atomic_write(out, write_and_verify, force=force)
    return metadata


def export_pt2(
    model: LinearRegression, metadata: dict, out: Path, force: bool, cpu_isa: str, device: str
) -> dict:
    """Compiles, writes and verifies the AOTInductor package (see export)."""
    model = copy.deepcopy(model).to(device)
    X = verification_inputs(model).to(device)
    with torch.no_grad():
        expected = model(X).reshape(-1)
    written = {}

    def write_and_verify(tmp: Path) -> None:
        written.update(aoti.compile_package(model, X, tmp, metadata, cpu_isa))
        loaded = model_file.load(tmp)  # every check a loader makes, then the compiled library
        loaded.to(device)
        with torch.no_grad():
            got = loaded(X)
        if not torch.equal(got, expected) or loaded.metadata != written:
            raise RuntimeError(f"{out}: the package does not reproduce the in-memory model")

    atomic_write(out, write_and_verify, force=force)
    return written


def fmt_isa(metadata: dict) -> str:
    isa = metadata.get("cpu_isa")
    return f"cpu isa {isa['name']} ({isa['march']})" if isa else "no CPU code"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", help="from `python -m linreg_ext.train --out` (default: train)"
    )
    parser.add_argument("--out", required=True, help="the file to write (.pt2: AOTInductor)")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.add_argument("--format", choices=FORMATS, help="default: from --out's extension")
    parser.add_argument(
        "--cpu-isa",
        choices=list(aoti.CPU_ISAS),
        help=f".pt2 only: the CPUs it runs on (default {aoti.DEFAULT_CPU_ISA}: any x86-64-v3; "
        "baseline: any x86-64; native: this CPU's kind only)",
    )
    parser.add_argument(
        "--device", choices=["cpu", "cuda"], help=".pt2 only: the device it runs on (default cpu)"
    )
    args = parser.parse_args(argv)
    if args.out == "":  # an unset variable in a script: never work for nothing
        return fail("--out is empty; give the TorchScript file's name")
    fmt = output_format(Path(args.out), args.format)
    if fmt != "pt2" and (args.cpu_isa or args.device):
        parser.error("--cpu-isa and --device apply to .pt2 packages (--format pt2) only")
    say = Console()  # a closed stdout ends the report, never the export
    try:
        out = check_output(args.out, args.force)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda: CUDA is not available (no GPU, or a CPU-only build)")
        if args.checkpoint is not None:
            model, description = load_checkpoint(args.checkpoint)
            try:
                check_exportable(model, description)
            except ValueError as err:
                raise ValueError(f"{args.checkpoint}: {err}") from None
        else:
            say("no --checkpoint: training on the bundled dataset first")
            model, description = train_default()
        metadata = export(
            model,
            description,
            out,
            args.force,
            fmt,
            args.cpu_isa or aoti.DEFAULT_CPU_ISA,
            args.device or "cpu",
        )
    except (OSError, ValueError, RuntimeError, ArithmeticError) as err:
        return fail(err)
    except KeyboardInterrupt:
        return fail("interrupted; nothing written", INTERRUPTED)
    with torch.no_grad():
        x = torch.full((1, model.in_features), 4.0, dtype=model.weight.dtype)
        prediction = model(x).item()
    what = f"{metadata['in_features']} in_features, {metadata['dtype']}"
    if fmt == "pt2":
        what += f", {metadata['device']}, {fmt_isa(metadata)}"
    say(f"wrote {out} ({what}); verified")
    say(f"prediction with every feature = 4.0: {format_prediction(prediction, model.weight.dtype)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
