"""cpp_app's linreg_predict against Python, end to end: train -> export -> predict, and its errors.

The binary is built by `make cpp` (CMake, build/cmake/linreg_predict); LINREG_PREDICT overrides
the path, and conftest's `app` fixture skips these tests when it is not built (fails them when
LINREG_PREDICT names it, as `make test` does). Every failure of the app must be one line on
stderr and a non-zero exit, never a signal.
"""

import csv
import re
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import cpp_program, require_built, run_python
from pt2_fixtures import linreg_metadata
from torch import nn

from linreg_ext import LinearRegression, datasets, model_file, torchscript, train
from linreg_ext.predict import format_prediction, predict

ROOT = Path(__file__).resolve().parents[1]


def run_app(app, *args, stdin=None):
    out = subprocess.run(
        [str(app), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=300
    )
    assert out.returncode >= 0, f"killed by signal {-out.returncode}: {out.stderr}"
    return out


def export_model(model, path, metadata=None):
    scripted = torchscript.script(model.eval())
    torchscript.save(scripted, path, metadata or linreg_metadata(model))
    return path


@pytest.fixture(scope="module")
def tutorial_model(tmp_path_factory):
    data = datasets.bundled_dataset()
    result = train.fit(data, train.TrainConfig(), progress=False, log=lambda _: None)
    return export_model(result.model, tmp_path_factory.mktemp("m") / "model.pt"), result.model


def test_tutorial_prediction_matches_python(app, tutorial_model):
    path, model = tutorial_model
    out = run_app(app, path, "4.0", "5.5", "-1e3")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == predict(model_file.load(path), [4.0, 5.5, -1e3])
    with torch.no_grad():
        eager = model(torch.tensor([[4.0], [5.5], [-1e3]])).reshape(-1)
    printed = torch.tensor([float(v) for v in out.stdout.split()], dtype=torch.float32)
    assert torch.equal(printed, eager)  # the same float32 values, exactly
    assert float(out.stdout.split()[0]) == pytest.approx(21.75, abs=0.01)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_printed_text_is_identical_to_python(app, tmp_path, dtype):
    # An identity model prints its inputs: values over 60 orders of magnitude, both notations.
    model = LinearRegression(1, dtype=dtype)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    path = export_model(model, tmp_path / "identity.pt")
    g = torch.Generator().manual_seed(5)
    scale = 10.0 ** torch.randint(-30, 30, (500,), generator=g)
    values = (torch.randn(500, generator=g, dtype=torch.float64) * scale).tolist()
    values += [0.0, 1.0, 2.0**24 + 2, 123456789.0, 1e16, 1e-5, 9.5e21]
    out = run_app(app, path, *map(repr, values))
    assert out.returncode == 0, out.stderr
    expected = [format_prediction(torch.tensor(v, dtype=dtype).item(), dtype) for v in values]
    assert out.stdout.split() == expected


def test_number_formatting_is_std_to_chars():
    """cpp_app/format.cpp writes exactly what std::to_chars writes, whichever digit source the
    build has: random float32 and float64 bit patterns, and the values where the layout turns."""
    check = require_built(
        cpp_program("LINREG_FORMAT_CHECK", "linreg_format_check"), "LINREG_FORMAT_CHECK"
    )
    out = run_app(check, "sample", 11, 1_000_000)
    assert out.returncode == 0, out.stdout + out.stderr
    source, compared, mismatches = re.fullmatch(
        r"digits from (\w+): (\d+) values compared, (\d+) mismatches\n", out.stdout
    ).groups()
    assert int(compared) > 6_000_000 and mismatches == "0"
    # Where the build found Boost.Charconv (requirements-dev.txt's boost-headers has it), the
    # fast digits are the ones tested.
    cache = check.parent / "CMakeCache.txt"
    text = cache.read_text() if cache.is_file() else ""
    boost = re.search(r"^LINREG_BOOST_INCLUDE_DIR:PATH=(.+)$", text, re.M)
    charconv = "boost/charconv/detail/dragonbox/dragonbox.hpp"
    if boost and (Path(boost[1]) / charconv).is_file():
        assert source == "dragonbox"


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_multi_feature_csv_end_to_end(app, tmp_path, dtype):
    g = torch.Generator().manual_seed(9)
    X = torch.randn(300, 5, generator=g, dtype=torch.float64) * 3
    y = X @ torch.arange(1.0, 6.0, dtype=torch.float64) - 2 + torch.randn(300, generator=g)
    names = ["f1", "f2", "f3", "f4", "f5"]
    data_csv = write_csv(
        tmp_path / "train.csv", [*names, "y"], torch.cat([X, y[:, None]], 1).tolist()
    )
    ckpt, model_pt = tmp_path / "m.ckpt", tmp_path / "m.pt"
    args = ["--data", data_csv, "--dtype", dtype, "--epochs", "300", "--standardize", "--quiet"]
    assert train.main([*map(str, args), "--out", str(ckpt)]) == 0
    export = run_python(ROOT / "export" / "export.py", "--checkpoint", ckpt, "--out", model_pt)
    assert export.returncode == 0, export.stderr
    X_new = torch.randn(1000, 5, generator=g, dtype=torch.float64) * 3
    rows = [[repr(v) for v in row] for row in X_new.tolist()]
    query = write_csv(tmp_path / "query.csv", names, rows)
    out = run_app(app, model_pt, "--csv", query)
    assert out.returncode == 0, out.stderr
    got = torch.tensor([float(v) for v in out.stdout.split()], dtype=torch.float64)
    model, _ = train.load_checkpoint(ckpt)
    with torch.no_grad():
        expected = model(X_new.to(model.weight.dtype)).reshape(-1).double()
    assert len(got) == 1000
    torch.testing.assert_close(got, expected, rtol=1e-6 if dtype == "float32" else 1e-15, atol=0)
    # stdin, without a header: the same predictions
    stdin = "\n".join(",".join(r) for r in rows) + "\n"
    assert run_app(app, model_pt, "--csv", "-", stdin=stdin).stdout == out.stdout


@pytest.mark.cuda
def test_cuda_device_prints_the_same_as_cpu(app, tutorial_model):
    path, _ = tutorial_model
    values = [str(v) for v in torch.linspace(-100, 100, 257).tolist()]
    cpu = run_app(app, path, *values)
    cuda = run_app(app, path, *values, "--device", "cuda")
    assert cpu.returncode == 0 and cuda.returncode == 0, cuda.stderr
    assert cuda.stdout == cpu.stdout


def mystery_op_model(path):
    """A TorchScript file that calls an op linreg_predict does not have."""

    @torch.library.custom_op("linreg_test::mystery", mutates_args=())
    def mystery(x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    class Mystery(nn.Module):
        def __init__(self):
            super().__init__()
            self.in_features = 1
            self.weight = nn.Parameter(torch.ones(1, 1))

        def forward(self, X):
            return torch.ops.linreg_test.mystery(X)

    torchscript.save(torchscript.script(Mystery()), path, linreg_metadata(LinearRegression(1)))
    return path


def bad_inputs(tmp_path, tutorial_path):
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": {}}, checkpoint)
    not_linreg = tmp_path / "identity.pt"
    torchscript.save(torchscript.script(nn.Identity()), not_linreg, {})
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(tutorial_path.read_bytes()[:300])
    wide = write_csv(tmp_path / "wide.csv", None, [[1, 2]])
    text = write_csv(tmp_path / "text.csv", ["x"], [[1], ["abc"]])
    return [
        ("missing model", [tmp_path / "none.pt", 4], 1, "model file '.*none.pt' does not exist"),
        ("corrupt model", [corrupt, 4], 1, "cannot load '.*corrupt.pt' as a TorchScript model"),
        ("checkpoint", [checkpoint, 4], 1, "cannot load '.*checkpoint.pt' as a TorchScript model"),
        ("not linreg", [not_linreg, 4], 1, "is not a linreg_ext model"),
        (
            "unknown op",
            [mystery_op_model(tmp_path / "m.pt"), 4],
            1,
            "Unknown builtin op: linreg_test::mystery",
        ),
        ("non-numeric value", [tutorial_path, "abc"], 1, "'abc' is not a finite number"),
        ("nan value", [tutorial_path, "nan"], 1, "'nan' is not a finite number"),
        (
            "non-numeric csv",
            [tutorial_path, "--csv", text],
            1,
            "text.csv line 3, column 1: 'abc' is not a finite number",
        ),
        ("empty stdin", [tutorial_path, "--csv", "-"], 1, "stdin has no data rows"),
        (
            "wrong width",
            [tutorial_path, "--csv", wide],
            1,
            "wide.csv line 1 has 2 fields; the model takes 1 features",
        ),
        ("missing csv", [tutorial_path, "--csv", tmp_path / "no.csv"], 1, "cannot open CSV file"),
        (
            "unknown device",
            [tutorial_path, 4, "--device", "tpu"],
            2,
            "--device must be cpu or cuda, got 'tpu'",
        ),
        ("no input", [tutorial_path], 2, "no input: give values or --csv FILE"),
        ("both inputs", [tutorial_path, 4, "--csv", wide], 2, "give values or --csv, not both"),
        ("unknown option", [tutorial_path, "--fast"], 2, "unknown option --fast"),
        ("no arguments", [], 2, "no model given"),
    ]


def test_bad_input_gives_one_clear_line(app, tmp_path, tutorial_model):
    for name, args, code, message in bad_inputs(tmp_path, tutorial_model[0]):
        out = run_app(app, *args, stdin="")
        assert out.returncode == code, f"{name}: exit {out.returncode}, stderr {out.stderr!r}"
        first = out.stderr.splitlines()[0]
        assert first.startswith("linreg_predict: "), f"{name}: {out.stderr!r}"
        assert re.search(message, first), f"{name}: {first!r}"
        assert out.stdout == "", name
        assert "terminate called" not in out.stderr and "Exception raised from" not in out.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: see the cuda-marked test")
def test_cuda_requested_without_cuda(app, tutorial_model):
    out = run_app(app, tutorial_model[0], 4, "--device", "cuda")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "linreg_predict: --device cuda: CUDA is not available (no GPU, or a CPU-only build)"
    )


def test_info_prints_metadata(app, tutorial_model):
    out = run_app(app, tutorial_model[0], "--info")
    assert out.returncode == 0 and '"in_features": 1' in out.stdout
