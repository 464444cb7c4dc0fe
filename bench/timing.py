"""Timing helpers for bench.py: interleaved repetitions, medians and spread, CUDA-event timing.

Implementations being compared are timed in interleaved rounds (A B C A B C ...), so that a
change in the machine's state during the run (frequency, a neighbour's memory traffic) affects
them alike instead of favouring whichever ran in the quiet moment.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    samples: int

    def as_dict(self) -> dict:
        return {
            "median_ms": self.median_s * 1e3,
            "p10_ms": self.p10_s * 1e3,
            "p90_ms": self.p90_s * 1e3,
            "samples": self.samples,
        }


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def summarize(samples: list[float]) -> Timing:
    s = sorted(samples)
    return Timing(statistics.median(s), _quantile(s, 0.1), _quantile(s, 0.9), len(s))


def _time_once(fn: Callable[[], object], device: str, calls: int) -> float:
    """Seconds per call, averaged over `calls` back-to-back calls."""
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / calls
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def time_interleaved(
    fns: dict[str, Callable[[], object]],
    device: str = "cpu",
    budget_s: float = 2.0,
    min_samples: int = 7,
    max_samples: int = 200,
    warmup: int = 3,
) -> dict[str, Timing]:
    """Times every fn in interleaved rounds; a sample is the mean of enough calls to last ~1 ms."""
    calls = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
        one = max(_time_once(fn, device, 1), 1e-7)
        calls[name] = max(1, int(1e-3 / one))
    per_round = sum(_time_once(fn, device, calls[n]) * calls[n] for n, fn in fns.items())
    rounds = max(min_samples, min(max_samples, int(budget_s / max(per_round, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(_time_once(fn, device, calls[name]))
    return {name: summarize(values) for name, values in samples.items()}
