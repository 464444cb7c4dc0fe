"""AOTInductor packages (.pt2) of linreg_ext models: compile, package, read back, verify.

The .pt2 is torch.export + AOTInductor: a zip holding a compiled shared library for one input
width D, one dtype and one device, whose forward calls linreg_ext::linear_forward through
AOTInductor's proxy executor (so the loading program must have the op library). Beside it sits
extra/metadata.json, the same record TorchScript files carry, plus the device and `cpu_isa`: the
instruction set the library was compiled for, which loaders check before they load it (a package
built with AVX-512 would die of SIGILL on an AVX2 machine). A copy of the metadata is compiled
into the library, so a loader can tell an edited metadata.json from the real one.
"""

import functools
import getpass
import json
import logging
import os
import re
import shlex
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch._inductor import config as inductor_config

METADATA_RECORD = "extra/metadata.json"  # the path TorchScript uses for its extra file, too
EMBEDDED_KEY = "linreg_ext.metadata"  # the copy in the compiled library's AOTI metadata

# --cpu-isa: the -march the generated C++ is compiled with, and inductor's vector width
# (cpp.simdlen: 256 = AVX2, 0 = no explicit vectorization, None = the best this CPU has).
CPU_ISAS = {
    "avx2": ("x86-64-v3", 256),  # the default: any x86-64 CPU since Haswell (2013) / Zen 1
    "baseline": ("x86-64", 0),  # any x86-64 CPU
    "native": ("native", None),  # this CPU: every instruction set extension it has
}
DEFAULT_CPU_ISA = "avx2"

# The CPU features a package may require: GCC's names (what __builtin_cpu_supports takes, and what
# cpp_app/cpu_features.cpp checks) -> the Linux /proc/cpuinfo flags that mean the same. A level
# (x86-64-vN) stands for its whole set. Only features a compiler emits without intrinsics matter.
_V2 = ("cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3")
_V3 = (*_V2, "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")
_V4 = (*_V3, "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")
CPU_FEATURES = {
    "x86-64": (),
    "x86-64-v2": _V2,
    "x86-64-v3": _V3,
    "x86-64-v4": _V4,
    **{name: (name,) for name in ("popcnt", "ssse3", "avx", "avx2", "fma", "f16c", "bmi2")},
    **{name: (name,) for name in ("movbe", "adx", "sse4a", "vaes", "vpclmulqdq", "gfni")},
    "sse3": ("pni",),
    "sse4.1": ("sse4_1",),
    "sse4.2": ("sse4_2",),
    "bmi": ("bmi1",),
    "lzcnt": ("abm",),
    "prfchw": ("3dnowprefetch",),
    "aes": ("aes",),
    "pclmul": ("pclmulqdq",),
    "sha": ("sha_ni",),
    "avxvnni": ("avx_vnni",),
    "amx-tile": ("amx_tile",),
    "amx-bf16": ("amx_bf16",),
    "amx-int8": ("amx_int8",),
    **{
        f"avx512{s}": (f"avx512{s}",)
        for s in ("f", "vl", "bw", "dq", "cd", "vnni", "bf16", "fp16", "vbmi", "vbmi2", "ifma")
        + ("bitalg", "vpopcntdq")
    },
}


class PackageError(ValueError):
    """A .pt2 that cannot be used here; the message is one line that names the file."""


def _cxx() -> str:
    return inductor_config.cpp.cxx[1] or "g++"


@functools.cache
def native_cpu() -> tuple[str, list[str]]:
    """What -march=native means to the C++ compiler here: its CPU name and the features it turns
    on that CPU_FEATURES knows, as GCC's `-Q --help=target` lists them."""
    out = subprocess.run(
        [_cxx(), "-march=native", "-Q", "--help=target"], capture_output=True, text=True, check=True
    ).stdout
    march = re.search(r"^\s+-march=\s+(\S+)", out, re.M)
    enabled = set(re.findall(r"^\s+-m([\w.-]+)\s+\[enabled\]", out, re.M))
    return (march.group(1) if march else "native"), sorted(enabled & CPU_FEATURES.keys())


