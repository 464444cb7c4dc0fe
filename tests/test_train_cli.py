"""linreg_ext.train under hostile input (issue 11): divergence, the CSV rules it shares with the
predictors, the output place checked before training, a closed stdout, SIGINT, bad options.

Every case asserts the message the CLI now prints.
"""

import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from linreg_ext import datasets, train


def run_cli(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "linreg_ext.train", *map(str, args)],
        capture_output=True,
        text=True,
        **kwargs,
    )


class Result:
    """What a CLI run gives, like subprocess.CompletedProcess: returncode, stdout, stderr."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_main(capsys, *args):
    """The CLI run in this process (no interpreter start-up): for the many message tests."""
    status = train.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return Result(status, out, err)


def write(path, text):
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- 1. divergence ---------------------------------------------------------------------------


def houses_csv(path, rows=200):
    """The issue's reproduction: square feet 500-4000, age 0-80, price; features in thousands."""
    g = np.random.default_rng(1)
    sqft, age = g.uniform(500, 4000, rows), g.uniform(0, 80, rows)
    price = 150 * sqft - 1000 * age + 50_000 + g.normal(0, 10_000, rows)
    lines = ["sqft,age,price"] + [
        f"{s:.0f},{a:.0f},{p:.0f}" for s, a, p in zip(sqft, age, price, strict=True)
    ]
    return write(path, "\n".join(lines) + "\n")


def assert_diverged(result, out, epoch_pattern=r"\d+", advice="--standardize or a smaller --lr"):
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: training diverged at epoch "), line
    assert f"; nothing saved: try {advice} (now " in line
    assert re.match(rf"error: training diverged at epoch {epoch_pattern}: ", line), line
    assert "saved " not in result.stdout and not out.exists()
    assert "Traceback" not in result.stderr
    return line


def test_divergence_on_unscaled_features_is_an_error(tmp_path):
    data, out = houses_csv(tmp_path / "houses.csv"), tmp_path / "h.ckpt"
    result = run_cli("--data", data, "--out", out)
    line = assert_diverged(result, out)
    assert "(now 0.011)" in line
    assert "weights:" not in result.stdout  # no summary of a diverged model
    # The advice works: standardized, the same data trains and saves.
    assert run_cli("--data", data, "--out", out, "--standardize", "--quiet").returncode == 0
    assert out.exists()


def test_divergence_with_huge_values_in_float64(tmp_path, capsys):
    data = write(tmp_path / "huge.csv", "x,y\n1e300,2\n2e300,4\n3,6\n")
    out = tmp_path / "m.ckpt"
    result = run_main(capsys, "--data", data, "--dtype", "float64", "--out", out)
    line = assert_diverged(result, out, "1")
    assert "epoch 1: the loss is inf" in line


def test_divergence_with_large_x(tmp_path, capsys):
    rows = "\n".join(f"{1.6e7 + i:.1f},{2 * (1.6e7 + i):.1f}" for i in range(20))
    data, out = write(tmp_path / "big.csv", "x,y\n" + rows + "\n"), tmp_path / "m.ckpt"
    assert_diverged(run_main(capsys, "--data", data, "--out", out), out)


def test_divergence_already_standardized_suggests_only_lr(tmp_path, capsys):
    data, out = houses_csv(tmp_path / "houses.csv"), tmp_path / "h.ckpt"
    args = ("--data", data, "--out", out, "--standardize", "--lr", "5", "--momentum", "0")
    result = run_main(capsys, *args)
    assert_diverged(result, out, advice="a smaller --lr")


def test_wide_data_diverges_with_a_short_message(tmp_path, capsys):
    g = np.random.default_rng(2)
    D = 10_000
    X = g.uniform(0, 100, (50, D))
    header = ",".join(f"c{i}" for i in range(D)) + ",y"
    body = "\n".join(",".join(f"{v:.2f}" for v in row) + f",{row.sum():.2f}" for row in X)
    data, out = write(tmp_path / "wide.csv", header + "\n" + body + "\n"), tmp_path / "w.ckpt"
    result = run_main(capsys, "--data", data, "--out", out, "--quiet")
    assert_diverged(result, out)
    assert len(result.stdout) + len(result.stderr) < 1000


def test_fit_raises_diverged_error_naming_the_epoch(tmp_path):
    data = datasets.load_csv(
        write(tmp_path / "h.csv", "x,y\n1e300,2\n2e300,4\n3,6\n"), None, "float64"
    )
    with pytest.raises(
        train.DivergedError, match=r"^training diverged at epoch 1: the loss is inf$"
    ) as err:
        train.fit(data, train.TrainConfig(dtype="float64"), log=lambda _: None, progress=False)
    assert err.value.epoch == 1


def test_summary_of_a_wide_model_names_ten_weights(tmp_path):
    D = 25
    X = torch.randn(30, D, generator=torch.Generator().manual_seed(0))
    data = datasets.Dataset(X, X.sum(1), [f"f{i}" for i in range(D)], "y", "generated")
    config = train.TrainConfig(epochs=5, lr=1e-3)
    result = train.fit(data, config, log=lambda _: None, progress=False)
    weights = train.summary(result, data, config).splitlines()[1]
    assert weights.startswith("weights: f0=") and weights.endswith(
        ", f9=" + weights.split(", f9=")[1]
    )
    assert weights.endswith(", … and 15 more") and "f10=" not in weights


