"""Models in both deployment formats, built once per test session: AOTInductor compiles take
8-30 s each, so every .pt2 the tests need is compiled here, once, and shared (read-only).

Import the fixtures into a test module with `from pt2_fixtures import *` (pytest's rootdir
puts tests/ on sys.path).
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import linreg_ext
from linreg_ext import LinearRegression, aoti, torchscript, train

ROOT = Path(__file__).resolve().parents[1]


def linreg_metadata(model: LinearRegression, **fields) -> dict:
    """metadata.json as the export writes it, for a model built in a test."""
    D = model.in_features
    return {
        "in_features": D,
        "feature_names": [f"x{i}" for i in range(D)] if D > 1 else ["x"],
        "target_name": "y",
        "dtype": str(model.weight.dtype).removeprefix("torch."),
        "training": {},
        "linreg_ext_version": linreg_ext.__version__,
        "torch_version": torch.__version__,
        **fields,
    }


def example_input(model: LinearRegression) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, model.in_features, generator=g, dtype=model.weight.dtype)


@dataclass
class Exported:
    """One model, written as TorchScript (pt) and as an AOTInductor package (pt2)."""

    model: LinearRegression
    pt: Path
    pt2: Path


def export_both(model: LinearRegression, directory: Path, name: str, cpu_isa="avx2") -> Exported:
    model = model.eval()
    metadata = linreg_metadata(model)
    pt, pt2 = directory / f"{name}.pt", directory / f"{name}.pt2"
    torchscript.save(torchscript.script(model), pt, metadata)
    aoti.compile_package(model, example_input(model), pt2, metadata, cpu_isa=cpu_isa)
    return Exported(model, pt, pt2)


@pytest.fixture(scope="session")
def pt2_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("pt2")


@pytest.fixture(scope="session")
def tutorial(pt2_dir) -> Exported:
    """The bundled dataset's model (1 feature, float32), as the demo trains it."""
    result = train.fit(train.bundled_dataset(), train.TrainConfig(), progress=False, log=print)
    return export_both(result.model, pt2_dir, "tutorial")


@pytest.fixture(scope="session")
def wide64(pt2_dir) -> Exported:
    """A 5-feature float64 model with weights over several orders of magnitude."""
    model = LinearRegression(5, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        scale = torch.tensor([1e-3, 1.0, 1e2, 0.1, 10.0], dtype=torch.float64)
        model.weight.copy_(torch.randn(1, 5, generator=g, dtype=torch.float64) * scale)
        model.bias.fill_(-2.5e-3)
    return export_both(model, pt2_dir, "wide64")


@pytest.fixture(scope="session")
def baseline_pt2(pt2_dir, tutorial) -> Path:
    """The tutorial model compiled for any x86-64 CPU (--cpu-isa baseline)."""
    path = pt2_dir / "tutorial-baseline.pt2"
    metadata = linreg_metadata(tutorial.model)
    aoti.compile_package(tutorial.model, example_input(tutorial.model), path, metadata, "baseline")
    return path
