"""Exports a trained LinearRegression to TorchScript for the C++ app (cpp_app/).

    python export/export.py [--checkpoint CKPT] --out model.pt [--force]

The module's forward calls torch.ops.linreg_ext.linear_forward (the custom op itself, which the
C++ app links), and the file carries metadata.json as an extra file: in_features, feature and
target names, dtype, the training summary and the library version. With no checkpoint, the
script first trains on the bundled dataset. Before reporting success it loads the written file
back and checks that it reproduces the in-memory model's predictions; the file appears at --out
only then (written to a temporary file and renamed).
"""

import argparse
import sys
from pathlib import Path

import torch

import linreg_ext
from linreg_ext import torchscript
from linreg_ext._io import atomic_write
from linreg_ext.predict import format_prediction
from linreg_ext.train import TrainConfig, bundled_dataset, fit, load_checkpoint


def train_default() -> tuple[linreg_ext.LinearRegression, dict]:
    data = bundled_dataset()
    config = TrainConfig()
    result = fit(data, config, log=lambda _: None, progress=False)
    info = {
        "feature_names": data.feature_names,
        "target_name": data.target_name,
        "dtype": config.dtype,
        "summary": {"data": data.source, "rows": len(data.y), "loss": result.loss, "r2": result.r2},
    }
    return result.model, info


def sample_inputs(model: linreg_ext.LinearRegression) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    X = 10 * torch.randn(64, model.in_features, generator=g, dtype=torch.float64)
    return torch.cat([torch.full((1, model.in_features), 4.0, dtype=torch.float64), X]).to(
        model.weight.dtype
    )


def export(model: linreg_ext.LinearRegression, info: dict, out: Path, force: bool) -> dict:
    """Scripts, writes and verifies the model; returns the metadata written."""
    model = model.eval()
    metadata = {
        "in_features": model.in_features,
        "feature_names": info.get("feature_names", [f"x{i}" for i in range(model.in_features)]),
        "target_name": info.get("target_name", "y"),
        "dtype": str(model.weight.dtype).removeprefix("torch."),
        "training": info.get("summary", {}),
        "linreg_ext_version": linreg_ext.__version__,
        "torch_version": torch.__version__,
    }
    scripted = torchscript.script(model)
    if "linreg_ext::linear_forward" not in str(scripted.inlined_graph):
        raise RuntimeError("the scripted forward does not call linreg_ext::linear_forward")
    X = sample_inputs(model)
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
        if out.exists() and not args.force:
            raise FileExistsError(f"{out} already exists; pass --force to replace it")
        if args.checkpoint:
            model, info = load_checkpoint(args.checkpoint)
        else:
            print("no --checkpoint: training on the bundled dataset first")
            model, info = train_default()
        metadata = export(model, info, out, args.force)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
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
