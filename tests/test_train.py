"""The training CLI: defaults, options, checkpoints, and the errors it reports."""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_python

from linreg_ext import datasets, train
from linreg_ext._io import atomic_write


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def least_squares(X, y):
    """(weights, bias) of the exact least-squares fit, in float64."""
    A = torch.cat([X.double(), torch.ones(len(X), 1, dtype=torch.float64)], dim=1)
    solution = torch.linalg.lstsq(A, y.double()).solution
    return solution[:-1], solution[-1]


@pytest.fixture
def noiseless_csv(tmp_path):
    """y = X w* + b* exactly, with 3 features on different scales."""
    g = torch.Generator().manual_seed(11)
    X = torch.randn(400, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.1]) + 2
    w_true, b_true = torch.tensor([1.5, -0.25, 4.0], dtype=torch.float64), 0.75
    y = X @ w_true + b_true
    rows = [[*map(repr, x), repr(t)] for x, t in zip(X.tolist(), y.tolist(), strict=True)]
    path = write_csv(tmp_path / "clean.csv", ["a", "b", "c", "target"], rows)
    return path, w_true, b_true


def test_defaults_reproduce_the_tutorial():
    data = datasets.bundled_dataset()
    result = train.fit(data, train.TrainConfig(), log=lambda _: None, progress=False)
    w, b = least_squares(data.X, data.y)
    x4 = torch.tensor([[4.0]])
    prediction = result.model(x4).item()
    assert prediction == pytest.approx((4.0 * w + b).item(), abs=2e-4)
    assert prediction == pytest.approx(21.75, abs=0.01)
    residual = data.y.double() - (data.X.double() @ w + b)
    assert result.loss == pytest.approx(residual.pow(2).mean().item(), rel=1e-5)
    assert result.r2 == pytest.approx(
        1 - residual.pow(2).mean() / data.y.double().var(correction=0)
    )


def test_cli_prints_progress_and_summary(capsys, tmp_path):
    out = tmp_path / "model.ckpt"
    assert train.main(["--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "epoch    1/1000  loss" in printed and "epoch 1000/1000  loss" in printed
    assert "weights: x=5.000" in printed and "bias: 1.74" in printed
    assert "R^2: 0.97" in printed and "prediction at x=4.0: 21.7" in printed
    model, checkpoint = train.load_checkpoint(out)
    assert checkpoint["feature_names"] == ["x"] and checkpoint["target_name"] == "y"
    assert model(torch.tensor([[4.0]])).item() == pytest.approx(21.75, abs=0.01)


def test_fused_and_reference_training_agree(noiseless_csv):
    path, _, _ = noiseless_csv
    data = datasets.load_csv(path, dtype="float64")
    config = {"epochs": 300, "dtype": "float64", "standardize": True}
    fused = train.fit(data, train.TrainConfig(**config), progress=False, log=lambda _: None)
    ref = train.fit(
        data, train.TrainConfig(**config, loss="reference"), progress=False, log=lambda _: None
    )
    for a, b in zip(fused.model.parameters(), ref.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_noiseless_data_recovers_true_weights(noiseless_csv, tmp_path, capsys):
    path, w_true, b_true = noiseless_csv
    out = tmp_path / "m.ckpt"
    args = ["--data", str(path), "--standardize", "--epochs", "2000", "--dtype", "float64"]
    assert train.main([*args, "--out", str(out), "--quiet"]) == 0
    assert "weights: a=1.5, b=-0.25, c=4" in capsys.readouterr().out
    model, checkpoint = train.load_checkpoint(out)
    torch.testing.assert_close(model.weight.reshape(-1), w_true, rtol=0, atol=1e-8)
    torch.testing.assert_close(
        model.bias, torch.tensor([b_true], dtype=torch.float64), rtol=0, atol=1e-8
    )
    assert checkpoint["feature_names"] == ["a", "b", "c"] and checkpoint["target_name"] == "target"


def test_target_option_and_minibatches(noiseless_csv):
    path, w_true, b_true = noiseless_csv
    # "a" as the target: a = (target - b_true - w_b * b - w_c * c) / w_a, still exactly linear.
    data = datasets.load_csv(path, target="a", dtype="float64")
    assert data.feature_names == ["b", "c", "target"]
    config = train.TrainConfig(epochs=60, batch_size=32, standardize=True, dtype="float64")
    result = train.fit(data, config, progress=False, log=lambda _: None)
    expected = torch.tensor([0.25, -4.0, 1.0], dtype=torch.float64) / 1.5
    torch.testing.assert_close(result.model.weight.reshape(-1), expected, rtol=0, atol=1e-6)
    assert result.r2 == pytest.approx(1.0, abs=1e-9)


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("linreg-train")
    if not script.exists():  # an environment whose scripts live elsewhere; the module still runs
        script = None
    args = ["--epochs", "3", "--quiet"]
    if script:
        out = subprocess.run([script, *args], capture_output=True, text=True)
    else:
        out = run_python("-m", "linreg_ext.train", *args)
    assert out.returncode == 0, out.stderr
    assert "trained 3 epochs" in out.stdout


def run_cli(args):
    return run_python("-m", "linreg_ext.train", *args)


BAD_DATA = [
    ("missing.csv", None, r"missing.csv: no such CSV file"),
    ("empty.csv", "", r"empty.csv: empty file"),
    ("header_only.csv", "x,y\n", r"header_only.csv: no data rows after the header"),
    ("one_row.csv", "x,y\n1,2\n", r"one_row.csv: only 1 data row; a line needs at least 2"),
    ("text.csv", "x,y\n1,2\n3,abc\n4,5\n", r"text.csv: line 3, column 2 \('y'\): 'abc' is not"),
    ("blank.csv", "x,y\n1,2\n,4\n", r"blank.csv: line 3, column 1 \('x'\): '' is not a finite"),
    ("ragged.csv", "x,y\n1,2\n3\n", r"ragged.csv: line 3 has 1 fields, the header has 2"),
    ("nan.csv", "x,z,y\n1,2,3\n4,5,6\n7,nan,9\n", r"nan.csv: line 4, column 2 \('z'\): 'nan' is"),
    ("inf.csv", "x,y\n1,2\n-inf,3\n", r"inf.csv: line 3, column 1 \('x'\): '-inf' is not"),
]


@pytest.mark.parametrize("name, content, message", BAD_DATA, ids=[b[0] for b in BAD_DATA])
def test_bad_data_is_reported(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = run_cli(["--data", str(path)])
    assert out.returncode == 1
    assert out.stderr.startswith("error: ")
    assert re.search(message, out.stderr), out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "price"], r"the bundled data has target 'y', not 'price'"),
        (["--epochs", "0"], r"--epochs must be at least 1, got 0"),
        (["--momentum", "1.5"], r"--momentum must be in \[0, 1\), got 1.5"),
        (["--lr", "-1"], r"--lr must be a positive number, got -1.0"),
        (["--batch-size", "0"], r"--batch-size must be at least 1, got 0"),
    ],
)
def test_bad_options_are_reported(args, message):
    out = run_cli(args)
    assert out.returncode == 1 and re.search(message, out.stderr), out.stderr


