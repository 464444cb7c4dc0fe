"""Training at scale in one process (issue 14): streamed chunks, resume, periodic checkpoints,
TensorBoard. The multi-process runs are in test_train_distributed.py.

Expected numbers come from a plain loop written here (autograd over all rows at once, SGD), or
from torch.linalg.lstsq, never from the trainer's own output.
"""

import json
import math
import re

import pytest
import torch

from linreg_ext import datasets, train
from linreg_ext.checkpoint import ResumeError, resume_state
from linreg_ext.model import LinearRegression
from linreg_ext.ops import fused_mse_loss
from linreg_ext.sources import TensorSource

QUIET = {"log": lambda _: None, "progress": False}


def make_data(rows=203, D=3, noise=0.1, seed=5, dtype=torch.float64, offset=2.0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.tensor([1.0, 10.0, 0.1, 3.0, 0.5][:D], dtype=torch.float64)
    X = torch.randn(rows, D, generator=g, dtype=torch.float64) * scale + offset
    w = torch.linspace(-1.5, 2.0, D, dtype=torch.float64)
    y = X @ w + 0.75 + noise * torch.randn(rows, generator=g, dtype=torch.float64)
    names = [f"f{i}" for i in range(D)]
    return datasets.Dataset(X.to(dtype), y.to(dtype), names, "y", "generated")


def write_csv(path, data):
    lines = [",".join([*data.feature_names, data.target_name])]
    for x, t in zip(data.X.tolist(), data.y.tolist(), strict=True):
        lines.append(",".join(map(repr, [*x, t])))
    path.write_text("\n".join(lines) + "\n")
    return path


def plain_full_batch(data, epochs, lr=0.011, momentum=0.89, seed=0, standardize=False):
    """The textbook loop over all rows at once: the independent expectation (raw weights)."""
    X, y = data.X, data.y
    if standardize:
        mean, std = X.double().mean(0), X.double().std(0, correction=0)
        X = ((X - mean.to(X.dtype)) / std.to(X.dtype)).contiguous()
    torch.manual_seed(seed)
    model = LinearRegression(X.shape[1], dtype=X.dtype)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for _ in range(epochs):
        opt.zero_grad()
        fused_mse_loss(X, model.weight, model.bias, y).backward()
        opt.step()
    w, b = model.weight.detach().double().reshape(-1), model.bias.detach().double()
    if standardize:
        w, b = w / std, b - (w * mean / std).sum()
    return w, b


def params(result):
    return result.model.weight.detach().reshape(-1), result.model.bias.detach()


# --- streaming ---------------------------------------------------------------------------------


def test_one_chunk_float32_is_the_plain_loop_bit_for_bit():
    data = datasets.bundled_dataset()
    result = train.fit(data, train.TrainConfig(epochs=300), **QUIET)
    w, b = plain_full_batch(data, 300)
    assert torch.equal(result.model.weight.reshape(-1).double(), w)
    assert torch.equal(result.model.bias.double(), b)


@pytest.mark.parametrize("standardize", [False, True])
@pytest.mark.parametrize("loss", ["fused", "reference"])
def test_streamed_full_batch_gives_the_in_memory_weights(standardize, loss):
    data = make_data()
    config = train.TrainConfig(epochs=150, dtype="float64", standardize=standardize, loss=loss)
    streamed = train.fit(TensorSource(data, chunk_rows=37), config, keep_in_memory=False, **QUIET)
    w, b = plain_full_batch(data, 150, standardize=standardize)
    # float64 summation order (6 chunks, then the chunks' sums) and the streamed statistics
    torch.testing.assert_close(params(streamed)[0], w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(params(streamed)[1], b, rtol=1e-12, atol=1e-12)
    kept = train.fit(TensorSource(data, chunk_rows=37), config, keep_in_memory=True, **QUIET)
    assert torch.equal(kept.model.weight, streamed.model.weight)  # the same reads, kept or not
    residual = data.y - (data.X @ w + b)
    assert streamed.loss == pytest.approx(residual.pow(2).mean().item(), rel=1e-10)


def test_streamed_csv_from_the_cli_gives_the_in_memory_weights(tmp_path, capsys):
    path = write_csv(tmp_path / "d.csv", make_data())
    common = ["--data", path, "--dtype", "float64", "--epochs", "100", "--quiet", "--standardize"]
    for name, extra in (("mem", []), ("stream", ["--chunk-rows", "50"])):
        assert train.main([*map(str, common), "--out", str(tmp_path / name), *extra]) == 0
    capsys.readouterr()
    mem, _ = train.load_checkpoint(tmp_path / "mem")
    stream, _ = train.load_checkpoint(tmp_path / "stream")
    torch.testing.assert_close(stream.weight, mem.weight, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(stream.bias, mem.bias, rtol=1e-12, atol=1e-12)


def test_minibatches_shuffle_chunks_reproducibly_and_converge():
    data = make_data(noise=0.0)
    source = TensorSource(data, chunk_rows=50)
    config = train.TrainConfig(epochs=40, batch_size=16, dtype="float64", standardize=True)
    one = train.fit(source, config, keep_in_memory=False, **QUIET)
    again = train.fit(source, config, keep_in_memory=False, **QUIET)
    other = train.fit(source, train.TrainConfig(**{**config.__dict__, "seed": 1}), **QUIET)
    assert torch.equal(one.model.weight, again.model.weight)
    assert not torch.equal(one.model.weight, other.model.weight)
    A = torch.cat([data.X, torch.ones(len(data.y), 1, dtype=torch.float64)], 1)
    expected = torch.linalg.lstsq(A, data.y).solution
    torch.testing.assert_close(params(one)[0], expected[:-1], rtol=0, atol=1e-6)


def test_chunk_options_are_checked(capsys):
    assert train.main(["--chunk-rows", "0"]) == 1
    assert capsys.readouterr().err == "error: --chunk-rows must be at least 1, got 0\n"
    assert train.main(["--checkpoint-every", "2"]) == 1
    assert "--checkpoint-every needs --out" in capsys.readouterr().err
    assert train.main(["--memory-budget", "lots"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --memory-budget is not a size: ") and "got 'lots'" in err


# --- resume and periodic checkpoints -----------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        ["--dtype", "float64"],
        ["--dtype", "float64", "--batch-size", "16", "--chunk-rows", "60", "--standardize"],
        ["--batch-size", "40", "--momentum", "0.5"],  # float32
    ],
    ids=["full-batch", "minibatch-chunks-standardized", "minibatch-float32"],
)
def test_resume_ends_where_a_straight_run_ends(tmp_path, capsys, options):
    data = write_csv(tmp_path / "d.csv", make_data())
    common = ["--data", str(data), "--quiet", *options]
    straight, part = tmp_path / "straight.ckpt", tmp_path / "part.ckpt"
    assert train.main([*common, "--epochs", "24", "--out", str(straight)]) == 0
    assert train.main([*common, "--epochs", "10", "--out", str(part)]) == 0
    # The same file continued (no --force needed for the run's own file), with more epochs.
    assert train.main([*common, "--epochs", "24", "--resume", str(part), "--out", str(part)]) == 0
    capsys.readouterr()
    a, meta_a = train.load_checkpoint(straight)
    b, meta_b = train.load_checkpoint(part)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    assert meta_b["training"]["epochs_done"] == 24
    assert meta_a["training"]["loss"] == meta_b["training"]["loss"]


def test_resume_from_a_periodic_snapshot_is_exact(tmp_path):
    data = make_data()
    config = train.TrainConfig(epochs=12, batch_size=32, dtype="float64", standardize=True)
    snapshots = []
    hooks = train.Hooks(checkpoint_every=5, on_checkpoint=snapshots.append)
    straight = train.fit(TensorSource(data, 70), config, hooks=hooks, **QUIET)
    assert [s.epochs for s in snapshots] == [5, 10]  # never at the end: the run writes that
    path = tmp_path / "at5.ckpt"
    train.save_checkpoint(path, snapshots[0], snapshots[0].facts, config)
    resumed = train.fit(TensorSource(data, 70), config, resume=resume_state(path), **QUIET)
    assert torch.equal(resumed.model.weight, straight.model.weight)
    assert resumed.history == straight.history


def test_checkpoint_every_writes_the_run_file(tmp_path, capsys):
    out = tmp_path / "m.ckpt"
    args = ["--epochs", "30", "--checkpoint-every", "7", "--out", str(out), "--quiet"]
    assert train.main(args) == 0
    capsys.readouterr()
    _, meta = train.load_checkpoint(out)
    assert meta["training"]["epochs_done"] == 30
    out.write_bytes(b"precious")  # an --out from before the run still needs --force
    assert train.main(args) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"


def test_divergence_writes_nothing_after_the_last_periodic_checkpoint(tmp_path, capsys):
    # Unscaled features in the thousands: the loss grows for epochs before it explodes.
    rows = "\n".join(f"{1000 + 37 * i % 3000},{5 * (1000 + 37 * i % 3000)}" for i in range(50))
    data = tmp_path / "big.csv"
    data.write_text("x,y\n" + rows + "\n")
    out = tmp_path / "m.ckpt"
    args = ["--data", data, "--lr", "4e-7", "--momentum", "0", "--checkpoint-every", "1"]
    status = train.main([*map(str, args), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 3, err
    match = re.search(r"diverged at epoch (\d+):.*nothing saved after epoch (\d+) \(", err)
    assert match and int(match[2]) == int(match[1]) - 1, err
    assert train.load_checkpoint(out)[1]["training"]["epochs_done"] == int(match[2])


def test_resume_refuses_other_data_or_options(tmp_path, capsys):
    data = write_csv(tmp_path / "d.csv", make_data())
    other = write_csv(tmp_path / "other.csv", make_data(seed=6))
    fewer = write_csv(tmp_path / "fewer.csv", make_data(rows=150))
    ckpt = tmp_path / "m.ckpt"
    assert train.main(["--data", str(data), "--epochs", "5", "--out", str(ckpt), "--quiet"]) == 0
    capsys.readouterr()
    for args, message in [
        (["--data", other], "the values differ"),
        (["--data", fewer], "rows 203 in the checkpoint, 150 now"),
        (["--data", data, "--lr", "0.1"], "cannot resume with --lr 0.1 (the checkpoint's run had"),
        (["--data", data, "--epochs", "3"], "epochs 3 is fewer than the 5 epochs the checkpoint"),
    ]:
        assert train.main([*map(str, args), "--resume", str(ckpt), "--quiet"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, err
    old = tmp_path / "old.ckpt"
    model, meta = train.load_checkpoint(ckpt)
    torch.save({"state_dict": model.state_dict(), **meta}, old)  # as written before issue 14
    assert train.main(["--resume", str(old)]) == 1
    assert "holds no training state to resume from" in capsys.readouterr().err
    with pytest.raises(ResumeError, match="momentum 0.89 in the checkpoint, 0.5 now"):
        train.fit(
            datasets.load_csv(data, dtype="float32"),
            train.TrainConfig(epochs=9, momentum=0.5),
            resume=resume_state(ckpt),
            **QUIET,
        )


def test_a_resumable_checkpoint_still_exports(tmp_path, capsys):
    ckpt = tmp_path / "m.ckpt"
    assert train.main(["--epochs", "5", "--out", str(ckpt), "--quiet"]) == 0
    model, description = train.load_checkpoint(ckpt)
    assert "resume" not in description
    json.dumps(description)  # what export writes as metadata.json
    assert "resume" in torch.load(ckpt, weights_only=True)


# --- TensorBoard -------------------------------------------------------------------------------


def test_logdir_scalars_match_the_run(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = make_data(rows=120)
    path = write_csv(tmp_path / "d.csv", data)
    logdir = tmp_path / "tb"
    args = ["--data", path, "--dtype", "float64", "--epochs", "20", "--logdir", logdir]
    assert train.main([*map(str, args), "--chunk-rows", "50"]) == 0
    printed = dict(
        (int(e), float(loss))
        for e, loss in re.findall(r"epoch\s+(\d+)/20  loss (\S+)", capsys.readouterr().out)
    )
    events = EventAccumulator(str(logdir))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"loss", "r2", "grad_norm", "lr", "rows_per_s"}
    scalars = {
        tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]
    }
    assert sorted(scalars["loss"]) == list(range(1, 21))
    for epoch, loss in printed.items():  # the logged epochs (float32 in the event file)
        assert scalars["loss"][epoch] == pytest.approx(loss, rel=1e-5)
    variance = data.y.var(correction=0).item()
    for epoch, loss in scalars["loss"].items():
        assert scalars["r2"][epoch] == pytest.approx(1 - loss / variance, rel=1e-5, abs=1e-6)
        assert scalars["lr"][epoch] == pytest.approx(0.011)
        assert scalars["rows_per_s"][epoch] > 0
    # Epoch 1: the loss and gradient norm of the initial model, on all rows at once.
    torch.manual_seed(0)
    model = LinearRegression(3, dtype=torch.float64)
    loss = fused_mse_loss(data.X, model.weight, model.bias, data.y)
    loss.backward()
    norm = torch.cat([model.weight.grad.reshape(-1), model.bias.grad]).norm().item()
    assert scalars["loss"][1] == pytest.approx(loss.item(), rel=1e-6)
    assert scalars["grad_norm"][1] == pytest.approx(norm, rel=1e-6)
    assert not math.isnan(scalars["grad_norm"][20])