def cpu_isa_record(cpu_isa: str) -> dict[str, Any]:
    """metadata["cpu_isa"]: the --cpu-isa name, the -march used and the features it requires."""
    march, _ = CPU_ISAS[cpu_isa]
    if cpu_isa != "native":
        return {"name": cpu_isa, "march": march, "requires": [march]}
    name, features = native_cpu()
    level = next(v for v in ("x86-64-v4", "x86-64-v3", "x86-64-v2", "x86-64") if not missing([v]))
    return {"name": "native", "march": name, "requires": [level, *features]}


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags = re.search(r"^flags\s*:(.*)$", text, re.M)
    return frozenset(flags.group(1).split()) if flags else frozenset()


def missing(requires: list[str]) -> list[str]:
    """The required features this CPU lacks (a name CPU_FEATURES does not know counts as missing:
    a package from a newer linreg_ext must not be run on a guess)."""
    flags = _cpu_flags()
    return [f for f in requires if f not in CPU_FEATURES or not set(CPU_FEATURES[f]) <= flags]


HAS_MARCH_CONFIG = hasattr(inductor_config.cpp, "march")  # torch >= 2.12


def _wrapper_dir() -> Path:
    """Where inductor keeps its cache: a stable path, so that its cache keys stay stable too."""
    default = Path(tempfile.gettempdir()) / f"torchinductor_{getpass.getuser()}"
    return Path(os.environ.get("TORCHINDUCTOR_CACHE_DIR") or default) / "linreg_ext"


def _march_configs(march: str) -> dict[str, Any]:
    """Inductor settings that make the generated C++ compile with -march=`march`.

    torch >= 2.12 has cpp.march. Older releases (2.11) hard-code -march=native, so there the
    compiler is a wrapper script that swaps that flag for ours; everything else is unchanged.
    """
    if march == "native" or HAS_MARCH_CONFIG:
        return {} if march == "native" else {"cpp.march": march}
    wrapper = _wrapper_dir() / f"cxx-march-{march}.sh"
    if not wrapper.exists():
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        tmp = wrapper.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            "#!/bin/sh\n# -march=native -> -march=" + march + " (written by linreg_ext.aoti)\n"
            'for a; do shift; [ "$a" = -march=native ] && a=-march=' + march + '; set -- "$@" "$a"'
            f'; done\nexec {shlex.quote(_cxx())} "$@"\n'
        )
        tmp.chmod(0o755)
        os.replace(tmp, wrapper)
    return {"cpp.cxx": (None, str(wrapper))}


def inductor_configs(cpu_isa: str, metadata_text: str) -> dict[str, Any]:
    march, simdlen = CPU_ISAS[cpu_isa]
    configs = {
        "aot_inductor.metadata": {EMBEDDED_KEY: metadata_text},
        "cpp.simdlen": simdlen,
        **_march_configs(march),
    }
    if hasattr(inductor_config.aot_inductor, "enable_line_tables"):
        configs["aot_inductor.enable_line_tables"] = False  # 1.6 MB -> 0.4 MB, no loss at run time
    return configs


def compile_package(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: str | Path,
    metadata: dict[str, Any],
    cpu_isa: str = DEFAULT_CPU_ISA,
) -> dict[str, Any]:
    """Exports `model` (dynamic N, example [N >= 2, D]) and writes the AOTInductor package to
    `path` with metadata.json; returns the metadata written (with device and cpu_isa added)."""
    if cpu_isa not in CPU_ISAS:
        raise ValueError(f"--cpu-isa must be one of {', '.join(CPU_ISAS)}, got {cpu_isa!r}")
    # cpu_isa for CUDA packages too: their host code is compiled with the same flags.
    metadata = {**metadata, "device": example.device.type, "cpu_isa": cpu_isa_record(cpu_isa)}
    text = json.dumps(metadata)
    N = torch.export.Dim("N", min=1)
    ep = torch.export.export(model.eval(), (example,), dynamic_shapes={"X": {0: N}})
    if not any(n.target == torch.ops.linreg_ext.linear_forward.default for n in ep.graph.nodes):
        raise RuntimeError("the exported graph does not call linreg_ext::linear_forward")
    # A file object, not the path: the package name must end in .pt2, a temporary file's does not.
    with open(path, "wb") as f, _quiet_torch():
        torch._inductor.aoti_compile_and_package(
            ep, package_path=f, inductor_configs=inductor_configs(cpu_isa, text)
        )
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(f"{_root(z.namelist(), path)}/{METADATA_RECORD}", text)
    return metadata