def test_library_errors_name_the_field_not_the_option():
    # The library speaks of TrainConfig fields; only the CLI (above) turns them into options.
    data = datasets.bundled_dataset()
    with pytest.raises(train.ConfigError, match=r"^batch_size must be at least 1, got 0$") as err:
        train.fit(data, train.TrainConfig(batch_size=0), progress=False, log=lambda _: None)
    assert err.value.field == "batch_size"
    with pytest.raises(datasets.DataError, match=r"^the bundled data has target 'y', not 'p'$"):
        datasets.bundled_dataset(target="p")


def test_missing_target_column(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["x", "y"], [[1, 2], [3, 4]])
    out = run_cli(["--data", str(path), "--target", "price"])
    assert out.returncode == 1
    assert "d.csv: target column 'price' not found; columns: x, y" in out.stderr


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has CUDA; see test_cuda_training"
)
def test_cuda_requested_without_cuda():
    out = run_cli(["--device", "cuda"])
    assert out.returncode == 1
    assert "--device cuda: no CUDA device is available on this machine" in out.stderr


@pytest.mark.cuda
def test_cuda_training_matches_cpu():
    data = datasets.bundled_dataset("float64")
    config = {"epochs": 200, "dtype": "float64"}
    cpu = train.fit(data, train.TrainConfig(**config), progress=False, log=lambda _: None)
    gpu = train.fit(
        data, train.TrainConfig(**config, device="cuda"), progress=False, log=lambda _: None
    )
    for a, b in zip(cpu.model.parameters(), gpu.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_existing_output_is_not_replaced_without_force(tmp_path):
    out = tmp_path / "model.ckpt"
    out.write_bytes(b"precious")
    result = run_cli(["--epochs", "2", "--out", str(out)])
    assert result.returncode == 1 and "already exists; pass --force" in result.stderr
    assert out.read_bytes() == b"precious"
    assert run_cli(["--epochs", "2", "--out", str(out), "--force"]).returncode == 0
    train.load_checkpoint(out)


def test_atomic_write_refuses_an_existing_file_in_its_own_words(tmp_path):
    out = tmp_path / "file.bin"
    out.write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"file.bin already exists$"):
        atomic_write(out, lambda tmp: tmp.write_bytes(b"new"))
    assert out.read_bytes() == b"old"


def test_atomic_write_leaves_no_partial_file(tmp_path):
    out = tmp_path / "file.bin"
    out.write_bytes(b"old")

    def fail_halfway(tmp):
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(out, fail_halfway, force=True)
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]  # no temporary left behind


def test_load_checkpoint_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.ckpt"
    torch.save({"something": 1}, bad)
    with pytest.raises(ValueError, match="bad.ckpt: not a linreg_ext checkpoint"):
        train.load_checkpoint(bad)


def test_cli_reference_loss_gives_the_same_model(capsys):
    assert train.main(["--epochs", "50", "--quiet", "--dtype", "float64"]) == 0
    fused = capsys.readouterr().out
    assert (
        train.main(["--epochs", "50", "--quiet", "--dtype", "float64", "--loss", "reference"]) == 0
    )
    ref = capsys.readouterr().out
    assert "fused loss" in fused and "reference loss" in ref
    # Same loop, same seed: the printed weights, bias and loss agree.
    assert fused.splitlines()[1:] == ref.splitlines()[1:]
