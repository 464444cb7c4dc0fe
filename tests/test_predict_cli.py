"""The two predictors side by side: cpp_app's linreg_predict and `python -m linreg_ext.predict`
must print the same output, the same messages (after the program name) and exit with the same
code for the same command line. Each case below was a bug (issue 11) and asserts the message it
now prints. Python runs in-process (fast); a few cases run it as a real process."""

import io
import json
import subprocess
import sys
import types
from pathlib import Path

import conftest
import pytest
import torch
from pt2_fixtures import linreg_metadata

from linreg_ext import LinearRegression, torchscript
from linreg_ext import predict as pypredict

PY_PROG = pypredict.PROG


def identity_model(path, in_features=1, dtype=torch.float64):
    """Predicts the sum of its features: the printed text shows what the reader read."""
    model = LinearRegression(in_features, dtype=dtype)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.zero_()
    torchscript.save(torchscript.script(model.eval()), path, linreg_metadata(model))
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    return {
        "one": identity_model(d / "one.pt"),
        "two": identity_model(d / "two.pt", 2),
        "f32": identity_model(d / "f32.pt", 1, torch.float32),
    }


def run_cpp(app, args, stdin=b""):
    out = subprocess.run([str(app), *map(str, args)], input=stdin, capture_output=True, timeout=300)
    return out.returncode, out.stdout.decode(), out.stderr.decode()


def run_python(args, stdin=b"", monkeypatch=None, capsys=None):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(stdin)))
    code = pypredict.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def both(app, args, monkeypatch, capsys, stdin=b""):
    """Runs both predictors; asserts they agree and returns (code, stdout, stderr) of C++."""
    cpp = run_cpp(app, args, stdin)
    py = run_python(args, stdin, monkeypatch, capsys)
    code, out, err = py
    renamed = (code, out.replace(PY_PROG, "linreg_predict"), err.replace(PY_PROG, "linreg_predict"))
    assert renamed == cpp, (args, py, cpp)
    return cpp


def write(path, data: bytes):
    path.write_bytes(data)
    return path


# (name, model, CSV bytes, exit code, stdout, the first line of stderr after "linreg_predict: ")
CSV_CASES = [
    # item 11: a first row that fails to parse is data, never a header that vanishes
    (
        "nan first",
        "one",
        b"nan\n1\n",
        1,
        "",
        "line 1, column 1: 'nan' is not a finite number: NaN and infinity are not accepted",
    ),
    ("-inf first", "one", b"-inf\n1\n", 1, "", "line 1, column 1: '-inf' is not a finite number"),
    (
        "NA first",
        "one",
        b"NA\n1\n",
        1,
        "",
        "line 1, column 1: 'NA' is not a finite number: "
        "expected decimal digits with an optional sign, fraction and exponent, e.g. -1.5e3",
    ),
    ("subnormal first", "one", b"1e-310\n2\n", 0, "1e-310\n2\n", None),
    ("BOM number", "one", b"\xef\xbb\xbf1\n2\n", 0, "1\n2\n", None),
    ("BOM header", "two", b"\xef\xbb\xbfx,y\r\n1,2\r\n", 0, "3\n", None),
    ("half header", "two", b"x,1\n1,2\n", 1, "", "line 1, column 1: 'x' is not a finite number"),
    ("quoted", "two", b'"x","y"\n"1","2"\n', 0, "3\n", None),
    (
        "unterminated",
        "two",
        b'"x,y\n',
        1,
        "",
        "line 1, column 1: a quoted field has no closing quote on its line",
    ),
    # '#' lines: comments, skipped wherever they are; a '#' inside a line is part of its field
    ("comments", "one", b"# units: m\nx\n  # more\n4\n", 0, "4\n", None),
    ("inline #", "one", b"x\n4 # m\n", 1, "", "line 2, column 1: '4 # m' is not a finite number"),
    # item 12, 13
    ("hex", "one", b"0x1p3\n", 1, "", "line 1, column 1: '0x1p3' is not a finite number"),
    (
        "overflow",
        "one",
        b"1e309\n",
        1,
        "",
        "line 1, column 1: '1e309' is not a finite number: "
        "it overflows float64 (largest magnitude 1.7976931348623157e308)",
    ),
    # item 14: finite in float64, not in the model's float32
    (
        "float32 range",
        "f32",
        b"1\n3.4028236e38\n",
        1,
        "",
        "line 2, column 1: '3.4028236e38' is "
        "outside the range of float32, the model's dtype (largest magnitude 3.4028235e38)",
    ),
    ("float32 max", "f32", b"3.4028235e38\n", 0, "3.4028235e+38\n", None),
    # control bytes and long fields are escaped and cut in messages
    (
        "control bytes",
        "one",
        b"1\x00\r2\x1b[31m\n",
        1,
        "",
        r"line 1, column 1: '1\x00\r2\x1b[31m' is not a finite number",
    ),
    (
        "long field",
        "one",
        b"1" * 100 + b"x\n",
        1,
        "",
        "line 1, column 1: '" + "1" * 40 + "…' is not a finite number",
    ),
    ("non-ASCII", "one", "1,5\u00a0€\n".encode(), 1, "", "line 1 has 2 fields; the model takes 1"),
]


@pytest.mark.parametrize("case", CSV_CASES, ids=[c[0] for c in CSV_CASES])
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_csv_rules(app, models, tmp_path, monkeypatch, capsys, case, source):
    name, model, data, code, stdout, message = case
    if source == "file":
        path = write(tmp_path / "in.csv", data)
        got = both(app, [models[model], "--csv", path], monkeypatch, capsys)
        where = f"{path} "
    else:
        got = both(app, [models[model], "--csv", "-"], monkeypatch, capsys, stdin=data)
        where = "stdin "
    assert got[:2] == (code, stdout), got
    if message is not None:
        assert got[2].startswith(f"linreg_predict: {where}{message}"), got[2]
        assert len(got[2].splitlines()) == 1
    else:
        assert got[2] == ""


