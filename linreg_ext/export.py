"""Exports a trained LinearRegression to TorchScript for the C++ app (cpp_app/).

    python export/export.py [--checkpoint CKPT] --out model.pt [--force]
    python -m linreg_ext.export ...                                  (the same program)

The module's forward calls torch.ops.linreg_ext.linear_forward (the custom op itself, which the
C++ app links), and the file carries metadata.json as an extra file: in_features, feature and
target names, dtype, the training summary and the library and torch versions (train.describe).
With no checkpoint, the program first trains on the bundled dataset. Before reporting success it
loads the written file back and checks that it reproduces the in-memory model's predictions; the
file appears at --out only then (written to a temporary file and renamed).
"""

import argparse
import sys
from pathlib import Path

import torch

from . import torchscript
from ._cli import fail
from ._io import atomic_write, refuse_existing
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


def export(model: LinearRegression, description: dict, out: Path, force: bool) -> dict:
    """Scripts, writes and verifies the model; returns the metadata written.

    The metadata is `description` (train.describe's fields) with the versions that wrote the file.
    """
    model = model.eval()
    metadata = {**description, **versions()}
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
            raise RuntimeError(f"{tmp}: the saved model does not reproduce the in-memory model")

    atomic_write(out, write_and_verify, force=force)
    return metadata


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--checkpoint", help="from `python -m linreg_ext.train --out` (default: train)"
    )
    parser.add_argument("--out", required=True, help="the TorchScript file to write")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    args = parser.parse_args(argv)
    try:
        out = Path(args.out)
        refuse_existing(out, args.force)
        if args.checkpoint:
            model, description = load_checkpoint(args.checkpoint)
        else:
            print("no --checkpoint: training on the bundled dataset first")
            model, description = train_default()
        metadata = export(model, description, out, args.force)
    except (OSError, ValueError, RuntimeError) as err:
        return fail(err)
    with torch.no_grad():
        x = torch.full((1, model.in_features), 4.0, dtype=model.weight.dtype)
        prediction = model(x).item()
    print(f"wrote {out} ({metadata['in_features']} in_features, {metadata['dtype']}); verified")
    print(
        f"prediction with every feature = 4.0: {format_prediction(prediction, model.weight.dtype)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
