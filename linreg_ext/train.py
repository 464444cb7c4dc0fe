"""Fits LinearRegression with fused_mse_loss and SGD with momentum.

    python -m linreg_ext.train [--data CSV] [--target COLUMN] [--epochs N] ... [--out CKPT]

Defaults reproduce the classic PyTorch tutorial: lr 0.011, momentum 0.89, full-batch MSE, on the
bundled one-feature dataset (data/tutorial.csv), where the fitted line predicts about 21.75 at
x = 4.0. The loop is the textbook one (zero_grad, loss, backward, step); the work of each step is
one pass of the fused kernel over X.
"""

import argparse
import csv
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from . import reference
from ._io import atomic_write
from ._version import __version__
from .model import LinearRegression
from .ops import fused_mse_loss, linear_mse_grad

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOSSES = {"fused": fused_mse_loss, "reference": reference.fused_mse_loss}


class DataError(ValueError):
    """The training data cannot be used; the message says where and why."""


@dataclass
class Dataset:
    X: Tensor  # [N, D]
    y: Tensor  # [N]
    feature_names: list[str]
    target_name: str
    source: str


@dataclass
class TrainConfig:
    epochs: int = 1000
    lr: float = 0.011
    momentum: float = 0.89
    batch_size: int | None = None  # None: full batch
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    standardize: bool = False
    loss: str = "fused"  # or "reference": the same loop with the plain-PyTorch loss


@dataclass
class FitResult:
    model: LinearRegression  # on the CPU, taking raw (unstandardized) features
    loss: float  # final MSE on the whole dataset
    r2: float
    seconds: float  # training loop only
    history: list[tuple[int, float]] = field(default_factory=list)  # (epoch, mean loss)


def _first_bad_cell(path: Path, ncols: int) -> str:
    """Rescans a CSV that numpy rejected, to name the first bad line and column exactly."""
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows)
        for line, row in enumerate(rows, start=2):
            if len(row) != ncols:
                return f"line {line} has {len(row)} fields, the header has {ncols}"
            for col, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    return (
                        f"line {line}, column {col + 1} ({header[col]!r}): {cell!r} is not a number"
                    )
    return "unreadable content"


def load_csv(path: str | Path, target: str | None = None, dtype: str = "float32") -> Dataset:
    """Reads a CSV with a header row: feature columns, and a target (default: the last column)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    with path.open(newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DataError(f"{path}: empty file (expected a header row, then numeric rows)")
    header = [name.strip() for name in header]
    if len(header) < 2:
        raise DataError(f"{path}: need at least two columns (features and a target), got {header}")
    target = header[-1] if target is None else target
    if target not in header:
        raise DataError(f"{path}: target column {target!r} not found; columns: {', '.join(header)}")
    try:
        with warnings.catch_warnings():  # an empty body is reported below, as an error
            warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
            values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=dtype, ndmin=2)
    except ValueError:
        raise DataError(f"{path}: {_first_bad_cell(path, len(header))}") from None
    if values.shape[0] == 0:
        raise DataError(f"{path}: no data rows after the header")
    if values.shape[1] != len(header):
        raise DataError(f"{path}: rows have {values.shape[1]} fields, the header has {len(header)}")
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        row, col = bad[0]
        raise DataError(
            f"{path}: line {row + 2}, column {col + 1} ({header[col]!r}) is "
            f"{values[row, col]}; remove or fill missing values before training"
        )
    if values.shape[0] < 2:
        raise DataError(f"{path}: only 1 data row; a line needs at least 2 points to fit")
    t = header.index(target)
    features = [name for i, name in enumerate(header) if i != t]
    X = torch.from_numpy(np.ascontiguousarray(np.delete(values, t, axis=1)))
    y = torch.from_numpy(np.ascontiguousarray(values[:, t]))
    return Dataset(X, y, features, target, str(path))


def bundled_dataset(dtype: str = "float32") -> Dataset:
    """The tutorial's noisy line: 50 points, one feature `x`, target `y`."""
    with resources.as_file(resources.files("linreg_ext") / "data" / "tutorial.csv") as path:
        data = load_csv(path, dtype=dtype)
    data.source = "bundled tutorial.csv"
    return data


def r_squared(mse: float, y: Tensor) -> float:
    variance = torch.var(y.double(), correction=0).item()
    return 1.0 - mse / variance if variance > 0 else math.nan


def _check_config(config: TrainConfig) -> None:
    if config.epochs < 1:
        raise ValueError(f"--epochs must be at least 1, got {config.epochs}")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ValueError(f"--lr must be a positive number, got {config.lr}")
    if not 0 <= config.momentum < 1:
        raise ValueError(f"--momentum must be in [0, 1), got {config.momentum}")
    if config.batch_size is not None and config.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {config.batch_size}")
    if config.dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {config.dtype!r}")
    if config.loss not in LOSSES:
        raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {config.loss!r}")
    if config.device not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda, got {config.device!r}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available on this machine")


