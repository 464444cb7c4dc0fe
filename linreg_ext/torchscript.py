"""TorchScript save/load for linreg_ext models, the format LibTorch's C++ loader reads.

PyTorch 2.14 deprecates TorchScript in favour of torch.export and AOTInductor, and every
torch.jit.script/save/load call warns with a FutureWarning. The successor's file, an AOTInductor
package (.pt2), is loaded from C++ by torch::inductor::AOTIModelPackageLoader; this project does not
write one yet (a later export path will), and cpp_app loads TorchScript with torch::jit::load. So
TorchScript stays on purpose: the functions here silence exactly that warning, around exactly
these calls, and nowhere else.
"""

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

METADATA_FILE = "metadata.json"


@contextlib.contextmanager
def _torchscript_is_intended() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning
        )
        yield


def script(module: torch.nn.Module) -> torch.jit.ScriptModule:
    with _torchscript_is_intended():
        return torch.jit.script(module)


def save(module: torch.jit.ScriptModule, path: str | Path, metadata: dict[str, Any]) -> None:
    """Writes `module` with `metadata` as the extra file metadata.json."""
    with _torchscript_is_intended():
        torch.jit.save(module, str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})


def load(path: str | Path, map_location: str = "cpu") -> tuple[torch.jit.ScriptModule, dict]:
    """Reads a module written by save(); returns it and its metadata."""
    extra = {METADATA_FILE: ""}
    with _torchscript_is_intended():
        module = torch.jit.load(str(path), map_location=map_location, _extra_files=extra)
    return module, json.loads(extra[METADATA_FILE]) if extra[METADATA_FILE] else {}