# --- 2, 3 and the weak messages: the CSV rules of the predictors ----------------------------


def test_bom_is_not_part_of_the_first_name(tmp_path):
    path = write(tmp_path / "bom.csv", b"\xef\xbb\xbfx,y\n1,2\n2,4.5\n3,6\n")
    data = datasets.load_csv(path)
    assert data.feature_names == ["x"] and data.target_name == "y"
    assert datasets.load_csv(path, target="x").target_name == "x"


def test_quoted_csv_is_read_like_the_predictors_read_it(tmp_path):
    path = write(tmp_path / "q.csv", '"x","y"\r\n"1","2"\r\n# a comment\n"3",4\n\n 5 ,"6e0"\n')
    data = datasets.load_csv(path, dtype="float64")
    assert data.feature_names == ["x"] and data.target_name == "y"
    assert data.X.reshape(-1).tolist() == [1, 3, 5] and data.y.tolist() == [2, 4, 6]


BAD_CSV = [
    (
        "noheader.csv",
        "1,2\n3,4\n5,6\n",
        "noheader.csv: line 1 is not a header: column 1 holds '1', not a column name; the first "
        "line must name the columns (e.g. x,y)",
    ),
    (
        "nanheader.csv",
        "# data\nnan,y\n1,2\n",
        "nanheader.csv: line 2 is not a header: column 1 holds 'nan', not a column name",
    ),
    (
        "dup.csv",
        "x,x,y\n1,2,3\n4,5,6\n",
        "dup.csv: the header names column 1 and column 2 both 'x'; column names must be unique",
    ),
    (
        "empty_name.csv",
        "x,,y\n1,2,3\n4,5,6\n",
        "empty_name.csv: line 1, column 2 of the header has no name",
    ),
    (
        "comment.csv",
        "x,y\n# note\n1,2\n3,abc\n",
        "comment.csv: line 4, column 2 ('y'): 'abc' is not a finite number: expected decimal",
    ),
    (
        "nan.csv",
        "x,z,y\n1,2,3\n7,nan,9\n",
        "nan.csv: line 3, column 2 ('z'): 'nan' is not a finite number: NaN and infinity are not",
    ),
    ("hex.csv", "x,y\n0x1p3,1\n2,3\n", "hex.csv: line 2, column 1 ('x'): '0x1p3' is not a finite"),
    (
        "f32.csv",
        "x,y\n1,2\n1e300,4\n",
        "f32.csv: line 3, column 1 ('x'): '1e300' is outside the range of float32, the training "
        "dtype (largest magnitude 3.4028235e38); train in float64",
    ),
    ("quote.csv", 'x,y\n1,2\n"3,4\n', "quote.csv: line 3, column 1: a quoted field has no closing"),
    ("ragged.csv", "x,y\n1,2\n3\n", "ragged.csv: line 3 has 1 fields, the header has 2"),
    ("only_comments.csv", "# x,y\n\n", "only_comments.csv: empty file (expected a header row"),
]


@pytest.mark.parametrize("name, content, message", BAD_CSV, ids=[b[0] for b in BAD_CSV])
def test_bad_csv_is_reported_precisely(tmp_path, capsys, name, content, message):
    result = run_main(capsys, "--data", write(tmp_path / name, content))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: {tmp_path / name}")
    assert message in result.stderr, result.stderr


def test_data_that_is_not_a_file(tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")
    result = run_main(capsys, "--data", tmp_path / "adir")  # a directory is data: its shards
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {tmp_path / 'adir'}: the directory holds no .csv, .parquet or .npy files\n"
    )
    result = run_main(capsys, "--data", tmp_path / "pipe.csv")  # refused unopened: no hang
    assert result.stderr == (
        f"error: {tmp_path / 'pipe.csv'} is a FIFO (named pipe), not a CSV file\n"
    )


def test_seed_out_of_range_names_the_option(capsys):
    result = run_main(capsys, "--seed", "99999999999999999999")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "error: --seed must be an integer in [0, 2**64 - 1], got 99999999999999999999\n"
    )


# --- 4, 5. the output place, checked before any work --------------------------------------


def test_empty_out_is_an_error(capsys):
    result = run_main(capsys, "--out", "")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "error: --out is empty; give the checkpoint's file name\n"


