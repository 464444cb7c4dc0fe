"""linreg_ext.export refusing what it cannot export well (issue 11), with the message it prints:
bad checkpoints, non-finite models, inconsistent descriptions, bad output places. Also the
constructor's in_features rule, which protects the C++ app from a bool in_features."""

import argparse
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
import torch

from linreg_ext import LinearRegression, torchscript
from linreg_ext import export as exporter


def run_export(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "linreg_ext.export", *map(str, args)],
        capture_output=True,
        text=True,
        **kwargs,
    )


def export_main(capsys, *args):
    """(exit status, stdout, stderr) of the export program, run in this process (fast)."""
    status = exporter.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def checkpoint(D=1, weight=None, names=None, **overrides):
    model = LinearRegression(D)
    if weight is not None:
        with torch.no_grad():
            model.weight.fill_(weight)
    names = [f"f{i}" for i in range(D)] if names is None else names
    return {
        "state_dict": model.state_dict(),
        "in_features": D,
        "feature_names": names,
        "target_name": "y",
        "dtype": "float32",
        **overrides,
    }


def save(path, obj):
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    else:
        torch.save(obj, path)
    return path


UNREADABLE = (
    ": not a linreg_ext checkpoint: torch.load cannot read it as one (a file from "
    "`python -m linreg_ext.train --out`)"
)
BAD_CHECKPOINTS = [
    ("empty", b"", "{c}: empty file, not a linreg_ext checkpoint"),
    ("garbage", b"\x80\x02junk\x00" * 20, "{c}" + UNREADABLE),
    ("pickled-object", argparse.Namespace(a=1), "{c}" + UNREADABLE),
    (
        "list",
        [1, 2],
        "{c}: not a linreg_ext checkpoint: it holds a list, not the dict train writes",
    ),
    (
        "plain-dict",
        {"something": 1},
        "{c}: not a linreg_ext checkpoint: it has no 'state_dict', 'in_features', 'dtype' "
        "(its keys: 'something')",
    ),
    (
        "bool-in-features",
        checkpoint(in_features=True),
        "{c}: not a linreg_ext checkpoint: in_features is True, not a positive int",
    ),
    (
        "bad-dtype",
        checkpoint(dtype="int8"),
        "{c}: not a linreg_ext checkpoint: dtype is 'int8', not one of float32, float64",
    ),
    (
        "shape",
        checkpoint(D=2, in_features=3),
        "{c}: not a linreg_ext checkpoint: weight must be a [1, 3] float32 tensor, "
        "got [1, 2] torch.float32",
    ),
]


@pytest.mark.parametrize(
    "name, content, message", BAD_CHECKPOINTS, ids=[b[0] for b in BAD_CHECKPOINTS]
)
def test_bad_checkpoints_are_refused_in_one_line(tmp_path, capsys, name, content, message):
    ckpt = save(tmp_path / "c.ckpt", content)
    status, out, err = export_main(capsys, "--checkpoint", ckpt, "--out", tmp_path / "m.pt")
    assert status == 1 and out == ""
    assert err == f"error: {message.format(c=ckpt)}\n"
    assert "weights_only" not in err and "arbitrary code" not in err
    assert not (tmp_path / "m.pt").exists()


def test_garbage_checkpoint_from_the_command_line(tmp_path):
    ckpt = save(tmp_path / "c.ckpt", b"not a checkpoint at all")
    result = run_export("--checkpoint", ckpt, "--out", tmp_path / "m.pt")
    assert result.returncode == 1 and result.stderr == f"error: {ckpt}{UNREADABLE}\n"


