"""linreg_ext._io: where the CLIs write (check_output, atomic_write) and what they read.

Exclusive creation under concurrent writers, --force only over regular files, symbolic links
refused, the umask respected, and messages that name the user's path, never a temporary file.
No test writes to a real device: device nodes are simulated with a mocked lstat.
"""

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from linreg_ext import _io
from linreg_ext._io import (
    OutputExistsError,
    WrongKindError,
    atomic_write,
    check_input_file,
    check_output,
)


def _write_after_barrier(path, barrier, force, results, i):
    def slow_write(tmp):
        tmp.write_text(f"writer {i}\n" * 1000)
        time.sleep(0.2)  # every writer is inside atomic_write at once

    barrier.wait()
    try:
        atomic_write(path, slow_write, force=force)
        results.put((i, "saved"))
    except OutputExistsError as err:
        results.put((i, str(err)))


def race(path, writers, force):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(target=_write_after_barrier, args=(path, barrier, force, results, i))
        for i in range(writers)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    return outcomes


def test_concurrent_writers_exactly_one_wins_without_force(tmp_path):
    out = tmp_path / "model.ckpt"
    outcomes = race(out, writers=6, force=False)
    winners = [i for i, outcome in outcomes.items() if outcome == "saved"]
    assert len(winners) == 1, outcomes
    for i, outcome in outcomes.items():
        if i != winners[0]:
            assert outcome == f"{out} already exists"
    assert out.read_text() == f"writer {winners[0]}\n" * 1000
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]  # no temporary left


def test_concurrent_writers_with_force_all_replace_whole_files(tmp_path):
    out = tmp_path / "model.ckpt"
    outcomes = race(out, writers=4, force=True)
    assert set(outcomes.values()) == {"saved"}
    lines = out.read_text().splitlines()
    assert len(lines) == 1000 and len(set(lines)) == 1  # one writer's complete file
    assert [p.name for p in tmp_path.iterdir()] == ["model.ckpt"]


def test_exclusive_without_hard_links(tmp_path, monkeypatch):
    # A filesystem without hard links (EPERM): the name is claimed with O_EXCL instead.
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(_io.os, "link", no_links)
    out = tmp_path / "f.bin"
    atomic_write(out, lambda tmp: tmp.write_bytes(b"first"))
    with pytest.raises(OutputExistsError, match=r"f.bin already exists$"):
        atomic_write(out, lambda tmp: tmp.write_bytes(b"second"))
    assert out.read_bytes() == b"first"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        out = atomic_write(tmp_path / "f.bin", lambda tmp: tmp.write_bytes(b"x"))
        assert _io._umask() == umask
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_empty_output_path():
    with pytest.raises(FileNotFoundError, match=r"^the output path is empty$"):
        check_output("")


def test_missing_directory_and_a_file_as_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cannot write .*/nope/m.ckpt: directory .*/nope"):
        check_output(tmp_path / "nope" / "m.ckpt")
    (tmp_path / "plain").write_text("")
    with pytest.raises(NotADirectoryError, match=r"plain/m.ckpt: .*/plain is not a directory"):
        check_output(tmp_path / "plain" / "m.ckpt")


def test_unwritable_directory(tmp_path, monkeypatch):
    # Tests may run as root, whom permissions never stop: the refusal is simulated.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_io.tempfile, "mkstemp", refuse)
    with pytest.raises(OSError, match=rf"^cannot write in {tmp_path}: Permission denied$"):
        check_output(tmp_path / "m.ckpt")


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_is_never_replaced(tmp_path, force):
    (tmp_path / "adir").mkdir()
    with pytest.raises(WrongKindError, match=r"adir is a directory; output replaces only regular"):
        atomic_write(tmp_path / "adir", lambda tmp: tmp.write_bytes(b"x"), force=force)
    assert (tmp_path / "adir").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["adir"]


def test_force_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(WrongKindError, match=r"pipe is a FIFO \(named pipe\); output replaces"):
        atomic_write(fifo, lambda tmp: tmp.write_bytes(b"x"), force=True)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_force_refuses_a_device_node(tmp_path, monkeypatch):
    # A character device simulated by lstat: no test touches a real device.
    target = tmp_path / "full"
    real_lstat = Path.lstat

    def device_lstat(self):
        if self == target:
            return os.stat_result((stat.S_IFCHR | 0o666, 0, 0, 1, 0, 0, 0, 0, 0, 0))
        return real_lstat(self)

    monkeypatch.setattr(Path, "lstat", device_lstat)
    with pytest.raises(WrongKindError, match=r"full is a character device; output replaces only"):
        check_output(target, force=True)


@pytest.mark.parametrize("force", [False, True])
def test_a_symbolic_link_is_neither_replaced_nor_followed(tmp_path, force):
    target = tmp_path / "real.ckpt"
    target.write_bytes(b"target")
    link = tmp_path / "link.ckpt"
    link.symlink_to(target)
    with pytest.raises(WrongKindError, match=r"link.ckpt is a symbolic link \(to .*real.ckpt\)"):
        atomic_write(link, lambda tmp: tmp.write_bytes(b"new"), force=force)
    assert link.is_symlink() and target.read_bytes() == b"target"


def test_a_dangling_symbolic_link_is_not_replaced(tmp_path):
    link = tmp_path / "link.ckpt"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(WrongKindError, match="is a symbolic link"):
        atomic_write(link, lambda tmp: tmp.write_bytes(b"new"))
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_write_errors_name_the_output_not_the_temporary(tmp_path):
    def fails(tmp):
        open(tmp / "inside")  # NotADirectoryError naming the temporary file

    with pytest.raises(OSError) as err:
        atomic_write(tmp_path / "m.ckpt", fails)
    assert str(err.value) == f"cannot write {tmp_path / 'm.ckpt'}: Not a directory"
    assert ".tmp" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_input_paths_say_what_they_are(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "adir").mkdir()
    with pytest.raises(FileNotFoundError, match=r"missing.ckpt: no such checkpoint file$"):
        check_input_file(tmp_path / "missing.ckpt", "checkpoint file")
    with pytest.raises(WrongKindError, match=r"adir is a directory, not a checkpoint file$"):
        check_input_file(tmp_path / "adir", "checkpoint file")
    with pytest.raises(WrongKindError, match=r"pipe is a FIFO \(named pipe\), not a CSV file$"):
        check_input_file(tmp_path / "pipe", "CSV file")
