"""The training loop of linreg_ext.train: SGD steps over one rank's chunks, the same code for data
kept in memory, data streamed from files, one process or many.

A step's gradient is the mean over all rows it covers, of every rank: each part (a chunk, or a
mini-batch) adds n*loss, n*grad_w, n*grad_b and n to a float64 vector; one all-reduce
(linreg_ext.distributed) sums the vectors of the ranks; the sums divided by the global n are the
loss and gradient of the whole step, as one process holding all its rows would compute them (to
float64 summation-order error). Every rank then takes the same torch.optim.SGD step.

Full batch: one step an epoch over every chunk. Mini-batch: the chunk order is shuffled each
epoch and the rows within each chunk, by one torch.Generator per rank (seeded by --seed and the
rank); a batch never spans two chunks, and each batch is one step. Ranks agree beforehand on the
steps of an epoch (the most any rank has); a rank out of batches contributes zeros.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from . import reference
from .distributed import Group, raise_if_failed
from .model import LinearRegression
from .ops import linear_mse_grad
from .sources import ColumnStats, Source, column_stats

# The loss explodes when it exceeds this many times the larger of the first epoch's loss and the
# variance of y (the loss of predicting the mean): far past any oscillation SGD recovers from.
EXPLOSION_FACTOR = 1e6


class DivergedError(ArithmeticError):
    """Training diverged: the loss became non-finite or exploded, or the weights non-finite.

    Nothing was fitted; `epoch` is the first epoch at which it was seen, `reason` says what.
    """

    def __init__(self, epoch: int, reason: str) -> None:
        super().__init__(f"training diverged at epoch {epoch}: {reason}")
        self.epoch = epoch
        self.reason = reason


@dataclass
class EpochStats:
    """What one epoch measured, the same on every rank."""

    epoch: int
    loss: float  # mean loss over the epoch's rows, before each step (the epoch's log line)
    grad_norm: float  # mean over the epoch's steps of the global gradient's L2 norm
    lr: float
    rows: int  # rows of all ranks
    seconds: float
    stop: bool  # some rank asked to stop (SIGINT) during this epoch

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else math.inf


def stream_seed(seed: int, rank: int) -> int:
    """The shuffle generator's seed of a rank: --seed itself for rank 0, distinct for others."""
    return (seed + 0x9E3779B97F4A7C15 * rank) % 2**64


