"""Loading an exported linreg_ext model, TorchScript (.pt) or AOTInductor (.pt2), exactly as
cpp_app/model.cpp does, with the same checks and messages: the format is read from the file's
content (the records of its zip archive), not its name, and the file must be a linreg_ext model
by its metadata.json. `python -m linreg_ext.predict` loads models through load().
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import aoti, torchscript

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class ModelFileError(ValueError):
    """A model file that cannot be used; the message is cpp_app's, one line."""


def _first_line(message: str) -> str:
    return next((line for line in message.splitlines() if line.strip(" \t")), "")


def inspect(path: str | os.PathLike) -> tuple[str, str]:
    """The format ('aoti' or 'torchscript') and the text of metadata.json ('' if absent), read
    with PyTorch's own zip reader (the C++ app's), without loading anything."""
    path = str(path)
    if os.path.isdir(path):
        raise ModelFileError(f"model file '{path}' is a directory")
    if not os.path.isfile(path):
        raise ModelFileError(f"model file '{path}' does not exist")
    try:
        reader = torch._C.PyTorchFileReader(path)
        records = reader.get_all_records()
        has_metadata = reader.has_record(aoti.METADATA_RECORD)
        text = bytes(reader.get_record(aoti.METADATA_RECORD)) if has_metadata else b""
    except RuntimeError as err:  # not a zip archive, truncated, ...
        raise ModelFileError(
            f"cannot load '{path}' as a TorchScript model or AOTInductor package: "
            + _first_line(str(err))
        ) from None
    if any(r.startswith("data/aotinductor/") for r in records):
        fmt = "aoti"
    elif any(r.startswith("data.pkl") for r in records) and any(
        r.startswith("code/") for r in records
    ):
        fmt = "torchscript"
    else:
        raise ModelFileError(
            f"cannot load '{path}' as a TorchScript model or AOTInductor package: a zip archive "
            "that is neither"
        )
    return fmt, text.decode("utf-8", "replace")


def check_metadata(path, text: str, fmt: str) -> dict[str, Any]:
    """The metadata, parsed; raises unless it describes a linreg_ext model (cpp_app/metadata.cpp,
    parse_metadata: the same rules, the same messages)."""
    where = f"'{path}'"
    try:
        metadata = json.loads(text)
    except json.JSONDecodeError:
        raise ModelFileError(
            f"{where} is not a linreg_ext model (metadata.json is not JSON)"
        ) from None
    if metadata == "not JSON":
        raise ModelFileError(f"{where} is not a linreg_ext model (metadata.json is not JSON)")
    if not isinstance(metadata, dict) or "linreg_ext_version" not in metadata:
        raise ModelFileError(f"{where} is not a linreg_ext model (no linreg_ext metadata.json)")
    D = metadata.get("in_features")
    if type(D) not in (int, float) or not 1 <= D <= 1e15 or D != int(D):
        raise ModelFileError(f"{where}: metadata.json in_features must be an integer >= 1")
    dtype = metadata.get("dtype")
    if dtype not in DTYPES:
        got = dtype if isinstance(dtype, str) else ""
        raise ModelFileError(
            f"{where}: metadata.json dtype must be float32 or float64, got '{got}'"
        )
    if metadata.get("device", "cpu") not in ("cpu", "cuda"):
        raise ModelFileError(f"{where}: metadata.json device must be cpu or cuda")
    if fmt == "aoti":
        isa = metadata.get("cpu_isa")
        if not isinstance(isa, dict) or not isinstance(isa.get("requires"), list):
            raise ModelFileError(
                f"{where}: metadata.json does not say which CPU it was compiled for (cpu_isa)"
            )
    return metadata


@dataclass
class LoadedModel:
    """A loaded model: X [N, in_features] (its dtype, on its device) -> predictions [N]."""

    module: Any  # torch.jit.ScriptModule, or AOTInductor's compiled model
    metadata: dict[str, Any]
    metadata_text: str  # as stored: what --info prints
    format: str  # "torchscript" or "aoti"
    path: str

    @property
    def in_features(self) -> int:
        return int(self.metadata["in_features"])

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.metadata["dtype"]]

    def to(self, device: str) -> None:
        """Prepares the model for `device`; a .pt2 runs only on the device it was compiled for."""
        if self.format == "torchscript":
            self.module.to(device)
            return
        built_for = self.metadata.get("device", "cpu")
        if torch.device(device).type != built_for:
            raise ModelFileError(
                f"this package is compiled for {built_for}, not {device}: export one with "
                f"--device {torch.device(device).type}"
            )

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Runs the model; raises unless it returns one value per row (cpp_app's Model::predict)."""
        out = self.module(X)
        if self.format == "aoti" and not isinstance(out, torch.Tensor):  # several outputs
            if len(out) != 1:
                raise ModelFileError(
                    f"the model returned {len(out)} tensors; a linreg_ext model returns one"
                )
            out = out[0]
        elif not isinstance(out, torch.Tensor):
            raise ModelFileError(
                f"the model returned {_IVALUE_KINDS.get(type(out), type(out).__name__)}, not a "
                "tensor; a linreg_ext model returns one value per row"
            )
        N = X.shape[0]
        if tuple(out.shape) not in ((N,), (N, 1)):
            raise ModelFileError(
                f"the model returned shape {list(out.shape)} for {N} rows; a linreg_ext model "
                "returns one value per row"
            )
        return out.reshape(-1)


# What C++'s IValue::tagKind() calls a TorchScript forward's non-tensor results.
_IVALUE_KINDS = {
    type(None): "None",
    tuple: "Tuple",
    list: "GenericList",
    int: "Int",
    float: "Double",
}


def load(path: str | os.PathLike) -> LoadedModel:
    """Loads either format, after checking everything that can be checked before loading."""
    fmt, text = inspect(path)
    metadata = check_metadata(path, text, fmt)
    if fmt == "aoti":
        try:
            module = aoti.load_checked(path, metadata, text)
        except aoti.PackageError as err:
            raise ModelFileError(str(err)) from None
    else:
        try:
            module, _ = torchscript.load(path)
        except (RuntimeError, ValueError) as err:
            raise ModelFileError(
                f"cannot load '{path}' as a TorchScript model: {_first_line(str(err))}"
            ) from None
    return LoadedModel(module, metadata, text, fmt, str(Path(path)))
