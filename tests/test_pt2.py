"""AOTInductor packages (.pt2) next to TorchScript files (.pt): the same predictions, character
for character, from Python and from the C++ app; the same metadata; and every bad file refused
with one line and exit 1 — before the package's code is loaded or run.

The packages are compiled once per session (pt2_fixtures.py); the C++ programs come from
`make cpp` (build/cmake; conftest's `app` fixture).
"""

import copy
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import conftest
import pt2_fixtures as fx
import pytest
import torch
from torch import nn

from linreg_ext import aoti, datasets, model_file, predict, torchscript, train
from linreg_ext import export as exporter
from linreg_ext.predict import format_prediction

# The session's models, as fixtures of this module.


def run_app(app, *args, stdin=None):
    out = subprocess.run(
        [str(app), *map(str, args)], input=stdin, capture_output=True, text=True, timeout=300
    )
    assert out.returncode >= 0, f"killed by signal {-out.returncode}: {out.stderr}"
    return out


def run_python(*args):
    return conftest.run_python("-m", "linreg_ext.predict", *args)


VALUES = ["4.0", "5.5", "-1e3", "0", "1e-7", "123456.789", "-2.5e30"]


def test_pt_and_pt2_print_the_same_from_cpp_and_python(app, tutorial):
    with torch.no_grad():
        eager = tutorial.model(torch.tensor([[float(v)] for v in VALUES])).reshape(-1)
    expected = [format_prediction(v, torch.float32) for v in eager.tolist()]
    for path in (tutorial.pt, tutorial.pt2):
        cpp = run_app(app, path, *VALUES)
        assert cpp.returncode == 0 and cpp.stderr == "", cpp.stderr
        assert cpp.stdout.split() == expected, path
        python = run_python(path, *VALUES)
        assert python.returncode == 0 and python.stderr == "", python.stderr
        assert python.stdout == cpp.stdout, path


def write_rows(path, rows):
    path.write_text("".join(",".join(map(repr, row)) + "\n" for row in rows))
    return path