@pytest.mark.parametrize(
    "make, args, message",
    [
        (
            lambda p: None,
            ["nodir/m.ckpt"],
            "cannot write {p}/nodir/m.ckpt: directory {p}/nodir does",
        ),
        (lambda p: (p / "adir").mkdir(), ["adir"], "{p}/adir is a directory; output replaces only"),
        (lambda p: (p / "adir").mkdir(), ["adir", "--force"], "{p}/adir is a directory; output"),
        (lambda p: os.mkfifo(p / "f"), ["f", "--force"], "{p}/f is a FIFO (named pipe); output"),
    ],
    ids=["missing-directory", "directory", "directory-force", "fifo-force"],
)
def test_output_place_is_checked_before_training(tmp_path, capsys, make, args, message):
    make(tmp_path)
    result = run_main(capsys, "--out", tmp_path / args[0], *args[1:])
    assert result.returncode == 1 and result.stdout == ""  # not one epoch ran
    assert message.format(p=tmp_path) in result.stderr, result.stderr
    assert ".tmp" not in result.stderr


def test_unwritable_directory_is_found_before_training(tmp_path, monkeypatch, capsys):
    from linreg_ext import _io

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    def no_training(*args, **kwargs):
        raise AssertionError("fit() ran although the output cannot be written")

    monkeypatch.setattr(_io.tempfile, "mkstemp", refuse)
    monkeypatch.setattr(train, "fit", no_training)
    assert train.main(["--out", str(tmp_path / "m.ckpt")]) == 1
    assert capsys.readouterr().err == f"error: cannot write in {tmp_path}: Permission denied\n"


# --- 9. a closed stdout and SIGINT --------------------------------------------------------


def test_closed_stdout_still_saves_the_checkpoint(tmp_path):
    out = tmp_path / "x.ckpt"
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head -0`: every line the trainer prints meets a closed pipe
    try:
        result = subprocess.run(
            [sys.executable, "-m", "linreg_ext.train", "--out", str(out)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no "Broken pipe", no traceback
    model, _ = train.load_checkpoint(out)
    assert model(torch.tensor([[4.0]])).item() == pytest.approx(21.75, abs=0.01)


def interrupt_training(*args):
    """Starts a very long training, sends SIGINT once it has begun; (returncode, stdout, stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "linreg_ext.train", "--epochs", "100000000", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("epoch")  # training has begun
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr


def test_sigint_without_out_is_one_line_and_exit_130(tmp_path):
    returncode, _, stderr = interrupt_training()
    assert returncode == 130
    assert stderr.endswith("error: interrupted; nothing saved\n"), stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr


def test_sigint_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    # Issue 14: with --out, SIGINT stops at the end of the epoch, saves, and says how to resume.
    out = tmp_path / "m.ckpt"
    returncode, _, stderr = interrupt_training("--out", out)
    assert returncode == 130
    line = stderr.strip().splitlines()[-1]
    match = re.fullmatch(
        rf"error: interrupted at epoch (\d+); checkpoint saved to {re.escape(str(out))}; resume "
        rf"with: python -m linreg_ext.train --epochs 100000000 --out (\S+) --resume (\S+)",
        line,
    )
    assert match and match[2] == match[3] == str(out), line
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    model, checkpoint = train.load_checkpoint(out)
    assert checkpoint["training"]["epochs_done"] == int(match[1])
    assert torch.isfinite(model.weight).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]  # no temporary left


def test_plain_files_read_fast_give_the_same_numbers(tmp_path):
    # A file of plain numbers goes through numpy's reader; the same file with a comment line in
    # its body goes through the field-by-field one. Both must give identical values.
    g = np.random.default_rng(3)
    texts = [
        f"{v:.17g}"
        if i % 4 == 0
        else f" {v:+.3e}\t"
        if i % 4 == 1
        else f"{v:.6f}"
        if i % 4 == 2
        else f"{v:.5E}"
        for i, v in enumerate(g.standard_normal(3000) * 10.0 ** g.integers(-320, 300, 3000))
    ]
    texts[:4] = ["1e-310", "-0", ".5", "7."]
    body = "\n".join(",".join(texts[i : i + 3]) for i in range(0, len(texts), 3)) + "\n"
    plain = write(tmp_path / "plain.csv", "a,b,y\r\n" + body.replace("\n", "\r\n"))
    commented = write(tmp_path / "commented.csv", "a,b,y\n" + body + "# the end\n")
    fast, slow = (datasets.load_csv(p, dtype="float64") for p in (plain, commented))
    assert torch.equal(fast.X, slow.X) and torch.equal(fast.y, slow.y)
    assert fast.X[0, 0].item() == 1e-310 and len(fast.y) == 1000


def test_plain_files_with_errors_get_the_precise_message(tmp_path):
    for body, message in [
        ("1,2\n\n3,4\n5,1e400\n", "line 5, column 2 ('y'): '1e400' is not a finite number"),
        ("1,2\n3,4,5\n", "line 3 has 3 fields, the header has 2"),
        ("1,2\n3,\n", "line 3, column 2 ('y'): '' is not a finite number: the field is empty"),
        ("1,2\n3\r4,5\n", "line 3, column 1 ('x'): '3\\r4' is not a finite number"),
    ]:
        path = write(tmp_path / "p.csv", "x,y\n" + body)
        with pytest.raises(datasets.DataError) as err:
            datasets.load_csv(path)
        assert str(err.value) == f"{path}: {message}" or str(err.value).startswith(
            f"{path}: {message}"
        ), err.value
