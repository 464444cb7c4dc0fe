"""Fits LinearRegression with fused_mse_loss and SGD with momentum.

    python -m linreg_ext.train [--data CSV] [--target COLUMN] [--epochs N] ... [--out CKPT]

Defaults reproduce the classic PyTorch tutorial: lr 0.011, momentum 0.89, full-batch MSE, on the
bundled one-feature dataset (data/tutorial.csv), where the fitted line predicts about 21.75 at
x = 4.0. The loop is the textbook one (zero_grad, loss, backward, step); the work of each step is
one pass of the fused kernel over X. Reading the data is linreg_ext.datasets' job.

Training stops at the first epoch whose loss is not finite or has grown past EXPLOSION_FACTOR
times its start, or whose weights are not finite (DivergedError): the CLI names the epoch,
suggests --standardize or a smaller --lr, saves nothing and exits 3. --out is checked before
training (linreg_ext._io.check_output) and written atomically; a closed stdout ends the report,
never the run; Ctrl-C prints one line and exits 130. Exit codes: linreg_ext._cli.
"""

import argparse
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import Tensor
from tqdm import tqdm

from . import reference
from ._cli import DIVERGED, INTERRUPTED, Console, fail, flag
from ._io import atomic_write, check_input_file, check_output
from ._version import __version__
from .datasets import DataError, Dataset, bundled_dataset, load_csv
from .model import LinearRegression
from .ops import fused_mse_loss, linear_mse_grad

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOSSES = {"fused": fused_mse_loss, "reference": reference.fused_mse_loss}
DEVICES = ("cpu", "cuda")


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


