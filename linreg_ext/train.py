"""Fits LinearRegression with fused_mse_loss and SGD with momentum, on data in memory or streamed
in chunks, in one process or many (torchrun).

    python -m linreg_ext.train [--data FILE|DIR|GLOB] [--target COLUMN] [--epochs N] ... [--out F]
    torchrun --nproc-per-node 2 -m linreg_ext.train --data shards/ ...

Defaults reproduce the classic PyTorch tutorial: lr 0.011, momentum 0.89, full-batch MSE, on the
bundled one-feature dataset (data/tutorial.csv), where the fitted line predicts about 21.75 at
x = 4.0. The data is a linreg_ext.sources.Source: a statistics pass first reads every chunk once
(checks every value; y's variance for R^2 and the divergence limit; mean and std for
--standardize; merged across ranks); data that fits --memory-budget (and no --chunk-rows) is kept
from that pass, else every epoch reads the chunks again. The steps are linreg_ext.loop's: the
gradient of a step is the row-weighted float64 sum of its chunks' (and ranks') gradients from
linear_mse_grad, so a streamed or multi-process full-batch run gives the in-memory run's weights
to summation-order error. Under torchrun each rank reads its own part (open_source(rank, world));
linreg_ext.distributed has the process group and the one all-reduce a step.

Training stops at the first epoch whose loss is not finite or has grown past EXPLOSION_FACTOR
times its start, or whose weights are not finite (DivergedError): the CLI names the epoch,
suggests --standardize or a smaller --lr, saves nothing more and exits 3, on every rank. --out is
checked before training (linreg_ext._io.check_output) and written atomically by rank 0 only: at
the end, every --checkpoint-every K epochs, and on SIGINT, which stops every rank at the end of
the epoch, saves, and prints how to --resume (exit 130; without --out nothing is saved). A
resumed run ends exactly where an uninterrupted one would (linreg_ext.checkpoint). --logdir
writes TensorBoard scalars. A closed stdout ends the report, never the run. Exit codes:
linreg_ext._cli.
"""

import argparse
import os
import shlex
import signal
import sys
from contextlib import contextmanager
from dataclasses import fields

from ._cli import DIVERGED, INTERRUPTED, Console, fail, flag
from ._io import check_output
from .checkpoint import (
    MAY_CHANGE,
    DataFacts,
    ResumeError,
    describe,
    load_checkpoint,
    resume_state,
    save_checkpoint,
    versions,
)
from .datasets import DataError, bundled_dataset
from .distributed import Group, checked, env_rank, join
from .fitting import (
    DEVICES,
    DTYPES,
    LOSSES,
    ConfigError,
    DivergedError,
    FitResult,
    Hooks,
    Interrupted,
    TrainConfig,
    check_config,
    fit,
    fold_back,
    r_squared,
    summary,
)
from .model import LinearRegression
from .sources import TensorSource, open_source, parse_memory_budget

__all__ = [  # the names callers (export, tests, bench) use from here, wherever they now live
    "ConfigError",
    "DataFacts",
    "DivergedError",
    "FitResult",
    "Hooks",
    "Interrupted",
    "LinearRegression",
    "TrainConfig",
    "bundled_dataset",
    "check_config",
    "describe",
    "fit",
    "fold_back",
    "load_checkpoint",
    "main",
    "parse_args",
    "r_squared",
    "save_checkpoint",
    "summary",
    "versions",
]


