"""The library side of linreg_ext.train: TrainConfig, fit() and the training summary.

fit() trains on a linreg_ext.sources.Source (or a Dataset in memory, cut into a TensorSource):
a statistics pass first reads every chunk once (checks every value; y's variance for R^2 and the
divergence limit; mean and std for --standardize; merged across ranks, which must agree on the
columns and dtype); data that fits the memory budget is kept from that pass, else every epoch
reads the chunks again. The steps are linreg_ext.loop's: the gradient of a step is the
row-weighted float64 sum of its chunks' (and ranks') gradients from linear_mse_grad, so a
streamed or multi-process full-batch run gives the in-memory run's weights to summation-order
error, and with one chunk in one process the numbers of the plain in-memory loop.

Training stops at the first epoch whose loss is not finite or has grown past EXPLOSION_FACTOR
times its start, or whose weights are not finite (DivergedError), on every rank at once. Hooks
let the CLI log each epoch (TensorBoard), receive snapshots every K epochs and ask for a stop at
the end of an epoch (SIGINT: Interrupted carries the snapshot). A snapshot's `resume` entry is
what checkpoint.check_resumable and fit(resume=...) continue from, exactly.
"""

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor
from tqdm import tqdm

from .checkpoint import (
    DataFacts,
    check_resumable,
    data_identity,
    describe,
    facts_of,
    load_checkpoint,
    save_checkpoint,
    versions,
)
from .datasets import Dataset
from .distributed import Group, JobError, checked
from .loop import EXPLOSION_FACTOR, DivergedError, EpochStats, Feed, Trainer
from .model import LinearRegression
from .ops import fused_mse_loss
from .reference import fused_mse_loss as reference_mse_loss
from .sources import Source, TensorSource, default_memory_budget

__all__ = [
    "ConfigError",
    "DivergedError",
    "FitResult",
    "Hooks",
    "Interrupted",
    "TrainConfig",
    "describe",
    "fit",
    "load_checkpoint",
    "save_checkpoint",
    "versions",
]

DTYPES = {"float32": torch.float32, "float64": torch.float64}
LOSSES = {"fused": fused_mse_loss, "reference": reference_mse_loss}
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


@dataclass
class FitResult:
    model: LinearRegression  # on the CPU, taking raw (unstandardized) features
    loss: float  # final MSE on the whole dataset (a snapshot: its last epoch's mean loss)
    r2: float
    seconds: float  # training loop only (of this run, when resumed)
    history: list[tuple[int, float]] = field(default_factory=list)  # (epoch, mean loss)
    epochs: int | None = None  # epochs done
    resume: dict | None = None  # what --resume continues from (linreg_ext.checkpoint)
    facts: DataFacts | None = None  # the data of all ranks, as the checkpoint describes it


class Interrupted(Exception):
    """Training stopped at the end of an epoch because a rank saw SIGINT (Hooks.stop_requested);
    `snapshot` (a FitResult) is the state there, ready to save and resume."""

    def __init__(self, snapshot: FitResult) -> None:
        super().__init__(f"interrupted at epoch {snapshot.epochs}")
        self.snapshot = snapshot


@dataclass
class Hooks:
    """What a caller (the CLI) adds to fit(). Callbacks run on rank 0 only."""

    on_epoch: Callable[[EpochStats, float], None] | None = None  # (stats, R^2): TensorBoard
    checkpoint_every: int | None = None  # epochs between snapshots given to on_checkpoint
    on_checkpoint: Callable[[FitResult], None] | None = None
    stop_requested: Callable[[], bool] = lambda: False  # every rank: stop at the epoch's end


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


def fold_back(w: Tensor, b: Tensor, mean: Tensor, std: Tensor) -> tuple[Tensor, Tensor]:
    """Weight and bias for raw features, from those fitted to standardized ones (float64).

    w x_std + b == (w / s) x + (b - w m / s), with x_std = (x - m) / s.
    """
    return w / std, b - (w * mean / std).sum()


