"""linreg_ext.train under torchrun: 2 processes on localhost (gloo) against 1 (issue 14).

Every run is bounded (TIMEOUT seconds) and talks over 127.0.0.1 only (torchrun --standalone).
"""

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from linreg_ext import distributed, train

TIMEOUT = 180
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def run(*command):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*map(str, command)], capture_output=True, text=True, timeout=TIMEOUT, env=env
    )


def write_csv(path, header, X, y):
    lines = [",".join(header)]
    lines += [",".join(map(repr, [*x, t])) for x, t in zip(X.tolist(), y.tolist(), strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def data_csv(tmp_path):
    """301 rows (uneven halves: 150 and 151), 3 features on different scales, a little noise."""
    g = torch.Generator().manual_seed(3)
    X = torch.randn(301, 3, generator=g, dtype=torch.float64)
    X = X * torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64) + 2
    w = torch.tensor([1.5, -0.25, 4.0], dtype=torch.float64)
    y = X @ w + 0.75 + 0.1 * torch.randn(301, generator=g, dtype=torch.float64)
    return write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], X, y)


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_two_processes_give_the_one_process_weights(tmp_path, data_csv):
    args = ["--data", data_csv, "--dtype", "float64", "--standardize", "--epochs", "200"]
    one, two = tmp_path / "one.ckpt", tmp_path / "two.ckpt"
    single = run(sys.executable, "-m", "linreg_ext.train", *args, "--out", one, "--quiet")
    assert single.returncode == 0, single.stderr
    double = run(*TORCHRUN, "-m", "linreg_ext.train", *args, "--out", two)
    assert double.returncode == 0, double.stderr
    assert double.stdout.count("saved ") == 1 and double.stdout.count("trained 200") == 1
    assert double.stdout.count("epoch 200/200") == 1  # only rank 0 logs
    a, meta_a = train.load_checkpoint(one)
    b, meta_b = train.load_checkpoint(two)
    # Full batch: the same steps to float64 summation order (measured: about 2e-15 relative).
    for p, q in ((a.weight, b.weight), (a.bias, b.bias)):
        torch.testing.assert_close(q, p, rtol=1e-12, atol=0)
    assert meta_b["training"]["rows"] == 301
    assert meta_b["training"]["loss"] == pytest.approx(meta_a["training"]["loss"], rel=1e-12)


def test_two_processes_train_minibatches_on_uneven_parts(tmp_path, data_csv):
    out = tmp_path / "m.ckpt"
    args = ["--data", data_csv, "--dtype", "float64", "--standardize", "--epochs", "30"]
    result = run(*TORCHRUN, "-m", "linreg_ext.train", *args, "--batch-size", "16", "--out", out)
    assert result.returncode == 0, result.stderr
    model, meta = train.load_checkpoint(out)
    rows = [line.split(",") for line in data_csv.read_text().splitlines()[1:]]
    values = torch.tensor([[float(v) for v in r] for r in rows], dtype=torch.float64)
    A = torch.cat([values[:, :3], torch.ones(len(values), 1, dtype=torch.float64)], 1)
    expected = torch.linalg.lstsq(A, values[:, 3]).solution
    best = (A @ expected - values[:, 3]).pow(2).mean().item()
    assert best <= meta["training"]["loss"] < 1.1 * best  # SGD's noise: near, not at, the optimum
    torch.testing.assert_close(model.weight.reshape(-1), expected[:3], rtol=5e-2, atol=0)


def test_ranks_that_disagree_about_the_data_end_the_job(tmp_path, data_csv):
    # Rank 1 is handed other columns by a launcher script: the trainer itself is unchanged.
    other = tmp_path / "other.csv"
    other.write_text(data_csv.read_text().replace("a,b,c,y", "a,b,z,y", 1))
    launcher = tmp_path / "launch.py"
    launcher.write_text(
        textwrap.dedent(
            f"""
            import os, sys
            from linreg_ext import distributed, train
            argv = sys.argv[1:]
            if os.environ["RANK"] == "1":
                argv = [{str(other)!r} if a == {str(data_csv)!r} else a for a in argv]
            sys.exit(train.main(argv))
            """
        )
    )
    out = tmp_path / "m.ckpt"
    result = run(*TORCHRUN, launcher, "--data", data_csv, "--out", out, "--epochs", "5")
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr  # rank 0 says it once; torchrun adds its summary
    assert "the 2 processes disagree about the data: rank 0 reads" in errors[0]
    assert "features a, b, c;" in errors[0] and "features a, b, z;" in errors[0]
    assert not out.exists()


def test_shards_that_disagree_end_the_job(tmp_path, data_csv):
    # A directory whose two shards name different columns: refused before any step.
    shards = tmp_path / "shards"
    shards.mkdir()
    text = data_csv.read_text().splitlines()
    (shards / "part0.csv").write_text("\n".join(text[:150]) + "\n")
    (shards / "part1.csv").write_text("\n".join(["a,b,z,y", *text[150:]]) + "\n")
    out = tmp_path / "m.ckpt"
    result = run(*TORCHRUN, "-m", "linreg_ext.train", "--data", shards, "--out", out)
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert "part0.csv" in errors[0] and "part1.csv" in errors[0], errors[0]
    assert not out.exists()


