"""The README's loss curve: the scalars a `--logdir` run wrote, read back from its event file.

    python bench/plot_train_scalars.py [--out docs/train-scalars.png]

Trains the bundled tutorial data with --logdir (1000 epochs, full batch), reads the event file
back with tensorboard's EventAccumulator (no browser on a build machine) and plots loss, R^2 and
gradient norm per epoch with matplotlib. It is a plot of the logged scalars, not a screenshot of
TensorBoard.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "train-scalars.png"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as logdir:
        command = [sys.executable, "-m", "linreg_ext.train", "--logdir", logdir, "--quiet"]
        subprocess.run(command, check=True)
        events = EventAccumulator(logdir)
        events.Reload()
        scalars = {t: events.Scalars(t) for t in ("loss", "r2", "grad_norm")}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (tag, points) in zip(axes, scalars.items(), strict=True):
        ax.plot([p.step for p in points], [p.value for p in points])
        ax.set_xlabel("epoch")
        ax.set_title(tag)
        if tag != "r2":
            ax.set_yscale("log")
    fig.suptitle("linreg_ext.train --logdir: the logged scalars (bundled data, defaults)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