def _survey(feed: Feed, config: TrainConfig) -> dict:
    """This rank's part of the data: the statistics pass, and what the ranks must agree on."""
    source = feed.source
    stats = feed.statistics()
    B = config.batch_size
    steps = 1 if B is None else sum(math.ceil(n / B) for n in source.chunk_rows)
    what = (source.feature_names, source.target_name, source.dtype)
    return {
        "what": what,
        "description": source.description,
        "stats": stats,
        "steps": steps,
        "chunk_rows": list(source.chunk_rows),
    }


def _agree(group: Group, parts: list[dict]) -> None:
    """JobError on every rank unless every rank reads the same columns in the same dtype."""
    for rank, part in enumerate(parts[1:], start=1):
        if part["what"] != parts[0]["what"]:

            def said(p):
                names, target, dtype = p["what"]
                return (
                    f"{p['description']} (features {', '.join(names)}; target {target!r}; {dtype})"
                )

            raise JobError(
                f"the {group.world} processes disagree about the data: rank 0 reads "
                f"{said(parts[0])}, rank {rank} reads {said(part)}"
            )


def _raw_model(trainer: Trainer, standardization, dtype) -> LinearRegression:
    raw = LinearRegression(trainer.D, dtype=dtype)
    with torch.no_grad():
        w = trainer.model.weight.detach().double().cpu()
        b = trainer.model.bias.detach().double().cpu()
        if standardization is not None:
            w, b = fold_back(w, b, *standardization)
        raw.weight.copy_(w)
        raw.bias.copy_(b)
    return raw