def test_multi_feature_float64_csv(app, wide64, tmp_path):
    g = torch.Generator().manual_seed(11)
    X = torch.randn(300, 5, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(
        -3, 4, (300, 5), generator=g
    )
    query = write_rows(tmp_path / "query.csv", X.tolist())
    with torch.no_grad():
        eager = wide64.model(X).reshape(-1)
    expected = [format_prediction(v, torch.float64) for v in eager.tolist()]
    outputs = {path.suffix: run_app(app, path, "--csv", query) for path in (wide64.pt, wide64.pt2)}
    for out in outputs.values():
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == expected
    for path in (wide64.pt, wide64.pt2):  # the Python loader: the same values, bit for bit
        loaded = model_file.load(path)
        assert loaded.format == ("aoti" if path.suffix == ".pt2" else "torchscript")
        with torch.inference_mode():
            assert torch.equal(loaded(X), eager)


def test_info_shows_the_same_metadata(app, tutorial, wide64):
    for exported in (tutorial, wide64):
        pt = json.loads(run_app(app, exported.pt, "--info").stdout)
        pt2 = json.loads(run_app(app, exported.pt2, "--info").stdout)
        assert pt2 == {**pt, "device": "cpu", "cpu_isa": pt2["cpu_isa"]}
        assert pt2["cpu_isa"] == {"name": "avx2", "march": "x86-64-v3", "requires": ["x86-64-v3"]}
        assert aoti.read_metadata(exported.pt2)[0] == pt2


def test_the_format_is_read_from_the_content_not_the_name(app, tutorial, tmp_path):
    pt_named_pt2 = shutil.copy(tutorial.pt, tmp_path / "really-torchscript.pt2")
    pt2_named_pt = shutil.copy(tutorial.pt2, tmp_path / "really-aoti.pt")
    reference = run_app(app, tutorial.pt, *VALUES).stdout
    for path, fmt in ((pt_named_pt2, "torchscript"), (pt2_named_pt, "aoti")):
        assert run_app(app, path, *VALUES).stdout == reference
        assert run_python(path, *VALUES).stdout == reference
        assert model_file.inspect(path)[0] == fmt


KEEP = object()


def rewrite(src: Path, dst: Path, metadata=KEEP, drop: str = "") -> Path:
    """A copy of the package `src` with metadata.json replaced (None: removed) and the records
    whose name ends with `drop` left out."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            replaced = metadata is not KEEP and info.filename.endswith(aoti.METADATA_RECORD)
            if replaced or (drop and info.filename.endswith(drop)):
                root = info.filename.split("/", 1)[0]
                continue
            zout.writestr(info, zin.read(info))
        if metadata is not KEEP and metadata is not None:
            zout.writestr(f"{root}/{aoti.METADATA_RECORD}", metadata)
    return dst


def edited(exported, tmp_path, name, **changes) -> Path:
    metadata, _ = aoti.read_metadata(exported.pt2)
    return rewrite(exported.pt2, tmp_path / name, json.dumps({**metadata, **changes}))


def lacking_feature() -> str:
    """A CPU feature in the table that this CPU does not have."""
    lacking = aoti.missing([f for f in aoti.CPU_FEATURES if f.startswith(("avx512", "amx"))])
    if not lacking:
        pytest.skip("this CPU has every AVX-512 and AMX feature in the table")
    return lacking[0]


def bad_files(tmp_path, tutorial, wide64):
    """(name, model file, values, message) for files that must be refused before running."""
    pt2 = tutorial.pt2
    data = pt2.read_bytes()
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.pt2"
    garbage.write_bytes(bytes(range(256)) * 64)
    not_json = rewrite(pt2, tmp_path / "not-json.pt2", "{in_features: 1")
    feature = lacking_feature()
    isa = {"name": "native", "march": "future", "requires": ["x86-64-v3", feature]}
    unknown = {"name": "native", "march": "future", "requires": ["avx1024"]}
    return [
        ("truncated", truncated, "cannot load '.*truncated.pt2'"),
        ("garbage", garbage, "cannot load '.*garbage.pt2'"),
        ("no metadata", rewrite(pt2, tmp_path / "bare.pt2", None), "is not a linreg_ext model"),
        ("metadata not JSON", not_json, "is not a linreg_ext model"),
        ("not linreg", rewrite(pt2, tmp_path / "other.pt2", "{}"), "is not a linreg_ext model"),
        (
            "no library",
            rewrite(pt2, tmp_path / "nolib.pt2", drop=".so"),
            "cannot load '.*nolib.pt2' as an AOTInductor package: ",
        ),
        (
            "another dtype",
            edited(tutorial, tmp_path, "dtype.pt2", dtype="float64"),
            "metadata.json does not match the compiled model",
        ),
        (
            "another D",
            edited(tutorial, tmp_path, "wide.pt2", in_features=3),
            "metadata.json does not match the compiled model",
        ),
        (
            "another device",
            edited(tutorial, tmp_path, "cuda.pt2", device="cuda"),
            "compiled for cuda, but CUDA is not available"
            if not torch.cuda.is_available()
            else "metadata.json does not match",
        ),
        (
            "ISA this CPU lacks",
            edited(tutorial, tmp_path, "isa.pt2", cpu_isa=isa),
            rf"compiled for native \(future\); this CPU lacks {feature}: export it with --cpu-isa",
        ),
        (
            "unknown ISA feature",
            edited(tutorial, tmp_path, "unknown.pt2", cpu_isa=unknown),
            "this CPU lacks avx1024",
        ),
        (
            "5-feature package, 1 value",
            wide64.pt2,
            "takes 5 features",
        ),
    ]


def assert_one_line(out, message, name):
    """linreg_predict's failure: exit 1, one line on stderr, nothing on stdout."""
    assert out.returncode == 1, f"{name}: exit {out.returncode}, stderr {out.stderr!r}"
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("linreg_predict: "), f"{name}: {out.stderr!r}"
    assert re.search(message, lines[0]), f"{name}: {lines[0]!r}"
    assert out.stdout == "", name


def python_predict(args, capfd):
    """`python -m linreg_ext.predict`, in this process: (exit code, stdout, stderr)."""
    code = predict.main([str(a) for a in args])
    out, err = capfd.readouterr()
    return code, out, err.replace(predict.PROG, "linreg_predict")


def test_bad_packages_give_one_line_in_cpp_and_python(app, tmp_path, tutorial, wide64, capfd):
    for name, path, message in bad_files(tmp_path, tutorial, wide64):
        cpp = run_app(app, path, "4")
        assert_one_line(cpp, message, name)
        python = python_predict([path, "4"], capfd)
        if name == "no library":  # Python's loader first tries to rebuild it from its sources
            assert python[:2] == (1, "") and len(python[2].splitlines()) == 1, python
            assert re.search(message, python[2]), python
        else:
            assert python == (1, "", cpp.stderr), name
    bare = rewrite(tutorial.pt2, tmp_path / "bare.pt2", None)  # one run as a real process, too
    python = run_python(bare, "4")
    assert python.returncode == 1 and python.stdout == ""
    assert python.stderr == run_app(app, bare, "4").stderr.replace("linreg_predict", predict.PROG)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with CUDA, see test_cuda_package")
def test_a_cpu_package_asked_for_cuda(app, tutorial):
    out = run_app(app, tutorial.pt2, "4", "--device", "cuda")
    assert_one_line(out, "--device cuda: CUDA is not available", "cuda")


def test_missing_op_library_is_one_line(app, tutorial):
    """A program without the op library: the dispatcher has no linreg_ext::linear_forward."""
    without_ops = conftest.require_built(
        app.parent / "linreg_predict_without_ops", "LINREG_PREDICT"
    )
    for path in (tutorial.pt, tutorial.pt2):
        out = run_app(without_ops, path, "4")
        assert_one_line(out, "has no linreg_ext ops", path.name)


class TwoColumns(nn.Module):
    """Calls the op, but returns two values per row."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, 1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        y = torch.ops.linreg_ext.linear_forward(X, self.weight, self.bias)
        return torch.stack([y, y], 1)


class ThreeColumns(TwoColumns):
    def forward(self, X):
        return X.expand(-1, 3)


class NoOutput(TwoColumns):
    def forward(self, X):
        pass


def test_a_model_must_return_one_value_per_row(app, tmp_path, tutorial, capfd):
    """Issue 11, item 10, for both formats: the output is checked, not trusted."""
    metadata = fx.linreg_metadata(tutorial.model)
    files = []
    for module in (TwoColumns(), ThreeColumns(), NoOutput(), nn.Linear(1, 2)):
        path = tmp_path / f"{type(module).__name__}.pt"
        torchscript.save(torchscript.script(module), path, metadata)
        files.append(path)
    pt2 = tmp_path / "TwoColumns.pt2"
    X = torch.randn(4, 1)
    aoti.compile_package(TwoColumns(), X, pt2, metadata)
    files.append(pt2)
    for path in files:
        out = run_app(app, path, "1", "2")
        assert_one_line(out, "a linreg_ext model returns one value per row", path.name)
        assert python_predict([path, "1", "2"], capfd) == (1, "", out.stderr), path.name


def test_cpu_feature_tables_agree():
    """cpp_app/cpu_features.cpp checks exactly the features linreg_ext/aoti.py may record."""
    source = (fx.ROOT / "cpp_app" / "cpu_features.cpp").read_text()
    assert set(re.findall(r'LINREG_FEATURE\("([^"]+)"\)', source)) == set(aoti.CPU_FEATURES)


def test_cpu_detection_agrees_between_cpp_and_python(app, tutorial, tmp_path):
    """A package requiring every feature in the table: C++ (__builtin_cpu_supports) must name
    exactly the ones Python (/proc/cpuinfo) finds missing."""
    everything = {"name": "native", "march": "all", "requires": list(aoti.CPU_FEATURES)}
    path = edited(tutorial, tmp_path, "everything.pt2", cpu_isa=everything)
    out = run_app(app, path, "4")
    missing = aoti.missing(list(aoti.CPU_FEATURES))
    if not missing:
        pytest.skip("this CPU has every feature in the table")
    lacks = re.search(r"this CPU lacks (.*): export", out.stderr)
    assert lacks, out.stderr
    assert lacks.group(1).split(", ") == missing


def test_native_records_only_what_this_cpu_has():
    record = aoti.cpu_isa_record("native")
    assert record["requires"][0].startswith("x86-64")
    assert aoti.missing(record["requires"]) == []


def instructions(package: Path, tmp_path: Path) -> str:
    if shutil.which("objdump") is None:
        pytest.skip("needs objdump")
    with zipfile.ZipFile(package) as z:
        (so,) = [n for n in z.namelist() if n.endswith(".so")]
        library = tmp_path / Path(so).name
        library.write_bytes(z.read(so))
    return subprocess.run(["objdump", "-d", library], capture_output=True, text=True).stdout


def test_cpu_isa_decides_the_generated_instructions(app, tutorial, baseline_pt2, tmp_path):
    assert aoti.read_metadata(baseline_pt2)[0]["cpu_isa"]["requires"] == ["x86-64"]
    assert "%ymm" not in instructions(baseline_pt2, tmp_path)  # no AVX at all
    assert "%zmm" not in instructions(tutorial.pt2, tmp_path)  # no AVX-512
    assert run_app(app, baseline_pt2, *VALUES).stdout == run_app(app, tutorial.pt, *VALUES).stdout


def test_march_without_the_cpp_march_config(tmp_path, monkeypatch, tutorial):
    """torch 2.11 has no cpp.march and compiles with -march=native: the compiler wrapper that
    replaces it must give the same package as the config does."""
    monkeypatch.setattr(aoti, "HAS_MARCH_CONFIG", False)
    monkeypatch.setattr(aoti, "_wrapper_dir", lambda: tmp_path)
    configs = aoti.inductor_configs("baseline", "{}")
    wrapper = configs["cpp.cxx"][1]
    target = subprocess.run(
        [wrapper, "-march=native", "-Q", "--help=target"], capture_output=True, text=True
    ).stdout
    assert re.search(r"^\s+-march=\s+x86-64$", target, re.M), target
    path = tmp_path / "fallback.pt2"
    model = tutorial.model
    metadata = fx.linreg_metadata(model)
    aoti.compile_package(model, fx.example_input(model), path, metadata, "baseline")
    assert "%ymm" not in instructions(path, tmp_path)
    loaded = model_file.load(path)
    X = fx.example_input(model)
    with torch.no_grad():
        assert torch.equal(loaded(X), model(X).reshape(-1))


@pytest.mark.cuda
def test_cuda_package(app, tutorial, tmp_path):
    model = copy.deepcopy(tutorial.model).to("cuda")  # the session's model stays on the CPU
    path = tmp_path / "cuda.pt2"
    X = fx.example_input(model).cuda()
    aoti.compile_package(model, X, path, fx.linreg_metadata(model))
    cpu = run_app(app, tutorial.pt, *VALUES)
    cuda = run_app(app, path, *VALUES, "--device", "cuda")
    assert cuda.returncode == 0, cuda.stderr
    assert cuda.stdout == cpu.stdout
    out = run_app(app, path, *VALUES)  # a CUDA package on the CPU
    assert_one_line(out, "compiled for cuda, not cpu", "cuda on cpu")


def test_export_cli_writes_a_verified_package(app, tmp_path):
    """export/export.py --out X.pt2: trained, compiled, verified, renamed into place; the same
    predictions as its .pt twin from the same checkpoint; never replaced without --force."""
    data = datasets.bundled_dataset()
    config = train.TrainConfig()
    result = train.fit(data, config, progress=False, log=lambda _: None)
    ckpt = train.save_checkpoint(tmp_path / "m.ckpt", result, data, config)
    pt, pt2 = tmp_path / "m.pt", tmp_path / "m.pt2"
    export = fx.ROOT / "export" / "export.py"
    out = conftest.run_python(export, "--checkpoint", ckpt, "--out", pt2, "--cpu-isa", "baseline")
    assert out.returncode == 0, out.stderr
    assert "(1 in_features, float32, cpu, cpu isa baseline (x86-64)); verified" in out.stdout
    assert conftest.run_python(export, "--checkpoint", ckpt, "--out", pt).returncode == 0
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["m.ckpt", "m.pt", "m.pt2"]
    pt_meta = json.loads(run_app(app, pt, "--info").stdout)
    assert json.loads(run_app(app, pt2, "--info").stdout) == {
        **pt_meta,
        "device": "cpu",
        "cpu_isa": {"name": "baseline", "march": "x86-64", "requires": ["x86-64"]},
    }
    assert run_app(app, pt2, *VALUES).stdout == run_app(app, pt, *VALUES).stdout
    before = pt2.read_bytes()
    again = conftest.run_python(export, "--checkpoint", ckpt, "--out", pt2)
    assert again.returncode == 1 and "already exists; pass --force" in again.stderr
    assert pt2.read_bytes() == before
    wrong = conftest.run_python(export, "--out", pt, "--cpu-isa", "native")
    assert wrong.returncode == 2 and "apply to .pt2 packages" in wrong.stderr


def test_export_format_follows_the_extension_unless_given():
    assert exporter.output_format(Path("m.pt2")) == "pt2"
    assert exporter.output_format(Path("m.pt")) == "torchscript"
    assert exporter.output_format(Path("model.bin"), "pt2") == "pt2"


def test_failed_package_verification_writes_nothing(tmp_path, monkeypatch, tutorial):
    """A package that does not reproduce the model is never renamed into place, and no
    temporary file is left behind. (The package is the session's, its predictions made wrong.)"""

    def copy_package(model, example, path, metadata, cpu_isa):
        shutil.copyfile(tutorial.pt2, path)
        return aoti.read_metadata(path)[0]

    real_load = model_file.load

    def off_by_one(path):
        loaded = real_load(path)
        module = loaded.module
        loaded.module = lambda X: module(X) + 1
        return loaded

    monkeypatch.setattr(exporter.aoti, "compile_package", copy_package)
    monkeypatch.setattr(exporter.model_file, "load", off_by_one)
    out = tmp_path / "model.pt2"
    with pytest.raises(RuntimeError, match="does not reproduce the in-memory model"):
        exporter.export(tutorial.model, {}, out, force=False, fmt="pt2")
    assert list(tmp_path.iterdir()) == []