def parse_args(argv=None) -> argparse.Namespace:
    """The options: one per TrainConfig field, and the data, output and long-run ones.

    The TrainConfig options default to None here, so that a resumed run can tell the options
    given from those left to the checkpoint's config (config_from).
    """
    p = argparse.ArgumentParser(
        prog="python -m linreg_ext.train",
        description="Fit y = X w + b with the fused MSE op and SGD with momentum.",
    )
    p.add_argument(
        "--data",
        help="a CSV file with a header row, or what linreg_ext.sources.open_source reads (a "
        "file, a directory or a glob of shards) (default: the bundled tutorial data)",
    )
    p.add_argument("--target", help="target column name (default: the last column)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--batch-size", type=int, help="rows per step (default: the full batch)")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--dtype", choices=list(DTYPES))
    p.add_argument("--seed", type=int, help="seeds initialization and shuffling")
    p.add_argument(
        "--standardize",
        action="store_true",
        default=None,
        help="train on scaled features, save raw",
    )
    p.add_argument(
        "--loss",
        choices=list(LOSSES),
        help="fused (the op) or reference (plain PyTorch, the same loop: for comparison)",
    )
    p.add_argument(
        "--chunk-rows", type=int, help="rows per chunk, read anew every epoch (streaming)"
    )
    p.add_argument(
        "--memory-budget",
        help="data up to this size (512M, 2G) is kept in memory after the first read; larger "
        "data is streamed (default: a quarter of the machine's memory)",
    )
    p.add_argument("--out", help="write a checkpoint here (atomically)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument("--resume", metavar="CKPT", help="continue the training a checkpoint holds")
    p.add_argument(
        "--checkpoint-every", type=int, metavar="K", help="also write --out every K epochs"
    )
    p.add_argument("--logdir", help="write TensorBoard scalars here (loss, R^2, ...)")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines or progress bar")
    return p.parse_args(argv)


def config_from(args, resume: dict | None) -> TrainConfig:
    """The run's config: the options given, else the checkpoint's (resuming), else the defaults.

    A resumed run may give --epochs (to train longer) and --device; any other option that
    differs from the checkpoint's is an error naming it (ResumeError).
    """
    given = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name) is not None
    }
    if resume is None:
        return TrainConfig(**given)
    saved = {f.name: resume["config"][f.name] for f in fields(TrainConfig)}
    differ = [
        f"{flag(k)} {v} (the checkpoint's run had {saved[k]})"
        for k, v in given.items()
        if k not in MAY_CHANGE and v != saved[k]
    ]
    if differ:
        raise ResumeError(
            f"{args.resume}: cannot resume with "
            + ", ".join(differ)
            + "; a resumed run keeps its options, only --epochs and --device may change"
        )
    return TrainConfig(**{**saved, "device": TrainConfig.device, **given})


def resume_command(argv: list[str], out: str, world: int) -> str:
    """The command that continues this run from `out`: its own options, --resume out."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not (arg.startswith("--resume=") or arg == "--force"):
            kept.append(arg)
    launcher = "python -m linreg_ext.train"
    if world > 1:
        launcher = f"torchrun --nproc-per-node {world} -m linreg_ext.train"
    return f"{launcher} {shlex.join([*kept, '--resume', out])}"


@contextmanager
def stop_on_signal(group: Group):
    """SIGINT (and SIGTERM) ask training to stop at the end of the epoch (a stop request the
    all-reduce shares, so every rank stops at the same epoch). A second SIGINT in one process
    stops at once without saving (KeyboardInterrupt); under torchrun, whose agent forwards the
    signal it gets, repeats only repeat the request. Yields the stop_requested callable."""
    seen = []

    def handler(signum, frame):
        if seen and group.world == 1 and signum == signal.SIGINT:
            raise KeyboardInterrupt
        seen.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(seen)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def tensorboard_logger(logdir: str):
    """An on_epoch hook writing loss, R^2, gradient norm, learning rate and rows/s for each epoch
    (torch.utils.tensorboard), and the writer to close."""
    from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when asked

    writer = SummaryWriter(logdir)

    def on_epoch(epoch, r2: float) -> None:
        for tag, value in (
            ("loss", epoch.loss),
            ("r2", r2),
            ("grad_norm", epoch.grad_norm),
            ("lr", epoch.lr),
            ("rows_per_s", epoch.rows_per_s),
        ):
            writer.add_scalar(tag, value, epoch.epoch)

    return on_epoch, writer


def _same_file(a, b) -> bool:
    try:
        return a is not None and b is not None and os.path.samefile(a, b)
    except OSError:
        return False


def open_data(args, config: TrainConfig, group: Group, budget: int | None):
    """This rank's Source: --data through open_source, or the bundled data."""
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise ConfigError("chunk_rows", f"must be at least 1, got {args.chunk_rows}")
    if args.data:
        return open_source(
            args.data, args.target, config.dtype, args.chunk_rows, budget, group.rank, group.world
        )
    data = bundled_dataset(config.dtype, args.target)
    return TensorSource(data, args.chunk_rows, group.rank, group.world)