def test_divergence_in_two_processes_stops_both_and_saves_nothing(tmp_path):
    g = torch.Generator().manual_seed(1)
    sqft = 500 + 3500 * torch.rand(200, generator=g, dtype=torch.float64)
    price = 150 * sqft + 50_000 + 1e4 * torch.randn(200, generator=g, dtype=torch.float64)
    data = write_csv(tmp_path / "houses.csv", ["sqft", "price"], sqft[:, None], price)
    out = tmp_path / "h.ckpt"
    result = run(*TORCHRUN, "-m", "linreg_ext.train", "--data", data, "--out", out)
    assert result.returncode != 0
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and "error: training diverged at epoch " in errors[0], result.stderr
    assert "; nothing saved: try --standardize or a smaller --lr" in errors[0]
    # Every worker exited 3 (torchrun itself reports a failed job with status 1).
    assert result.stderr.count("exitcode  : 3") == 2 or "exitcode  : 3" in result.stderr
    assert not out.exists()


def children(pid):
    """The pids of pid's child processes (torchrun's workers: they run in sessions of their own,
    out of reach of a signal to torchrun's process group)."""
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in listed.stdout.split()]


def first_line(proc, seconds):
    """proc's first stdout line, or AssertionError after `seconds`."""
    ready, _, _ = select.select([proc.stdout], [], [], seconds)
    assert ready, f"no output in {seconds} s"
    return proc.stdout.readline()


def test_ctrl_c_on_two_processes_saves_one_checkpoint_that_resumes(tmp_path, data_csv):
    # Ctrl-C at a terminal signals torchrun's process group; torchrun forwards SIGINT to its
    # workers (each in a session of its own) and sends SIGKILL to any still running 30 s later
    # (TORCH_ELASTIC_SHUTDOWN_TIMEOUT). Every rank stops at the same epoch's end (the stop flag
    # rides the step's all-reduce) and rank 0 alone saves. torchrun itself then exits 1 and
    # prints its own SignalException traceback: the launcher's behaviour, not ours.
    out = tmp_path / "m.ckpt"
    command = [*TORCHRUN, "-m", "linreg_ext.train", "--data", data_csv, "--out", out]
    command += ["--dtype", "float64", "--lr", "0.001", "--epochs", "100000000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*map(str, command)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group, signalled as a terminal would
    )
    workers = []
    try:
        # rank 0 logs epoch 1 after the first all-reduce: both workers have their handlers then
        assert first_line(proc, TIMEOUT).startswith("epoch"), "training did not begin"
        workers = children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        for pid in [*workers, *children(proc.pid)]:  # whatever failed: nothing left running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode != 0
    errors = error_lines(stderr)
    assert len(errors) == 1, stderr  # rank 0's line only
    match = re.fullmatch(
        r"error: interrupted at epoch (\d+); checkpoint saved to (\S+); resume with: "
        r"torchrun --nproc-per-node 2 -m linreg_ext\.train .*--resume (\S+)",
        errors[0],
    )
    assert match and match[2] == match[3] == str(out), errors[0]
    done = int(match[1])
    _, checkpoint = train.load_checkpoint(out)
    assert checkpoint["training"]["epochs_done"] == done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "m.ckpt"]  # no temporary

    # Resumed for 20 more epochs on two processes, it ends where one process that ran
    # done + 20 epochs straight ends (full batch: to float64 summation order).
    args = ["--data", data_csv, "--dtype", "float64", "--lr", "0.001"]
    resumed = run(
        *TORCHRUN,
        "-m",
        "linreg_ext.train",
        *args,
        "--epochs",
        done + 20,
        "--out",
        out,
        "--resume",
        out,
        "--force",
    )
    assert resumed.returncode == 0, resumed.stderr
    straight_out = tmp_path / "straight.ckpt"
    straight = run(
        sys.executable,
        "-m",
        "linreg_ext.train",
        *args,
        "--epochs",
        done + 20,
        "--out",
        straight_out,
        "--quiet",
    )
    assert straight.returncode == 0, straight.stderr
    a, _ = train.load_checkpoint(straight_out)
    b, _ = train.load_checkpoint(out)
    for p, q in ((a.weight, b.weight), (a.bias, b.bias)):
        torch.testing.assert_close(q, p, rtol=1e-10, atol=0)


def test_more_cuda_processes_than_gpus_is_one_clear_error(monkeypatch):
    # nccl wants one GPU per process; a rank without one is refused before any collective
    # (the nccl path itself needs several GPUs, which no test machine of this project has).
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError) as err:
        distributed.local_gpu()
    assert str(err.value) == (
        "--device cuda: local rank 1 needs GPU 1, but this node has 1; start at most 1 per node "
        "(torchrun --nproc-per-node 1)"
    )
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.local_gpu() == 0
