"""File input and output of the command-line programs (train, export).

Output never leaves a half-written file and never replaces a file unless asked (force), even when
several programs write the same path at once; it is checked before any work (check_output), and
its messages name the path the user gave, never a temporary file. Input paths that are not regular
files are named for what they are (a directory, a FIFO), not reported as missing.
"""

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output file exists and replacing it was not asked for (force=False)."""


class WrongKindError(OSError):
    """A path exists but is not a regular file (a directory, a FIFO, a device, a link...)."""


def _error(number: int | None, message: str) -> OSError:
    """An OSError that prints as `message` alone (OSError(errno, text) prints "[Errno N] text")."""
    err = OSError(message)
    err.errno = number
    return err


def file_kind(mode: int) -> str:
    """What a st_mode is, as messages name it: "a directory", "a FIFO (named pipe)", ..."""
    for test, kind in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def check_input_file(path: str | os.PathLike, what: str) -> Path:
    """`path` if it is a regular file (or a link to one); else OSError saying what it is.

    `what` names the expected file in messages ("checkpoint", "CSV file").
    """
    path = Path(path)
    if str(path) == "":
        raise FileNotFoundError(f"the {what} path is empty")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}") from None
    except OSError as err:
        raise _error(err.errno, f"cannot read {path}: {err.strerror}") from None
    if not stat.S_ISREG(mode):
        raise WrongKindError(f"{path} is {file_kind(mode)}, not a {what}")
    return path


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (/proc, race-free)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it, then restore it
    os.umask(mask)
    return mask


def check_output(path: str | os.PathLike, force: bool = False) -> Path:
    """Raises OSError, in the user's words, if atomic_write(path, ..., force) would fail there.

    Called before any work, so that a bad --out costs nothing: an empty path, a missing or
    unwritable directory, a directory or other non-regular file at `path`, a symbolic link at
    `path` (never followed nor replaced: give the target's own path), or an existing file
    without force (OutputExistsError). atomic_write checks again when it writes.
    """
    if str(path) == "":
        raise FileNotFoundError("the output path is empty")
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        if parent.exists():
            raise NotADirectoryError(f"cannot write {path}: {parent} is not a directory")
        raise FileNotFoundError(f"cannot write {path}: directory {parent} does not exist")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None:
        if stat.S_ISLNK(mode):
            raise WrongKindError(
                f"{path} is a symbolic link (to {os.readlink(path)}); output never replaces a "
                "link nor writes through one: give the target's own path"
            )
        if not stat.S_ISREG(mode):
            raise WrongKindError(f"{path} is {file_kind(mode)}; output replaces only regular files")
        if not force:
            raise OutputExistsError(f"{path} already exists")
    try:  # the one sure test that the directory takes new files (permissions, read-only mounts)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise _error(err.errno, f"cannot write in {parent}: {err.strerror}") from None
    os.close(fd)
    os.unlink(probe)
    return path


def _link_exclusively(tmp: Path, path: Path) -> None:
    """Gives the complete file `tmp` the name `path` only if no file has that name (else
    FileExistsError); atomic, so of several writers racing for `path` exactly one succeeds."""
    try:
        os.link(tmp, path)  # fails with EEXIST whatever appeared there, even a dangling link
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        # A filesystem without hard links: claim the name exclusively, then replace the claim.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.replace(tmp, path)


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], None], force: bool = False
) -> Path:
    """Calls write(tmp) on a temporary file beside `path`, then gives it the name `path`.

    A reader sees the old file or the complete new one, and an error or interruption in write()
    leaves `path` untouched. Without force, the name is taken only if free, atomically (a hard
    link), so of concurrent writers exactly one succeeds and the others get OutputExistsError;
    with force, an existing regular file is replaced (os.replace), never a directory, a device,
    a FIFO or a symbolic link (check_output). The file gets the mode 0o666 less the umask, like
    any file a program creates.
    """
    path = check_output(path, force)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # the directory changed since check_output
        raise _error(err.errno, f"cannot write in {path.parent}: {err.strerror}") from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        write(tmp)
        if force:
            check_output(path, force)  # still a regular file, or nothing
            os.replace(tmp, path)
        else:
            _link_exclusively(tmp, path)
    except (OutputExistsError, WrongKindError):
        raise
    except FileExistsError:  # another writer took the name first
        raise OutputExistsError(f"{path} already exists") from None
    except OSError as err:  # in the user's words: the path they gave, never the temporary name
        reason = err.strerror or str(err).replace(str(tmp), str(path))
        raise _error(err.errno, f"cannot write {path}: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