def main(argv=None) -> int:
    """The CLI. Exit codes (linreg_ext._cli): 0, 1 an error, 2 usage, 3 diverged, 130 SIGINT.

    Under torchrun only rank 0 prints, shows progress, writes --out and --logdir; every rank
    exits with the same status.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    rank0 = env_rank() == 0
    say = Console() if rank0 else (lambda _: None)
    report = fail if rank0 else (lambda err, status=1: status)
    config, group, writer, saved = None, Group(), None, None
    try:
        if args.out == "":  # an unset $CKPT in a script: never train for nothing
            return report("--out is empty; give the checkpoint's file name")
        if args.checkpoint_every is not None and args.checkpoint_every < 1:
            raise ConfigError(
                "checkpoint_every", f"must be at least 1, got {args.checkpoint_every}"
            )
        if args.checkpoint_every is not None and args.out is None:
            raise ConfigError("checkpoint_every", "needs --out, the file to write")
        try:
            budget = parse_memory_budget(args.memory_budget) if args.memory_budget else None
        except ValueError as err:
            raise ConfigError("memory_budget", f"is not a size: {err}") from None
        resume = resume_state(args.resume) if args.resume else None
        config = config_from(args, resume)
        check_config(config)
        group = join(config.device)
        rank0 = group.rank == 0
        # The run may replace the file it resumes from; any other existing --out needs --force.
        force = args.force or _same_file(args.out, args.resume)

        def prepare():
            if rank0 and args.out is not None:
                check_output(args.out, force)
            return open_data(args, config, group, budget)

        source = checked(group, prepare)
        hooks = Hooks(checkpoint_every=args.checkpoint_every)
        if rank0 and args.logdir:
            hooks.on_epoch, writer = tensorboard_logger(args.logdir)

        def write(result: FitResult) -> None:
            nonlocal force, saved
            save_checkpoint(args.out, result, result.facts, config, force=force)
            force, saved = True, result.epochs  # from now on the file is this run's own

        if args.out is not None:
            hooks.on_checkpoint = write
        log = (lambda _: None) if args.quiet else say
        with stop_on_signal(group) as stop_requested:
            hooks.stop_requested = stop_requested
            result = fit(
                source,
                config,
                log=log,
                progress=rank0 and not args.quiet,
                group=group,
                keep_in_memory=False if args.chunk_rows is not None else None,
                memory_budget=budget,
                resume=resume,
                hooks=hooks,
                description=args.data if group.world > 1 else None,
            )
        say(summary(result, result.facts, config))
        if args.out is not None and rank0:
            write(result)
            say(f"saved {args.out}")
    except ConfigError as err:  # the library names the field; the user typed its option
        return report(f"{flag(err.field)} {err.problem}")
    except DivergedError as err:
        advice = "a smaller --lr" if config.standardize else "--standardize or a smaller --lr"
        kept = "nothing saved"
        if saved is not None:
            kept = f"nothing saved after epoch {saved} ({args.out} holds epoch {saved})"
        return report(f"{err}; {kept}: try {advice} (now {config.lr:g})", DIVERGED)
    except Interrupted as stop:
        if args.out is None:
            return report("interrupted; nothing saved", INTERRUPTED)
        epoch = stop.snapshot.epochs
        if rank0:
            write(stop.snapshot)
        return report(
            f"interrupted at epoch {epoch}; checkpoint saved to {args.out}; resume with: "
            + resume_command(argv, args.out, group.world),
            INTERRUPTED,
        )
    except (DataError, ValueError, OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and group.world == 1:
            raise
        return report(err)
    except KeyboardInterrupt:
        return report("interrupted; nothing saved", INTERRUPTED)
    finally:
        if writer is not None:
            writer.close()
        group.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
