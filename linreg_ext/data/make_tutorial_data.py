"""Regenerates tutorial.csv, the bundled one-feature dataset (run from the repository root).

A noisy line, y = 5 x + 1.75 + noise, with 50 points for x in [0, 8]. The noise is projected
away from [1, x], so the least-squares line is exactly y = 5 x + 1.75 before the CSV rounds
values to three decimals: a fitted model predicts about 21.75 at x = 4.0.
"""

import csv
from pathlib import Path

import torch


def make(n: int = 50, seed: int = 2024) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = 8.0 * torch.rand(n, generator=g, dtype=torch.float64)
    noise = 1.5 * torch.randn(n, generator=g, dtype=torch.float64)
    basis = torch.stack([torch.ones(n, dtype=torch.float64), x], dim=1)
    noise -= basis @ torch.linalg.lstsq(basis, noise).solution  # no linear trend left
    return x, 5.0 * x + 1.75 + noise


if __name__ == "__main__":
    x, y = make()
    path = Path(__file__).with_name("tutorial.csv")
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y"])
        writer.writerows(
            (f"{a:.3f}", f"{b:.3f}") for a, b in zip(x.tolist(), y.tolist(), strict=True)
        )
    print(f"wrote {path}")