@pytest.mark.parametrize(
    "content, message",
    [
        (
            checkpoint(weight=float("nan")),
            "the model's weights are NaN; it cannot be exported (retrain it)",
        ),
        (
            checkpoint(weight=float("inf")),
            "the model's weights are infinite; it cannot be exported (retrain it)",
        ),
        (checkpoint(D=2, names=["a"]), "1 feature_names for a model of 2 in_features"),
        (checkpoint(D=2, names=["a", "a"]), "feature_names must be unique, got ['a', 'a']"),
        (
            checkpoint(D=2, names=["a", ""]),
            "feature_names must be a list of non-empty names, got ['a', '']",
        ),
    ],
    ids=["nan", "inf", "names-count", "names-duplicate", "names-empty"],
)
def test_models_that_would_mislead_are_not_exported(tmp_path, content, message):
    ckpt = save(tmp_path / "c.ckpt", content)
    result = run_export("--checkpoint", ckpt, "--out", tmp_path / "m.pt")
    assert (
        result.returncode == 1
        and result.stderr == f"error: {message}\n"
        or (message in result.stderr and result.stderr.count("\n") == 1)
    ), result.stderr
    assert ".tmp" not in result.stderr
    assert list(tmp_path.iterdir()) == [ckpt]


def test_checkpoint_that_is_not_a_file(tmp_path, capsys):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "pipe")
    for name, kind in (("adir", "a directory"), ("pipe", "a FIFO (named pipe)")):
        status, _, err = export_main(
            capsys, "--checkpoint", tmp_path / name, "--out", tmp_path / "m"
        )
        assert status == 1
        assert err == f"error: {tmp_path / name} is {kind}, not a checkpoint file\n"
    _, _, err = export_main(capsys, "--checkpoint", tmp_path / "none.ckpt", "--out", tmp_path / "m")
    assert err == f"error: {tmp_path / 'none.ckpt'}: no such checkpoint file\n"


@pytest.mark.parametrize(
    "make, out, extra, message",
    [
        (None, "", [], "error: --out is empty; give the TorchScript file's name\n"),
        (
            None,
            "nodir/m.pt",
            [],
            "error: cannot write {p}/nodir/m.pt: directory {p}/nodir does not exist\n",
        ),
        (
            "dir",
            "adir",
            ["--force"],
            "error: {p}/adir is a directory; output replaces only regular files\n",
        ),
        (
            "fifo",
            "f",
            ["--force"],
            "error: {p}/f is a FIFO (named pipe); output replaces only regular files\n",
        ),
    ],
    ids=["empty", "missing-directory", "directory-force", "fifo-force"],
)
def test_output_place_is_checked_before_training(tmp_path, capsys, make, out, extra, message):
    if make == "dir":
        (tmp_path / "adir").mkdir()
    elif make == "fifo":
        os.mkfifo(tmp_path / "f")
    status, stdout, stderr = export_main(capsys, "--out", tmp_path / out if out else "", *extra)
    assert status == 1
    assert stdout == ""  # "training on the bundled dataset first" never printed
    assert stderr == message.format(p=tmp_path)


def test_symlink_out_is_refused_even_with_force(tmp_path):
    target = tmp_path / "real.pt"
    target.write_bytes(b"keep")
    (tmp_path / "link.pt").symlink_to(target)
    result = run_export("--out", tmp_path / "link.pt", "--force")  # as users run it
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        f"error: {tmp_path / 'link.pt'} is a symbolic link (to {target}); output never replaces "
        "a link nor writes through one: give the target's own path\n"
    )
    assert target.read_bytes() == b"keep" and (tmp_path / "link.pt").is_symlink()


def test_exported_model_respects_the_umask(tmp_path):
    out = tmp_path / "m.pt"
    result = run_export("--out", out, preexec_fn=lambda: os.umask(0o022))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    torchscript.load(out)


def test_in_features_takes_integers_but_not_bools():
    with pytest.raises(TypeError, match=r"^in_features must be an int, got a bool \(True\)$"):
        LinearRegression(True)
    with pytest.raises(TypeError, match=r"^in_features must be an int, got float \(3.0\)$"):
        LinearRegression(3.0)
    model = LinearRegression(np.int64(3))  # as nn.Linear(np.int64(3), 1) accepts
    assert model.in_features == 3 and type(model.in_features) is int
    assert torchscript.script(model).in_features == 3
