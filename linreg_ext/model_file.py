"""Loading an exported linreg_ext model, TorchScript (.pt) or AOTInductor (.pt2), the same way
cpp_app/model.cpp does: the format is read from the file's content, not its name, and the file
must be a linreg_ext model by its metadata.json. Used by `python -m linreg_ext.predict`.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import aoti, torchscript

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ModelFileError(ValueError):
    """A model file that cannot be used; the message is one line."""


def inspect(path: str | Path) -> tuple[str, str | None]:
    """The format ('aoti' or 'torchscript', from the records in the zip archive) and the text of
    metadata.json (None if absent), without loading anything."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file '{path}' does not exist")
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            records = {n.split("/", 1)[-1]: n for n in names}
            meta = records.get(aoti.METADATA_RECORD)
            text = z.read(meta).decode() if meta else None
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as err:
        raise ModelFileError(f"cannot load '{path}': not a model file ({err})") from err
    if any(r.startswith("data/aotinductor/") for r in records):
        return "aoti", text
    if "data.pkl" in records and any(r.startswith("code/") for r in records):
        return "torchscript", text
    raise ModelFileError(
        f"cannot load '{path}': a zip archive that is neither a TorchScript model nor an "
        "AOTInductor package"
    )


def check_metadata(path, text: str | None) -> dict[str, Any]:
    """The metadata, parsed; raises unless it describes a linreg_ext model (as cpp_app checks)."""
    try:
        metadata = json.loads(text) if text else None
    except json.JSONDecodeError:
        metadata = None
    if not isinstance(metadata, dict) or "linreg_ext_version" not in metadata:
        raise ModelFileError(f"'{path}' is not a linreg_ext model (no linreg_ext metadata.json)")
    D = metadata.get("in_features")
    if type(D) is not int or D < 1:
        raise ModelFileError(f"'{path}': metadata.json in_features must be >= 1, got {D!r}")
    dtype = metadata.get("dtype")
    if dtype not in DTYPES:
        raise ModelFileError(
            f"'{path}': metadata.json dtype must be float32 or float64, got {dtype!r}"
        )
    return metadata


@dataclass
class LoadedModel:
    """A loaded model: call it with X [N, in_features] (dtype, device) for predictions [N]."""

    module: Any  # torch.jit.ScriptModule or AOTInductor's compiled model
    metadata: dict[str, Any]
    format: str
    path: str

    @property
    def in_features(self) -> int:
        return self.metadata["in_features"]

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.metadata["dtype"]]

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        out = self.module(X)
        if isinstance(out, (list, tuple)) and len(out) == 1:
            out = out[0]  # AOTInductor returns the flat outputs
        N = X.shape[0]
        if not isinstance(out, torch.Tensor) or out.shape not in ((N,), (N, 1)):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ModelFileError(
                f"'{self.path}' returned {got} for {N} rows; a linreg_ext model returns one value "
                "per row"
            )
        return out.reshape(-1)


def load(path: str | Path, device: str = "cpu") -> LoadedModel:
    """Loads either format onto `device`, after checking what can be checked before loading."""
    fmt, text = inspect(path)
    check_metadata(path, text)
    try:
        if fmt == "aoti":
            module, metadata = aoti.load(path, device)
        else:
            module, metadata = torchscript.load(path, map_location=device)
    except aoti.PackageError as err:
        raise ModelFileError(str(err)) from err
    except (RuntimeError, ValueError) as err:  # torch.jit.load
        first = str(err).strip().splitlines()[0]
        raise ModelFileError(f"cannot load '{path}' as a TorchScript model: {first}") from err
    return LoadedModel(module, metadata, fmt, str(path))