# (name, arguments after the model (or all, with MODEL for the model), code, stdout, stderr start)
ARG_CASES = [
    ("subnormal value", ["1e-310"], 0, "1e-310\n", ""),
    ("-- ends options", ["--", "-1.5", "4"], 0, "-1.5\n4\n", ""),
    ("-- before model", None, 0, "2\n", ""),
    ("--1 after --", ["--", "--1"], 1, "", "linreg_predict: '--1' is not a finite number"),
    ("unknown option", ["--1"], 2, "", "linreg_predict: unknown option --1 (put -- before values"),
    ("nan value", ["nan"], 1, "", "linreg_predict: 'nan' is not a finite number: NaN and infinity"),
    ("inf value", ["inf"], 1, "", "linreg_predict: 'inf' is not a finite number"),
    (
        "1e309 value",
        ["1e309"],
        1,
        "",
        "linreg_predict: '1e309' is not a finite number: it overflows",
    ),
    ("hex value", ["0x1p3"], 1, "", "linreg_predict: '0x1p3' is not a finite number"),
    ("empty value", [""], 1, "", "linreg_predict: '' is not a finite number: the field is empty"),
    ("NUL-free control", ["1\r"], 1, "", r"linreg_predict: '1\r' is not a finite number"),
    ("no input", [], 2, "", "linreg_predict: no input: give values or --csv FILE\nusage: "),
    ("help", ["--help"], 0, "usage: linreg_predict MODEL.pt", ""),
    ("-h", ["4", "-h"], 0, "usage: linreg_predict MODEL.pt", ""),
    ("wide model, values", "two", 1, "", "linreg_predict: the model takes 2 features; values on"),
    ("bad device", ["4", "--device", "tpu"], 2, "", "linreg_predict: --device must be cpu or cuda"),
]


@pytest.mark.parametrize("case", ARG_CASES, ids=[c[0] for c in ARG_CASES])
def test_command_lines(app, models, monkeypatch, capsys, case):
    name, args, code, stdout, stderr = case
    if args is None:
        args = ["--", models["one"], "2"]
    elif args == "two":
        args = [models["two"], "4"]
    else:
        args = [models["one"], *args]
    got = both(app, args, monkeypatch, capsys)
    assert got[0] == code, got
    assert got[1].replace(PY_PROG, "linreg_predict").startswith(stdout), got
    assert got[2].startswith(stderr), got
    if stdout == "" and code:
        assert got[1] == ""


def test_float32_value_out_of_range(app, models, monkeypatch, capsys):
    got = both(app, [models["f32"], "1", "-3.4028236e38"], monkeypatch, capsys)
    assert got == (
        1,
        "",
        "linreg_predict: '-3.4028236e38' is outside the range of float32, the model's dtype "
        "(largest magnitude 3.4028235e38)\n",
    )


def test_model_or_csv_is_a_directory(app, models, tmp_path, monkeypatch, capsys):
    got = both(app, [tmp_path, "4"], monkeypatch, capsys)
    assert got == (1, "", f"linreg_predict: model file '{tmp_path}' is a directory\n")
    got = both(app, [models["one"], "--csv", tmp_path], monkeypatch, capsys)
    assert got == (1, "", f"linreg_predict: CSV file '{tmp_path}' is a directory\n")


def test_info_and_multi_feature_csv(app, models, tmp_path, monkeypatch, capsys):
    code, out, _ = both(app, [models["two"], "--info"], monkeypatch, capsys)
    assert code == 0 and json.loads(out) == linreg_metadata(
        LinearRegression(2, dtype=torch.float64)
    )
    g = torch.Generator().manual_seed(3)
    rows = (torch.randn(200, 2, generator=g, dtype=torch.float64) * 1e3).tolist()
    data = "a,b\n" + "".join(f"{x!r},{y!r}\n" for x, y in rows)
    code, out, err = both(
        app, [models["two"], "--csv", write(tmp_path / "q.csv", data.encode())], monkeypatch, capsys
    )
    assert code == 0 and err == ""
    assert out.split() == [pypredict.format_prediction(x + y, torch.float64) for x, y in rows]


@pytest.mark.parametrize("which", ["cpp", "python"])
def test_closed_stdout_is_quiet(app, models, tmp_path, which):
    # Enough output to fill the pipe after `head` has gone: both die of SIGPIPE, silently.
    csv = write(tmp_path / "many.csv", b"1.5\n" * 200_000)
    cmd = [str(app)] if which == "cpp" else [sys.executable, "-m", "linreg_ext.predict"]
    producer = subprocess.Popen(
        [*cmd, str(models["one"]), "--csv", str(csv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parent,  # as run_python does: the installed package, not the checkout
    )
    assert producer.stdout.readline() == b"1.5\n"
    producer.stdout.close()
    err = producer.stderr.read()
    assert producer.wait(timeout=300) == -13  # SIGPIPE, as `yes | head -1` ends
    assert err == b""


def test_python_cli_is_a_real_program(models):
    out = conftest.run_python("-m", "linreg_ext.predict", models["one"], "--", "-2.5", timeout=300)
    assert (out.returncode, out.stdout, out.stderr) == (0, "-2.5\n", "")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present: nothing to refuse")
def test_cuda_requested_without_cuda(app, models, monkeypatch, capsys):
    got = both(app, [models["one"], "4", "--device", "cuda"], monkeypatch, capsys)
    assert got == (
        1,
        "",
        "linreg_predict: --device cuda: CUDA is not available (no GPU, or a CPU-only build)\n",
    )