def fit(data: Dataset, config: TrainConfig, log=print, progress: bool = True) -> FitResult:
    """Trains a LinearRegression on data with SGD(lr, momentum); returns the CPU model."""
    _check_config(config)
    device, dtype = torch.device(config.device), DTYPES[config.dtype]
    X = data.X.to(device=device, dtype=dtype)
    y = data.y.to(device=device, dtype=dtype)
    N, D = X.shape
    if config.standardize:
        mean = X.double().mean(dim=0)
        std = X.double().std(dim=0, correction=0)
        std = torch.where(std > 0, std, torch.ones_like(std))  # constant columns stay as they are
        X = ((X - mean.to(dtype)) / std.to(dtype)).contiguous()

    torch.manual_seed(config.seed)
    model = LinearRegression(D, device=device, dtype=dtype)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    loss_fn = LOSSES[config.loss]
    batch = N if config.batch_size is None else min(config.batch_size, N)
    batches = math.ceil(N / batch)
    shuffle = torch.Generator(device="cpu").manual_seed(config.seed)
    log_every = max(1, config.epochs // 10)
    history = []
    bar = tqdm(
        range(1, config.epochs + 1),
        unit="epoch",
        file=sys.stderr,
        disable=not progress or config.epochs * batches < 2000,
    )

    start = time.perf_counter()
    for epoch in bar:
        order = torch.randperm(N, generator=shuffle).to(device) if batches > 1 else None
        total = torch.zeros((), dtype=torch.float64, device=device)
        for b in range(batches):
            if order is None:
                Xb, yb = X, y
            else:
                idx = order[b * batch : (b + 1) * batch]
                Xb, yb = X.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(Xb, model.weight, model.bias, yb)
            loss.backward()
            opt.step()
            total += loss.detach().double() * len(yb)
        if epoch == 1 or epoch % log_every == 0 or epoch == config.epochs:
            mean_loss = total.item() / N
            history.append((epoch, mean_loss))
            (bar.write if not bar.disable else log)(
                f"epoch {epoch:>{len(str(config.epochs))}}/{config.epochs}  loss {mean_loss:.6g}"
            )
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    bar.close()

    raw = LinearRegression(D, dtype=dtype)
    with torch.no_grad():
        w = model.weight.detach().double().cpu()
        b = model.bias.detach().double().cpu()
        if config.standardize:  # fold the scaling back: w x_std + b == (w / s) x + (b - w m / s)
            w, b = w / std.cpu(), b - (w * mean.cpu() / std.cpu()).sum()
        raw.weight.copy_(w)
        raw.bias.copy_(b)
        final = linear_mse_grad(data.X.to(dtype), raw.weight, raw.bias, data.y.to(dtype))[0]
    mse = final.item()
    return FitResult(raw, mse, r_squared(mse, data.y), seconds, history)


def save_checkpoint(path, result: FitResult, data: Dataset, config: TrainConfig, force=False):
    """A torch.save'd dict: the state dict plus what export needs to describe the model."""
    checkpoint = {
        "state_dict": result.model.state_dict(),
        "in_features": result.model.in_features,
        "feature_names": data.feature_names,
        "target_name": data.target_name,
        "dtype": config.dtype,
        "summary": {
            "data": data.source,
            "rows": len(data.y),
            "loss": result.loss,
            "r2": result.r2,
            "config": asdict(config),
        },
        "linreg_ext_version": __version__,
    }
    return atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), force=force)


def load_checkpoint(path) -> tuple[LinearRegression, dict]:
    """The model and the checkpoint's other fields, from a file save_checkpoint wrote."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        model = LinearRegression(checkpoint["in_features"], dtype=DTYPES[checkpoint["dtype"]])
        model.load_state_dict(checkpoint["state_dict"])
    except Exception as err:
        raise ValueError(f"{path}: not a linreg_ext checkpoint ({err})") from err
    return model, checkpoint


def summary(result: FitResult, data: Dataset, config: TrainConfig) -> str:
    w = result.model.weight.detach().reshape(-1).tolist()
    N, D = data.X.shape
    lines = [
        f"trained {config.epochs} epochs on {data.source} ({N} rows x {D} "
        f"feature{'s' if D != 1 else ''}, "
        f"{config.dtype}, {config.device}, {config.loss} loss) in {result.seconds:.3f} s",
        "weights: " + ", ".join(f"{n}={v:.6g}" for n, v in zip(data.feature_names, w, strict=True)),
        f"bias: {result.model.bias.item():.6g}",
        f"loss (MSE): {result.loss:.6g}   R^2: {result.r2:.6f}",
    ]
    if D == 1:
        x = torch.tensor([[4.0]], dtype=result.model.weight.dtype)
        lines.append(f"prediction at {data.feature_names[0]}=4.0: {result.model(x).item():.6g}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m linreg_ext.train",
        description="Fit y = X w + b with the fused MSE op and SGD with momentum.",
    )
    p.add_argument("--data", help="CSV with a header row (default: the bundled tutorial data)")
    p.add_argument("--target", help="target column name (default: the last column)")
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--momentum", type=float, default=TrainConfig.momentum)
    p.add_argument("--batch-size", type=int, help="rows per step (default: the full batch)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32")
    p.add_argument("--seed", type=int, default=0, help="seeds initialization and shuffling")
    p.add_argument("--standardize", action="store_true", help="train on scaled features, save raw")
    p.add_argument(
        "--loss",
        choices=list(LOSSES),
        default="fused",
        help="fused (the op) or reference (plain PyTorch, the same loop: for comparison)",
    )
    p.add_argument("--out", help="write a checkpoint here (atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines or progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    config = TrainConfig(
        epochs=args.epochs,
        lr=args.lr,
        momentum=args.momentum,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        seed=args.seed,
        standardize=args.standardize,
        loss=args.loss,
    )
    try:
        if args.out and Path(args.out).exists() and not args.force:
            raise FileExistsError(f"{args.out} already exists; pass --force to replace it")
        if args.data:
            data = load_csv(args.data, args.target, args.dtype)
        else:
            if args.target not in (None, "y"):
                raise DataError(f"the bundled data has target 'y', not {args.target!r}")
            data = bundled_dataset(args.dtype)
        log = (lambda _: None) if args.quiet else print
        result = fit(data, config, log=log, progress=not args.quiet)
        print(summary(result, data, config))
        if args.out:
            print(f"saved {save_checkpoint(args.out, result, data, config, force=args.force)}")
    except (DataError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