def fit(
    data: Source | Dataset,
    config: TrainConfig,
    log=print,
    progress: bool = True,
    *,
    group: Group | None = None,
    keep_in_memory: bool | None = None,
    memory_budget: int | None = None,
    resume: dict | None = None,
    hooks: Hooks | None = None,
    description: str | None = None,
) -> FitResult:
    """Trains a LinearRegression on data with SGD(lr, momentum); returns the CPU model.

    Args:
        data: a Source (this rank's part), or a Dataset in memory (cut into ranks' parts).
        group: the job (linreg_ext.distributed); default one process.
        keep_in_memory: keep the chunks read by the statistics pass (default: when the source
            fits `memory_budget`, default sources.default_memory_budget()); False streams.
        resume: a checkpoint's resume entry to continue from (checkpoint.resume_state).
        hooks: per-epoch callbacks, periodic snapshots, the stop request (SIGINT).
        description: the data's name in the summary and checkpoint (default: the source's).

    Raises DivergedError, Interrupted (hooks.stop_requested), ConfigError, DataError,
    checkpoint.ResumeError, distributed.JobError (another rank failed or disagrees).
    """
    check_config(config)
    group = group or Group()
    hooks = hooks or Hooks()
    source = data if isinstance(data, Source) else TensorSource(data, None, group.rank, group.world)
    if keep_in_memory is None:
        keep_in_memory = not isinstance(data, Source) or source.fits_in(
            memory_budget or default_memory_budget()
        )
    device, dtype = torch.device(config.device), DTYPES[config.dtype]
    feed = Feed(source, device, dtype, keep_in_memory)
    survey = checked(group, lambda: _survey(feed, config))
    parts = group.gather(survey)
    _agree(group, parts)
    stats = parts[0]["stats"]
    for part in parts[1:]:
        stats = stats.merge(part["stats"])
    names, target, _ = survey["what"]
    if description is None:
        description = (
            survey["description"]
            if group.world == 1
            else f"{group.world} parts of " + parts[0]["description"]
        )
    facts = DataFacts(description, stats.rows, list(names), target)
    identity = data_identity(
        facts, config.dtype, stats, group.world, [p["chunk_rows"] for p in parts]
    )
    if resume is not None:
        check_resumable(resume, config, identity)
    standardization = None
    if config.standardize:
        if resume is not None:
            standardization = (resume["mean"], resume["std"])
        else:
            std = stats.std[:-1]
            standardization = (stats.mean[:-1], torch.where(std > 0, std, torch.ones_like(std)))
        feed.standardize(*standardization)

    trainer = Trainer(feed, group, config, max(p["steps"] for p in parts), stats.rows)
    history = []
    if resume is not None:
        trainer.load(resume)
        history = [tuple(h) for h in resume.get("history", [])]
    variance = stats.y_variance

    def r2(loss: float) -> float:
        return 1.0 - loss / variance if variance > 0 else math.nan

    def snapshot(loss: float, r2_value: float, seconds: float) -> FitResult:
        state = trainer.state()  # collective: every rank calls it at the same epochs
        state.update(
            config=asdict(config),
            data=identity,
            history=list(history),
            mean=None if standardization is None else standardization[0],
            std=None if standardization is None else standardization[1],
        )
        raw = _raw_model(trainer, standardization, dtype)
        return FitResult(raw, loss, r2_value, seconds, list(history), trainer.epoch, state, facts)

    bar = tqdm(
        range(trainer.epoch + 1, config.epochs + 1),
        initial=trainer.epoch,
        total=config.epochs,
        unit="epoch",
        file=sys.stderr,
        disable=not progress or config.epochs * trainer.steps < 2000,
    )
    say = log
    if not bar.disable:

        def say(line: str) -> None:
            with tqdm.external_write_mode(file=sys.stderr):
                log(line)

    log_every = max(1, config.epochs // 10)
    start = time.perf_counter()
    try:
        for _ in bar:
            epoch = trainer.run_epoch(hooks.stop_requested)
            e = epoch.epoch
            if e == 1:
                tiny = torch.finfo(dtype).tiny
                trainer.limit = EXPLOSION_FACTOR * max(epoch.loss, variance, tiny)
            reason = trainer.diverged(epoch.loss)
            if reason is not None:
                raise DivergedError(e, reason)
            if e == 1 or e % log_every == 0 or e == config.epochs:
                history.append((e, epoch.loss))
                say(f"epoch {e:>{len(str(config.epochs))}}/{config.epochs}  loss {epoch.loss:.6g}")
            if hooks.on_epoch is not None and group.rank == 0:
                hooks.on_epoch(epoch, r2(epoch.loss))
            if e < config.epochs and epoch.stop:
                seconds = time.perf_counter() - start
                raise Interrupted(snapshot(epoch.loss, r2(epoch.loss), seconds))
            every = hooks.checkpoint_every
            if every and e % every == 0 and e < config.epochs:
                snap = snapshot(epoch.loss, r2(epoch.loss), time.perf_counter() - start)
                if hooks.on_checkpoint is not None and group.rank == 0:
                    hooks.on_checkpoint(snap)
    finally:
        bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    result = snapshot(math.nan, math.nan, seconds)
    raw = result.model
    mse = trainer.raw_loss(raw.weight.detach(), raw.bias.detach())
    if not (math.isfinite(mse) and torch.isfinite(raw.weight).all() and torch.isfinite(raw.bias)):
        raise DivergedError(
            config.epochs,
            f"the fitted model for the raw features is not finite in {config.dtype} "
            f"(loss {mse:.6g})",
        )
    result.loss, result.r2 = mse, r2(mse)
    return result


SUMMARY_WEIGHTS = 10  # a wide model's summary names this many weights, then counts the rest


def _weights_line(names: list[str], weights: list[float]) -> str:
    pairs = zip(names[:SUMMARY_WEIGHTS], weights[:SUMMARY_WEIGHTS], strict=True)
    shown = ", ".join(f"{n}={v:.6g}" for n, v in pairs)
    more = len(weights) - SUMMARY_WEIGHTS
    return shown + (f", … and {more} more" if more > 0 else "")


def summary(result: FitResult, data, config: TrainConfig) -> str:
    """The CLI's report: data, weights, bias, loss and R^2 (and the prediction at 4.0 for D = 1).

    `data`: a Dataset or checkpoint.DataFacts (FitResult.facts).
    """
    data = facts_of(data)
    w = result.model.weight.detach().reshape(-1).tolist()
    N, D = data.rows, len(data.feature_names)
    lines = [
        f"trained {config.epochs} epochs on {data.description} ({N} rows x {D} "
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
