"""export/export.py (linreg_ext.export): the TorchScript file, its metadata, its verification,
and its errors."""

from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from conftest import run_python
from pt2_fixtures import linreg_metadata

from linreg_ext import datasets, torchscript, train
from linreg_ext import export as exporter

ROOT = Path(__file__).resolve().parents[1]
EXPORT = ROOT / "export" / "export.py"  # the documented entry point, run as users run it


def run_export(*args):
    # -W error::FutureWarning: the TorchScript deprecation must be handled, not printed.
    return run_python("-W", "error::FutureWarning", EXPORT, *args)


def test_export_without_checkpoint_trains_and_verifies(tmp_path):
    out = tmp_path / "model.pt"
    result = run_export("--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "training on the bundled dataset first" in result.stdout
    assert "verified" in result.stdout
    assert result.stderr == ""  # no warnings
    model, metadata = torchscript.load(out)
    assert metadata["in_features"] == 1 and metadata["feature_names"] == ["x"]
    assert metadata["target_name"] == "y" and metadata["dtype"] == "float32"
    assert metadata["training"]["rows"] == 50
    assert "linreg_ext::linear_forward" in str(model.inlined_graph)
    assert model(torch.tensor([[4.0]])).item() == pytest.approx(21.75, abs=0.01)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loaded_file_equals_eager_model(tmp_path, dtype):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(500, 4, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 1
    data = datasets.Dataset(X, y, ["p", "q", "r", "s"], "t", "generated")
    config = train.TrainConfig(epochs=50, dtype=dtype)
    result = train.fit(data, config, progress=False, log=lambda _: None)
    ckpt = train.save_checkpoint(tmp_path / "m.ckpt", result, data, config)
    out = tmp_path / "model.pt"
    assert run_export("--checkpoint", str(ckpt), "--out", str(out)).returncode == 0
    loaded, metadata = torchscript.load(out)
    assert metadata["feature_names"] == ["p", "q", "r", "s"] and metadata["target_name"] == "t"
    assert metadata["dtype"] == dtype and metadata["in_features"] == 4
    assert metadata["training"]["config"]["epochs"] == 50
    assert metadata == train.load_checkpoint(ckpt)[1]  # one description, checkpoint and file
    Xt = torch.randn(1000, 4, generator=g).to(getattr(torch, dtype))
    with torch.no_grad():
        assert torch.equal(loaded(Xt), result.model(Xt))


def test_module_is_the_same_program(tmp_path):
    out = tmp_path / "model.pt"
    result = run_python("-m", "linreg_ext.export", "--out", out)
    assert result.returncode == 0 and "verified" in result.stdout, result.stderr
    assert torchscript.load(out)[1]["training"]["config"] == asdict(train.TrainConfig())


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "model.pt"
    out.write_bytes(b"keep me")
    result = run_export("--out", str(out))
    assert result.returncode == 1 and "already exists; pass --force" in result.stderr
    assert out.read_bytes() == b"keep me"
    assert run_export("--out", str(out), "--force").returncode == 0
    torchscript.load(out)


@pytest.mark.parametrize(
    "content, message", [(None, "no such checkpoint"), (b"junk", "not a linreg_ext checkpoint")]
)
def test_bad_checkpoint_is_reported(tmp_path, content, message):
    ckpt = tmp_path / "c.ckpt"
    if content is not None:
        ckpt.write_bytes(content)
    result = run_export("--checkpoint", str(ckpt), "--out", str(tmp_path / "m.pt"))
    assert result.returncode == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m.pt").exists()


def test_failed_verification_writes_nothing(tmp_path, monkeypatch):
    model, info = exporter.train_default()
    real_load = torchscript.load

    def corrupting_load(path):
        loaded, metadata = real_load(path)
        with torch.no_grad():
            loaded.bias.add_(1.0)
        return loaded, metadata

    monkeypatch.setattr(exporter.torchscript, "load", corrupting_load)
    out = tmp_path / "model.pt"
    with pytest.raises(RuntimeError, match="does not reproduce the in-memory model"):
        exporter.export(model, info, out, force=False)
    assert list(tmp_path.iterdir()) == []


def run_predict(*args):
    return run_python("-m", "linreg_ext.predict", *args)


def test_python_predict_cli_and_its_errors(tmp_path):
    model = train.fit(
        datasets.bundled_dataset(), train.TrainConfig(), progress=False, log=print
    ).model
    one = tmp_path / "one.pt"
    torchscript.save(torchscript.script(model), one, linreg_metadata(model))
    out = run_predict(one, "4.0", "-1e3")
    assert out.returncode == 0 and len(out.stdout.split()) == 2
    assert float(out.stdout.split()[0]) == pytest.approx(21.75, abs=0.01)

    wide = tmp_path / "wide.pt"
    four = train.LinearRegression(4)
    torchscript.save(torchscript.script(four), wide, linreg_metadata(four))
    cases = [
        # The messages and exit codes of linreg_predict (tests/test_predict_cli.py).
        ((tmp_path / "missing.pt", "4"), 1, "missing.pt' does not exist"),
        ((wide, "4"), 1, "the model takes 4 features; values on the command line are one-feature"),
        ((one, "four"), 1, "'four' is not a finite number"),
        ((one,), 2, "no input: give values or --csv FILE"),
    ]
    for args, code, message in cases:
        result = run_predict(*args)
        assert result.returncode == code and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