class Feed:
    """One rank's chunks as steps read them: on the device, in the dtype, standardized.

    keep=True reads the source once, during the statistics pass, and keeps the chunks; else every
    epoch reads them again (streaming: one chunk in memory at a time).
    """

    def __init__(self, source: Source, device: torch.device, dtype: torch.dtype, keep: bool):
        self.source, self.device, self.dtype, self.keep = source, device, dtype, keep
        self.shift: Tensor | None = None  # standardization: (X - shift) / scale
        self.scale: Tensor | None = None
        self._kept: list[tuple[Tensor, Tensor]] | None = None
        self._kept_raw = False

    @property
    def count(self) -> int:
        return self.source.chunk_count

    def statistics(self) -> ColumnStats:
        """One pass over the chunks (sources.column_stats): every value checked (DataError),
        their ColumnStats merged, and the chunks kept if keep."""
        kept = []
        stats = column_stats(self.source, kept.append if self.keep else None)
        if self.keep:
            self._kept, self._kept_raw = [(c.X, c.y) for c in kept], True
        return stats

    def standardize(self, mean: Tensor, std: Tensor) -> None:
        """Every chunk from now on is (X - mean) / std (float64 statistics, cast to the dtype)."""
        self.shift = mean.to(self.device, self.dtype)
        self.scale = std.to(self.device, self.dtype)

    def _prepare(self, X: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        X = X.to(self.device, self.dtype)
        if self.shift is not None:
            X = ((X - self.shift) / self.scale).contiguous()
        return X, y.to(self.device, self.dtype)

    def chunk(self, k: int) -> tuple[Tensor, Tensor]:
        if self._kept is not None:
            if self._kept_raw:  # prepared once, on the first epoch's first read
                self._kept = [self._prepare(X, y) for X, y in self._kept]
                self._kept_raw = False
            return self._kept[k]
        chunk = self.source.read_chunk(k)
        return self._prepare(chunk.X, chunk.y)

    def raw_chunks(self, dtype: torch.dtype) -> Iterator[tuple[Tensor, Tensor]]:
        """The chunks as read, on the CPU in `dtype`: for the final model on the raw features."""
        for k in range(self.count):
            chunk = self.source.read_chunk(k)
            yield chunk.X.to(dtype), chunk.y.to(dtype)


class Trainer:
    """The model, the optimizer and the shuffle generator of one rank, and the steps."""

    def __init__(self, feed: Feed, group: Group, config, steps: int, rows: int) -> None:
        self.feed, self.group, self.config = feed, group, config
        self.steps, self.rows = steps, rows  # steps an epoch (all ranks agree), rows of all ranks
        D = feed.source.features
        self.D = D
        torch.manual_seed(config.seed)  # the same initial weights on every rank
        self.model = LinearRegression(D, device=feed.device, dtype=feed.dtype)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum)
        self.shuffle = torch.Generator().manual_seed(stream_seed(config.seed, group.rank))
        self.epoch = 0  # epochs done
        self.limit = math.inf  # the divergence threshold, set by the first epoch

    def _add(self, acc: Tensor, X: Tensor, y: Tensor) -> None:
        """acc[:D+3] += [n*loss, n*grad_w, n*grad_b, n] of the part (X, y), in float64."""
        w, b = self.model.weight, self.model.bias
        if self.config.loss == "reference":  # the plain-PyTorch loss and its autograd
            loss = reference.fused_mse_loss(X, w, b, y)
            gw, gb = torch.autograd.grad(loss, (w, b))
        else:
            with torch.no_grad():
                loss, gw, gb = linear_mse_grad(X, w, b, y)
        n = len(y)
        part = torch.cat([loss.detach().reshape(1), gw.reshape(-1), gb.reshape(-1)])
        acc[: self.D + 2] += part.double() * n
        acc[self.D + 2] += n

    def _step(self, parts, stop: bool) -> tuple[Tensor, Tensor]:
        """One SGD step with the gradient of `parts` of every rank; the reduced vector and the
        gradient (float64). Every rank learns of a rank's error here and raises JobError."""
        D, group = self.D, self.group
        acc = torch.zeros(D + 5, dtype=torch.float64, device=self.feed.device)
        error = None
        try:
            for X, y in parts:
                self._add(acc, X, y)
        except (ValueError, OSError, RuntimeError) as err:
            if group.world == 1:
                raise
            error = err
            acc.zero_()
        if stop:
            acc[D + 3] = 1
        if error is not None:
            acc[D + 4] = 1
        group.all_reduce(acc)
        if group.world > 1 and acc[D + 4].item() > 0:
            raise_if_failed(group, None if error is None else str(error))
        grad = acc[1 : D + 2] / acc[D + 2]
        w, b = self.model.weight, self.model.bias
        w.grad = grad[:D].to(w.dtype).reshape(w.shape)
        b.grad = grad[D:].to(b.dtype)
        self.opt.step()
        return acc, grad

    def _batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """This epoch's mini-batches: chunks in shuffled order, rows shuffled within each."""
        B, gen = self.config.batch_size, self.shuffle
        count = self.feed.count
        order = torch.randperm(count, generator=gen).tolist() if count > 1 else range(count)
        for k in order:
            X, y = self.feed.chunk(k)
            if len(y) <= B:
                yield X, y
                continue
            perm = torch.randperm(len(y), generator=gen).to(X.device)
            for start in range(0, len(y), B):
                idx = perm[start : start + B]
                yield X.index_select(0, idx), y.index_select(0, idx)

    def _padded_batches(self) -> Iterator[list[tuple[Tensor, Tensor]]]:
        """The parts of each of the epoch's steps: one batch, or none once this rank has no
        batch left (a rank with fewer rows than another still joins every all-reduce)."""
        batches = self._batches()
        for _ in range(self.steps):
            batch = next(batches, None)
            yield [] if batch is None else [batch]

    def run_epoch(self, stop_requested: Callable[[], bool]) -> EpochStats:
        """One epoch of steps; its statistics (one host sync)."""
        start = time.perf_counter()
        D = self.D
        totals = torch.zeros(3, dtype=torch.float64, device=self.feed.device)
        if self.config.batch_size is None:
            parts = (self.feed.chunk(k) for k in range(self.feed.count))
            steps = [parts]
        else:
            steps = self._padded_batches()
        for parts in steps:
            acc, grad = self._step(parts, stop_requested())
            totals[0] += acc[0]
            totals[1] += torch.linalg.vector_norm(grad)
            totals[2] += acc[D + 3]
        loss_sum, norm_sum, stops = totals.tolist()
        self.epoch += 1
        return EpochStats(
            self.epoch,
            loss_sum / self.rows,
            norm_sum / self.steps,
            self.opt.param_groups[0]["lr"],
            self.rows,
            time.perf_counter() - start,
            stops > 0,
        )

    def state(self) -> dict:
        """What resuming needs, training space (collective: gathers every rank's generator)."""
        shuffles = self.group.gather(self.shuffle.get_state())
        optimizer = copy.deepcopy(self.opt.state_dict())
        for slot in optimizer["state"].values():
            for key, value in slot.items():
                if isinstance(value, Tensor):
                    slot[key] = value.cpu()
        return {
            "epochs_done": self.epoch,
            "limit": self.limit,
            "weight": self.model.weight.detach().cpu().clone(),
            "bias": self.model.bias.detach().cpu().clone(),
            "optimizer": optimizer,
            "shuffle": shuffles,
        }

    def load(self, state: dict) -> None:
        """Continues from state(): parameters, momentum, epochs done, this rank's generator."""
        self.epoch, self.limit = state["epochs_done"], state["limit"]
        with torch.no_grad():
            self.model.weight.copy_(state["weight"])
            self.model.bias.copy_(state["bias"])
        self.opt.load_state_dict(state["optimizer"])
        shuffles = state["shuffle"]
        if len(shuffles) == self.group.world:
            self.shuffle.set_state(shuffles[self.group.rank])

    def diverged(self, loss: float) -> str | None:
        """Why this epoch shows divergence, or None: a non-finite loss or weight, an explosion."""
        if not math.isfinite(loss):
            return f"the loss is {loss}"
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            return "the weights are no longer finite numbers"
        if loss > self.limit:
            return f"the loss {loss:.6g} is more than {EXPLOSION_FACTOR:.0e} times its first value"
        return None

    def raw_loss(self, weight: Tensor, bias: Tensor) -> float:
        """The MSE of raw-feature weight and bias (CPU) on every rank's raw data (float64 sums)."""
        acc = torch.zeros(2, dtype=torch.float64)
        with torch.no_grad():
            for X, y in self.feed.raw_chunks(weight.dtype):
                acc[0] += linear_mse_grad(X, weight, bias, y)[0].double() * len(y)
                acc[1] += len(y)
        if self.group.world > 1:  # nccl reduces device tensors only
            acc = self.group.all_reduce(acc.to(self.feed.device)).cpu()
        return (acc[0] / acc[1]).item()
