"""Checkpoints of linreg_ext.train: the model for the raw features with its description (what
export and the predictors read), and for long runs the state to resume training from.

    {"state_dict": {"weight", "bias"},          raw features: export/predict use only these
     "in_features", "feature_names", ...,       describe(): the same in every exported file
     "resume": {...}}                            resume_state(): absent in older checkpoints

The resume entry holds the epochs done, the parameters in training space (standardized when
--standardize), the optimizer's state (momentum buffers), every rank's shuffle generator, the
standardization, the config and the data's identity (rows, names, dtype, column statistics, the
chunks of every rank). check_resumable refuses a run on other data or with another config,
naming what differs. Only --epochs (to train longer) and --device may change; mini-batch runs
also need the same processes and chunks, since the shuffle depends on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch

from ._io import atomic_write, check_input_file
from ._version import __version__
from .datasets import Dataset
from .model import LinearRegression

DTYPES = {"float32": torch.float32, "float64": torch.float64}
MAY_CHANGE = ("epochs", "device")  # config fields a resumed run may set anew


class ResumeError(ValueError):
    """The checkpoint cannot be resumed by this run; the message says what differs."""


@dataclass
class DataFacts:
    """The whole dataset as a checkpoint describes it (all ranks' rows together)."""

    description: str
    rows: int
    feature_names: list[str]
    target_name: str


def facts_of(data) -> DataFacts:
    """DataFacts of a datasets.Dataset, or the DataFacts itself."""
    if isinstance(data, Dataset):
        return DataFacts(data.source, len(data.y), list(data.feature_names), data.target_name)
    return data


def versions() -> dict:
    """The library and torch versions, as every file this package writes records them."""
    # str(): torch.__version__ is a str subclass that torch.load(weights_only=True) refuses.
    return {"linreg_ext_version": __version__, "torch_version": str(torch.__version__)}


def describe(result, data, config) -> dict:
    """What travels with a trained model, in its checkpoint and in its exported file alike.

    A JSON-able dict: in_features, feature and target names, dtype, the training summary (data,
    rows, epochs done, loss, R^2, config) and the versions that wrote it. `data`: a Dataset or
    DataFacts; `result`: a train.FitResult.
    """
    facts = facts_of(data)
    training = {
        "data": facts.description,
        "rows": facts.rows,
        "loss": result.loss,
        "r2": result.r2,
        "config": asdict(config),
    }
    if result.epochs is not None:
        training["epochs_done"] = result.epochs
    return {
        "in_features": result.model.in_features,
        "feature_names": facts.feature_names,
        "target_name": facts.target_name,
        "dtype": config.dtype,
        "training": training,
        **versions(),
    }


def save_checkpoint(path, result, data, config, force=False):
    """A torch.save'd dict: the state dict, describe()'s fields, and the resume state if any."""
    checkpoint = {"state_dict": result.model.state_dict(), **describe(result, data, config)}
    if result.resume is not None:
        checkpoint["resume"] = result.resume
    return atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), force=force)


def _read(path) -> dict:
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
    return checkpoint


def load_checkpoint(path) -> tuple[LinearRegression, dict]:
    """The model and its description (describe()'s fields), from a file save_checkpoint wrote.

    The resume state, if any, is not part of the description (resume_state() reads it).

    Raises:
        OSError: the path is missing or not a regular file (the message says what it is).
        ValueError: the file is not a linreg_ext checkpoint; the message says why in a line,
            never with PyTorch's unpickling advice.
    """
    checkpoint = _read(path)

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
    checkpoint.pop("resume", None)
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


def resume_state(path) -> dict:
    """The resume entry of a checkpoint (ResumeError if it has none), after load_checkpoint's
    checks of the rest."""
    load_checkpoint(path)
    resume = _read(path).get("resume")
    if not isinstance(resume, dict) or "epochs_done" not in resume:
        raise ResumeError(
            f"{path}: holds no training state to resume from (written before --resume existed); "
            "train anew"
        )
    return resume


def data_identity(facts: DataFacts, dtype: str, stats, world: int, chunk_rows: list) -> dict:
    """What a resumed run must find again: the data and, for mini-batches, its layout."""
    return {
        "rows": facts.rows,
        "feature_names": facts.feature_names,
        "target_name": facts.target_name,
        "dtype": dtype,
        "stats_mean": stats.mean.clone(),
        "stats_m2": stats.m2.clone(),
        "world": world,
        "chunk_rows": chunk_rows,  # one list per rank
    }


def _data_differences(saved: dict, now: dict, minibatch: bool) -> list[str]:
    diffs = []
    for key, what in (
        ("feature_names", "features"),
        ("target_name", "target"),
        ("rows", "rows"),
        ("dtype", "dtype"),
    ):
        if saved[key] != now[key]:
            diffs.append(f"{what} {saved[key]!r} in the checkpoint, {now[key]!r} now")
    if not diffs:
        close = all(
            torch.allclose(saved[k], now[k], rtol=1e-9, atol=0) for k in ("stats_mean", "stats_m2")
        )
        if not close:
            diffs.append("the values differ (their column means or variances are not the same)")
    if (
        minibatch
        and not diffs
        and (saved["world"], saved["chunk_rows"])
        != (
            now["world"],
            now["chunk_rows"],
        )
    ):
        diffs.append(
            f"mini-batches shuffle within chunks, so the processes and chunks must be the same: "
            f"{saved['world']} process(es) with chunks of {_rows(saved)} rows in the checkpoint, "
            f"{now['world']} with {_rows(now)} now (give the same --chunk-rows and process count)"
        )
    return diffs


def _rows(identity: dict) -> str:
    return " | ".join(
        ",".join(map(str, r[:4])) + (",…" if len(r) > 4 else "") for r in identity["chunk_rows"]
    )


def check_resumable(resume: dict, config, identity: dict) -> None:
    """ResumeError naming every difference between the checkpoint's run and this one."""
    saved = resume["config"]
    diffs = [
        f"{f.name} {saved.get(f.name)!r} in the checkpoint, {getattr(config, f.name)!r} now"
        for f in fields(config)
        if f.name not in MAY_CHANGE and saved.get(f.name) != getattr(config, f.name)
    ]
    diffs += _data_differences(resume["data"], identity, config.batch_size is not None)
    if diffs:
        raise ResumeError("cannot resume on other data or with another config: " + "; ".join(diffs))
    done = resume["epochs_done"]
    if config.epochs < done:
        raise ResumeError(
            f"epochs {config.epochs} is fewer than the {done} epochs the checkpoint has done"
        )