def _root(names: list[str], path) -> str:
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1:
        raise PackageError(f"{path}: not a PyTorch archive (records under {sorted(roots)})")
    return roots.pop()


def read_metadata(path: str | Path) -> tuple[dict[str, Any], str]:
    """The package's metadata.json, parsed and as text, without loading the library."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
            root = _root(names, path)
            if not any(n.startswith(f"{root}/data/aotinductor/") for n in names):
                raise PackageError(f"'{path}' is not an AOTInductor package")
            try:
                text = z.read(f"{root}/{METADATA_RECORD}").decode()
            except KeyError:
                raise PackageError(
                    f"'{path}' is not a linreg_ext model (no metadata.json)"
                ) from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:  # a truncated file: EOFError/BadZip
        raise PackageError(f"cannot read '{path}' as an AOTInductor package: {err}") from err
    try:
        return json.loads(text), text
    except json.JSONDecodeError as err:
        raise PackageError(
            f"'{path}' is not a linreg_ext model (metadata.json is not JSON)"
        ) from err


def check_runnable(path, metadata: dict[str, Any]) -> None:
    """Raises PackageError unless this machine can load the package: a GPU for a CUDA package,
    and every CPU feature the package's code requires. The messages are cpp_app/model_aoti.cpp's."""
    if metadata.get("device", "cpu") == "cuda" and not torch.cuda.is_available():
        raise PackageError(f"'{path}' is compiled for cuda, but CUDA is not available")
    isa = metadata.get("cpu_isa")
    if not isinstance(isa, dict) or not isinstance(isa.get("requires"), list):
        raise PackageError(
            f"'{path}': metadata.json does not say which CPU it was compiled for (cpu_isa)"
        )
    lacking = missing([f if isinstance(f, str) else "?" for f in isa["requires"]])
    if lacking:
        raise PackageError(
            f"'{path}' is compiled for {isa.get('name', '')} ({isa.get('march', '')}); this CPU "
            f"lacks {', '.join(lacking)}: export it with --cpu-isa avx2 or baseline"
        )


# Warnings torch logs while compiling or loading a package that tell a user nothing: a CUDA
# build of torch on a machine without a GPU; the package's vector ISA differs from this CPU's
# best (harmless once check_runnable has passed: an AVX2 package on an AVX-512 machine); and
# "outdated pt2 file" for a package whose library is missing (load_checked says why it failed).
_NOISY_LOGGERS = (
    "torch.export.pt2_archive._package",
    "torch.utils.cpp_extension",
    "torch._inductor.package.package",
)


@contextmanager
def _quiet_torch() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in _NOISY_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def load_checked(path: str | Path, metadata: dict[str, Any], text: str) -> Any:
    """Loads the package whose metadata.json (`text`, parsed: `metadata`) was read from it, after
    check_runnable; the copy compiled into it must be the same text."""
    check_runnable(path, metadata)
    # torch's loader wants a name ending in .pt2 (or a file object): a renamed package is opened.
    named_pt2 = str(path).endswith(".pt2")
    with _quiet_torch(), nullcontext(str(path)) if named_pt2 else open(path, "rb") as f:
        try:
            model = torch._inductor.aoti_load_package(f)
        except Exception as err:  # RuntimeError from the loader; others from a broken archive
            first = next((ln for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
            raise PackageError(f"cannot load '{path}' as an AOTInductor package: {first}") from err
    if model.get_metadata().get(EMBEDDED_KEY) != text:
        raise PackageError(
            f"'{path}': metadata.json does not match the compiled model (was it edited?)"
        )
    return model


def load(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """Checks the package against this machine and loads it: (callable model, metadata)."""
    metadata, text = read_metadata(path)
    return load_checked(path, metadata, text), metadata
