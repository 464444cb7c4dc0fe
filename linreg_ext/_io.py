"""File output that never leaves a half-written file and never silently replaces one."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output file exists and replacing it was not asked for (force=False)."""


def refuse_existing(path: str | os.PathLike, force: bool = False) -> None:
    """Raises OutputExistsError if `path` exists, unless force; lets a CLI fail before working."""
    if not force and Path(path).exists():
        raise OutputExistsError(f"{path} already exists")


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], None], force: bool = False
) -> Path:
    """Calls write(tmp) on a temporary file beside `path`, then renames it to `path`.

    The rename is atomic, so a reader sees the old file or the complete new one, and an error
    or interruption in write() leaves `path` untouched. An existing `path` is replaced only
    with force=True; otherwise OutputExistsError (a FileExistsError) names it.
    """
    path = Path(path)
    refuse_existing(path, force)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
