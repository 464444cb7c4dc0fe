"""The processes of one training job: which rank this is, and the collectives the trainer needs.

    torchrun --nproc-per-node 2 -m linreg_ext.train --data shards/ ...

torchrun sets WORLD_SIZE, RANK and LOCAL_RANK; join() then makes a process group (gloo on the CPU,
nccl on CUDA, one GPU per local rank) with a bounded timeout, so that a rank that hangs ends the
job instead of holding it forever. Without torchrun, join() gives the one-process Group whose
collectives are identities, and the trainer runs the same code.

Why one hand-made all-reduce per step and not DistributedDataParallel: the step the trainer takes
is the full dataset's (or the global batch's) mean gradient, sum_r n_r g_r / sum_r n_r. DDP
all-reduces gradients averaged over ranks, which equals that only when every rank holds the same
number of rows; it reduces neither the row counts nor the loss (needed for the divergence check
and the log), would want a module wrapper around a model of D + 1 numbers, and its buckets and
hooks buy nothing at that size. One all_reduce(SUM) of a float64 vector [n*loss, n*grad_w (D),
n*grad_b, n, stop, failed] (D + 5 numbers) carries all of it: every rank gets the same sums,
divides by the same global n and takes the same step, and stops at the same step when any rank
saw SIGINT (stop) or an error (failed).
"""

from __future__ import annotations

import datetime
import os
import time

import torch
import torch.distributed as dist

__all__ = [
    "Group",
    "JobError",
    "ProcessGroup",
    "checked",
    "env_rank",
    "join",
    "raise_if_failed",
    "TIMEOUT",
]

# A collective that waits longer than this ends the job: a rank that died or hangs (a stuck
# read) cannot hold the others forever. Reading a rank's share of the data for the statistics
# happens between two collectives, so the bound must cover one pass over the largest shard.
TIMEOUT = datetime.timedelta(minutes=10)


class JobError(ValueError):
    """A rank of a multi-process job failed (or the ranks disagree); the same on every rank."""


def env_rank() -> int:
    """This process's rank as torchrun announces it (0 without torchrun): who prints, before
    the process group exists."""
    return int(os.environ.get("RANK", "0"))


class Group:
    """One process: rank 0 of 1. The collectives are identities; nothing is communicated.

    Attributes:
        rank, world: this process's rank and the number of processes.
        reduce_seconds, reduces: time spent in all_reduce and how many calls (the benchmark's
            all-reduce share).
    """

    rank = 0
    world = 1

    def __init__(self) -> None:
        self.reduce_seconds = 0.0
        self.reduces = 0

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        """t summed over the ranks, in place (one process: t)."""
        return t

    def gather(self, obj) -> list:
        """[obj of rank 0, obj of rank 1, ...] on every rank (a picklable object)."""
        return [obj]

    def close(self) -> None:
        pass


class ProcessGroup(Group):
    """The torch.distributed default group of a torchrun job (gloo for cpu, nccl for cuda)."""

    def __init__(self, device: str) -> None:
        super().__init__()
        backend = "nccl" if device == "cuda" else "gloo"
        if device == "cuda":
            torch.cuda.set_device(local_gpu())
        dist.init_process_group(backend, timeout=TIMEOUT)
        self.rank = dist.get_rank()
        self.world = dist.get_world_size()
        self.device = (
            torch.device("cuda", torch.cuda.current_device()) if device == "cuda" else None
        )

    def all_reduce(self, t: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        if t.is_cuda:  # nccl returns before the sum is there: time the whole exchange
            torch.cuda.synchronize(t.device)
        self.reduce_seconds += time.perf_counter() - start
        self.reduces += 1
        return t

    def gather(self, obj) -> list:
        out = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def local_gpu() -> int:
    """This process's GPU under torchrun: its LOCAL_RANK, which must name a GPU of this node
    (nccl: one GPU per process). ValueError saying how many there are otherwise."""
    local, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local >= count:
        raise ValueError(
            f"--device cuda: local rank {local} needs GPU {local}, but this node has {count}; "
            f"start at most {count} per node (torchrun --nproc-per-node {count})"
        )
    return local


def join(device: str = "cpu") -> Group:
    """The job this process belongs to: a ProcessGroup under torchrun (WORLD_SIZE > 1), else the
    one-process Group."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return ProcessGroup(device)
    return Group()


def checked(group: Group, fn, errors=(ValueError, OSError)):
    """fn()'s value on this rank, once every rank's fn() has run; or the same JobError everywhere.

    A rank whose fn raises one of `errors` (bad data, a missing file) would otherwise leave the
    others waiting at their next collective. Here every rank learns of it, and every rank raises
    JobError naming the first rank that failed and its message. One process: the error itself.
    Only the messages travel, never the values.
    """
    try:
        value, message = fn(), None
    except errors as err:
        if group.world == 1:
            raise
        value, message = None, str(err)
    raise_if_failed(group, message)
    return value


def raise_if_failed(group: Group, message: str | None) -> None:
    """Collective: JobError on every rank if any rank passes a message (its error), else None."""
    messages = group.gather(message)
    failed = [(rank, m) for rank, m in enumerate(messages) if m is not None]
    if failed:
        rank, message = failed[0]
        others = f" (and {len(failed) - 1} more ranks)" if len(failed) > 1 else ""
        raise JobError(f"rank {rank} of {group.world}{others}: {message}")