class ConfigError(ValueError):
    """A TrainConfig field holds a value fit() cannot use; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


class DivergedError(ArithmeticError):
    """Training diverged: the loss became non-finite or exploded, or the weights non-finite.

    Nothing was fitted; `epoch` is the first epoch at which it was seen, `reason` says what.
    """

    def __init__(self, epoch: int, reason: str) -> None:
        super().__init__(f"training diverged at epoch {epoch}: {reason}")
        self.epoch = epoch
        self.reason = reason


# The loss explodes when it exceeds this many times the larger of the first epoch's loss and the
# variance of y (the loss of predicting the mean): far past any oscillation SGD recovers from.
EXPLOSION_FACTOR = 1e6


@dataclass
class FitResult:
    model: LinearRegression  # on the CPU, taking raw (unstandardized) features
    loss: float  # final MSE on the whole dataset
    r2: float
    seconds: float  # training loop only
    history: list[tuple[int, float]] = field(default_factory=list)  # (epoch, mean loss)


def r_squared(mse: float, y: Tensor) -> float:
    variance = torch.var(y.double(), correction=0).item()
    return 1.0 - mse / variance if variance > 0 else math.nan


def check_config(config: TrainConfig) -> None:
    """Raises ConfigError, naming the field, for a value fit() cannot use."""
    if config.epochs < 1:
        raise ConfigError("epochs", f"must be at least 1, got {config.epochs}")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ConfigError("lr", f"must be a positive number, got {config.lr}")
    if not 0 <= config.momentum < 1:
        raise ConfigError("momentum", f"must be in [0, 1), got {config.momentum}")
    if config.batch_size is not None and config.batch_size < 1:
        raise ConfigError("batch_size", f"must be at least 1, got {config.batch_size}")
    if not 0 <= config.seed < 2**64:
        raise ConfigError("seed", f"must be an integer in [0, 2**64 - 1], got {config.seed}")
    for name, allowed in (("dtype", DTYPES), ("loss", LOSSES), ("device", DEVICES)):
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "cuda: no CUDA device is available on this machine")


def standardize(X: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """X scaled to zero mean and unit variance per column, and that mean and std (float64, [D]).

    A constant column keeps std 1, so it is shifted but never divided by zero.
    """
    mean = X.double().mean(dim=0)
    std = X.double().std(dim=0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return ((X - mean.to(X.dtype)) / std.to(X.dtype)).contiguous(), mean, std


def fold_back(w: Tensor, b: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """Weight and bias for raw features, from those fitted to standardized ones (float64).

    w x_std + b == (w / s) x + (b - w m / s), with x_std = (x - m) / s.
    """
    return w / std, b - (w * mean / std).sum()


def _diverged(model, mean_loss: float, limit: float) -> str | None:
    """Why this epoch shows divergence, or None: a non-finite loss or weight, or an explosion."""
    if not math.isfinite(mean_loss):
        return f"the loss is {mean_loss}"
    if not all(torch.isfinite(p).all() for p in model.parameters()):
        return "the weights are no longer finite numbers"
    if mean_loss > limit:
        return f"the loss {mean_loss:.6g} is more than {EXPLOSION_FACTOR:.0e} times its first value"
    return None


def _train(
    model, opt, X, y, config: TrainConfig, batch: int, epochs, log
) -> list[tuple[int, float]]:
    """Steps opt (SGD with momentum) over `epochs`: epoch numbers, maybe a progress bar.

    Reshuffles the rows each epoch when a batch is smaller than X; logs the mean loss ten times.
    Checks every epoch for divergence (_diverged) and raises DivergedError at the first sign.
    Returns the logged (epoch, mean loss) pairs.
    """
    N = len(y)
    loss_fn = LOSSES[config.loss]
    batches = math.ceil(N / batch)
    shuffle = torch.Generator(device="cpu").manual_seed(config.seed)
    log_every = max(1, config.epochs // 10)
    history = []
    variance = torch.var(y.double(), correction=0).item()
    limit = math.inf
    for epoch in epochs:
        order = torch.randperm(N, generator=shuffle).to(X.device) if batches > 1 else None
        total = torch.zeros((), dtype=torch.float64, device=X.device)
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
        mean_loss = total.item() / N  # one sync an epoch: divergence is caught when it happens
        if epoch == 1:
            limit = EXPLOSION_FACTOR * max(mean_loss, variance, torch.finfo(X.dtype).tiny)
        reason = _diverged(model, mean_loss, limit)
        if reason is not None:
            raise DivergedError(epoch, reason)
        if epoch == 1 or epoch % log_every == 0 or epoch == config.epochs:
            history.append((epoch, mean_loss))
            log(f"epoch {epoch:>{len(str(config.epochs))}}/{config.epochs}  loss {mean_loss:.6g}")
    return history


def fit(data: Dataset, config: TrainConfig, log=print, progress: bool = True) -> FitResult:
    """Trains a LinearRegression on data with SGD(lr, momentum); returns the CPU model."""
    check_config(config)
    device, dtype = torch.device(config.device), DTYPES[config.dtype]
    X = data.X.to(device=device, dtype=dtype)
    y = data.y.to(device=device, dtype=dtype)
    N, D = X.shape
    if config.standardize:
        X, mean, std = standardize(X)

    torch.manual_seed(config.seed)
    model = LinearRegression(D, device=device, dtype=dtype)
    # Made before the clock starts: the first optimizer of a process imports torch._dynamo.
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    batch = N if config.batch_size is None else min(config.batch_size, N)
    bar = tqdm(
        range(1, config.epochs + 1),
        unit="epoch",
        file=sys.stderr,
        disable=not progress or config.epochs * math.ceil(N / batch) < 2000,
    )

    def log_above_bar(line: str) -> None:
        with tqdm.external_write_mode(file=sys.stderr):
            log(line)

    start = time.perf_counter()
    try:
        history = _train(
            model, opt, X, y, config, batch, bar, log if bar.disable else log_above_bar
        )
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    raw = LinearRegression(D, dtype=dtype)
    with torch.no_grad():
        w = model.weight.detach().double().cpu()
        b = model.bias.detach().double().cpu()
        if config.standardize:
            w, b = fold_back(w, b, mean.cpu(), std.cpu())
        raw.weight.copy_(w)
        raw.bias.copy_(b)
        final = linear_mse_grad(data.X.to(dtype), raw.weight, raw.bias, data.y.to(dtype))[0]
    mse = final.item()
    if not (math.isfinite(mse) and torch.isfinite(raw.weight).all() and torch.isfinite(raw.bias)):
        raise DivergedError(
            config.epochs,
            f"the fitted model for the raw features is not finite in {config.dtype} "
            f"(loss {mse:.6g})",
        )
    return FitResult(raw, mse, r_squared(mse, data.y), seconds, history)


def versions() -> dict:
    """The library and torch versions, as every file this package writes records them."""
    # str(): torch.__version__ is a str subclass that torch.load(weights_only=True) refuses.
    return {"linreg_ext_version": __version__, "torch_version": str(torch.__version__)}


def describe(result: FitResult, data: Dataset, config: TrainConfig) -> dict:
    """What travels with a trained model, in its checkpoint and in its exported file alike.

    A JSON-able dict: in_features, feature and target names, dtype, the training summary (data,
    rows, loss, R^2, config) and the versions that wrote it.
    """
    return {
        "in_features": result.model.in_features,
        "feature_names": data.feature_names,
        "target_name": data.target_name,
        "dtype": config.dtype,
        "training": {
            "data": data.source,
            "rows": len(data.y),
            "loss": result.loss,
            "r2": result.r2,
            "config": asdict(config),
        },
        **versions(),
    }


def save_checkpoint(path, result: FitResult, data: Dataset, config: TrainConfig, force=False):
    """A torch.save'd dict: the state dict and describe()'s fields, which export writes out."""
    checkpoint = {"state_dict": result.model.state_dict(), **describe(result, data, config)}
    return atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), force=force)


def load_checkpoint(path) -> tuple[LinearRegression, dict]:
    """The model and its description (describe()'s fields), from a file save_checkpoint wrote.

    Raises:
        OSError: the path is missing or not a regular file (the message says what it is).
        ValueError: the file is not a linreg_ext checkpoint; the message says why in a line,
            never with PyTorch's unpickling advice.
    """
    path = check_input_file(path, "checkpoint file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file, not a linreg_ext checkpoint")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickle, zip or weights_only errors: their advice is not for this file
        raise ValueError(
            f"{path}: not a linreg_ext checkpoint: torch.load cannot read it as one (a file "
            "from `python -m linreg_ext.train --out`)"
        ) from None
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"{path}: not a linreg_ext checkpoint: it holds a {type(checkpoint).__name__}, "
            "not the dict train writes"
        )

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: not a linreg_ext checkpoint: {problem}")

    missing = [k for k in ("state_dict", "in_features", "dtype") if k not in checkpoint]
    if missing:
        keys = ", ".join(map(repr, checkpoint)) or "none"
        names = ", ".join(map(repr, missing))
        raise bad(f"it has no {names} (its keys: {keys})")
    D, dtype = checkpoint["in_features"], checkpoint["dtype"]
    if type(D) is not int or D < 1:
        raise bad(f"in_features is {D!r}, not a positive int")
    if dtype not in DTYPES:
        raise bad(f"dtype is {dtype!r}, not one of {', '.join(DTYPES)}")
    state = checkpoint.pop("state_dict")
    shapes = {"weight": (1, D), "bias": (1,)}
    if not isinstance(state, dict) or set(state) != set(shapes):
        raise bad("its state_dict does not hold exactly 'weight' and 'bias'")
    for name, shape in shapes.items():
        t = state[name]
        if not isinstance(t, torch.Tensor) or tuple(t.shape) != shape or t.dtype != DTYPES[dtype]:
            got = f"{list(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
            raise bad(f"{name} must be a {list(shape)} {dtype} tensor, got {got}")
    model = LinearRegression(D, dtype=DTYPES[dtype])
    model.load_state_dict(state)
    if "summary" in checkpoint:  # older checkpoints call the training summary so
        checkpoint["training"] = checkpoint.pop("summary")
    return model, checkpoint


SUMMARY_WEIGHTS = 10  # a wide model's summary names this many weights, then counts the rest


def _weights_line(names: list[str], weights: list[float]) -> str:
    pairs = zip(names[:SUMMARY_WEIGHTS], weights[:SUMMARY_WEIGHTS], strict=True)
    shown = ", ".join(f"{n}={v:.6g}" for n, v in pairs)
    more = len(weights) - SUMMARY_WEIGHTS
    return shown + (f", … and {more} more" if more > 0 else "")


def summary(result: FitResult, data: Dataset, config: TrainConfig) -> str:
    w = result.model.weight.detach().reshape(-1).tolist()
    N, D = data.X.shape
    lines = [
        f"trained {config.epochs} epochs on {data.source} ({N} rows x {D} "
        f"feature{'s' if D != 1 else ''}, "
        f"{config.dtype}, {config.device}, {config.loss} loss) in {result.seconds:.3f} s",
        "weights: " + _weights_line(data.feature_names, w),
        f"bias: {result.model.bias.item():.6g}",
        f"loss (MSE): {result.loss:.6g}   R^2: {result.r2:.6f}",
    ]
    if D == 1:
        x = torch.tensor([[4.0]], dtype=result.model.weight.dtype)
        lines.append(f"prediction at {data.feature_names[0]}=4.0: {result.model(x).item():.6g}")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    """The options: one per TrainConfig field (its default from the dataclass), and the I/O ones."""
    p = argparse.ArgumentParser(
        prog="python -m linreg_ext.train",
        description="Fit y = X w + b with the fused MSE op and SGD with momentum.",
    )
    p.add_argument("--data", help="CSV with a header row (default: the bundled tutorial data)")
    p.add_argument("--target", help="target column name (default: the last column)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--batch-size", type=int, help="rows per step (default: the full batch)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--dtype", choices=list(DTYPES))
    p.add_argument("--seed", type=int, help="seeds initialization and shuffling")
    p.add_argument("--standardize", action="store_true", help="train on scaled features, save raw")
    p.add_argument(
        "--loss",
        choices=list(LOSSES),
        help="fused (the op) or reference (plain PyTorch, the same loop: for comparison)",
    )
    p.set_defaults(**asdict(TrainConfig()))
    p.add_argument("--out", help="write a checkpoint here (atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines or progress bar")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """The CLI. Exit codes (linreg_ext._cli): 0, 1 an error, 2 usage, 3 diverged, 130 SIGINT."""
    args = parse_args(argv)
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    say = Console()
    try:
        if args.out == "":  # an unset $CKPT in a script: never train for nothing
            return fail("--out is empty; give the checkpoint's file name")
        check_config(config)
        if args.out is not None:
            check_output(args.out, args.force)
        if args.data:
            data = load_csv(args.data, args.target, config.dtype)
        else:
            data = bundled_dataset(config.dtype, args.target)
        log = (lambda _: None) if args.quiet else say
        result = fit(data, config, log=log, progress=not args.quiet)
        say(summary(result, data, config))
        if args.out is not None:
            say(f"saved {save_checkpoint(args.out, result, data, config, force=args.force)}")
    except ConfigError as err:  # the library names the field; the user typed its option
        return fail(f"{flag(err.field)} {err.problem}")
    except DivergedError as err:
        advice = "a smaller --lr" if config.standardize else "--standardize or a smaller --lr"
        return fail(f"{err}; nothing saved: try {advice} (now {config.lr:g})", DIVERGED)
    except (DataError, ValueError, OSError) as err:
        return fail(err)
    except KeyboardInterrupt:
        return fail("interrupted; nothing saved", INTERRUPTED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
