"""linreg_serve against what a PyTorch user builds today: FastAPI + uvicorn serving the same
TorchScript model with the same TF Serving :predict API, both driven by wrk on loopback.

    python bench/bench_serve.py [--out bench/results/serve] [--duration 5] [--rounds 3]

For 1 and 256 instances per request and 1, 16 and 64 connections: requests/s, instances/s, p50
and p99 latency (wrk), failed requests (socket errors + non-2xx), and the server's CPU time per
request (utime + stime of the server process from /proc, all threads, over the timed run). The
goal is requests per CPU-second, since wrk shares the machine's cores with the server. Each cell
is measured --rounds times for each server, the two back to back, and pooled. Both
servers first answer one request, checked against each other, before any timing. Writes
results.md, results.json and throughput.png to --out. Needs wrk (Debian: apt-get install wrk),
fastapi and uvicorn, and linreg_serve built by CMake (build/cmake/linreg_serve).
"""

import argparse
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVE = Path(os.environ.get("LINREG_SERVE", ROOT / "build" / "cmake" / "linreg_serve"))
TICK = os.sysconf("SC_CLK_TCK")
PATH = "/v1/models/linreg:predict"
JSON_HEADERS = {"Content-Type": "application/json"}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY")):read("*a")
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %d, \\"duration_us\\": %d, \\"socket_errors\\": %d, " ..
    "\\"non2xx\\": %d, \\"p50_us\\": %d, \\"p99_us\\": %d}\\n",
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


# The comparison server: the FastAPI app a PyTorch tutorial would write, with a pydantic model.
def fastapi_main(model_path, port):
    from typing import Union

    import torch
    import uvicorn
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    from linreg_ext import torchscript  # registers linreg_ext::linear_forward

    torch.set_num_threads(1)  # as linreg_serve: one intra-op thread per request
    model, _ = torchscript.load(model_path)
    dtype = model.weight.dtype
    app = FastAPI()

    class PredictRequest(BaseModel):
        instances: Union[list[float], list[list[float]]]  # noqa: UP007 (pydantic needs Union)

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: PredictRequest):
        if name != "linreg":
            raise HTTPException(404, f"model '{name}' is not served here")
        X = torch.tensor(request.instances, dtype=dtype).reshape(len(request.instances), -1)
        with torch.inference_mode():
            out = model(X).reshape(-1).tolist()
        return {"predictions": out}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, proc, seconds=120):
    deadline = time.monotonic() + seconds
    body = json.dumps({"instances": [4.0]}).encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            req = urllib.request.Request(
                f"http://127.0.0.1:{port}{PATH}", data=body, headers=JSON_HEADERS
            )
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as err:
            sys.exit(f"port {port} answered {err.code}: {err.read()!r}")
        except OSError:
            time.sleep(0.2)
    sys.exit(f"no answer on port {port} after {seconds} s")


def start_linreg_serve(model, threads):
    proc = subprocess.Popen(
        [str(SERVE), "--model", str(model), "--port", "0", "--threads", str(threads)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    port = int(re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)\n", line)[1])
    return proc, port


def start_fastapi(model):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--fastapi-server", str(model), str(port)],
        stdout=subprocess.DEVNULL,
    )
    return proc, port


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14, 15)


def run_wrk(port, body_file, connections, seconds, pid, script):
    threads = min(connections, 2)
    env = dict(os.environ, BENCH_BODY=str(body_file))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s"]
    cmd += ["--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{PATH}"]
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    cpu = cpu_seconds(pid) - cpu0
    match = re.search(r"^RESULT (.*)$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        sys.exit(f"wrk failed: {out.stdout}{out.stderr}")
    r = json.loads(match[1])
    r["cpu_s"] = cpu
    return r


def bench(args):
    import torch

    import linreg_ext
    from linreg_ext import LinearRegression, torchscript

    if not SERVE.is_file() or not shutil.which("wrk"):
        sys.exit(f"needs {SERVE} (cmake --build build/cmake) and wrk (apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    model_path = tmp / "model.pt"
    model = LinearRegression(1)
    with torch.no_grad():
        model.weight.fill_(3.5)
        model.bias.fill_(7.75)
    metadata = {  # what the export writes: the loaders refuse a file that is not a linreg_ext model
        "in_features": 1,
        "feature_names": ["x"],
        "target_name": "y",
        "dtype": "float32",
        "training": {},
        "linreg_ext_version": linreg_ext.__version__,
        "torch_version": torch.__version__,
    }
    torchscript.save(torchscript.script(model.eval()), model_path, metadata)
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT)
    bodies = {}
    for size in args.sizes:
        values = [round(0.37 * i - 40, 2) for i in range(size)]
        bodies[size] = tmp / f"body{size}.json"
        bodies[size].write_text(json.dumps({"instances": values}))

    servers, runs, answers = {}, [], {}
    try:
        servers["FastAPI + uvicorn"] = start_fastapi(model_path)
        servers["linreg_serve"] = start_linreg_serve(model_path, args.threads)
        for name, (proc, port) in servers.items():
            answers[name] = wait_http(port, proc)["predictions"]
        # Both servers are up for the whole run, and each cell is measured for both, one right
        # after the other (which first alternates by round): a drift of this shared machine's
        # speed moves both sides of a ratio, not one.
        for size in args.sizes:
            for proc, port in servers.values():
                run_wrk(port, bodies[size], 16, 1, proc.pid, script)  # warm-up
            for round_ in range(args.rounds):
                for c in args.connections:
                    order = list(servers.items())
                    for name, (proc, port) in order if round_ % 2 == 0 else order[::-1]:
                        r = run_wrk(port, bodies[size], c, args.duration, proc.pid, script)
                        runs.append(dict(server=name, instances=size, connections=c, **r))
                        runs[-1]["round"] = round_
                        print(summary_line(runs[-1]), flush=True)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    # The correctness check: the same float32 prediction from both (as text, FastAPI writes the
    # float64 repr of the float32 value; linreg_serve the shortest float32 text).
    a, b = answers.values()
    assert torch.equal(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32))
    return runs


def summary_line(r):
    rps = r["requests"] / (r["duration_us"] / 1e6)
    cpu_us = 1e6 * r["cpu_s"] / max(r["requests"], 1)
    return (
        f"round {r['round']} {r['server']:>18} {r['instances']:>4} inst "
        f"{r['connections']:>3} conn: "
        f"{rps:9.0f} req/s  p50 {r['p50_us'] / 1000:7.2f} ms  p99 {r['p99_us'] / 1000:7.2f} ms  "
        f"{cpu_us:7.1f} us CPU/req  failed {r['socket_errors'] + r['non2xx']}"
    )


def combine(runs):
    """One row per server and cell: the rounds' requests, seconds and CPU pooled, the median p50
    and p99 and the worst p99, and the ratio of requests per CPU-second to FastAPI's in each round
    (the two measured back to back)."""
    rows = []
    for key in dict.fromkeys((r["server"], r["instances"], r["connections"]) for r in runs):
        cell = [r for r in runs if (r["server"], r["instances"], r["connections"]) == key]
        row = dict(server=key[0], instances=key[1], connections=key[2], rounds=len(cell))
        for field in ("requests", "duration_us", "cpu_s", "socket_errors", "non2xx"):
            row[field] = sum(r[field] for r in cell)
        row["p50_us"] = statistics.median(r["p50_us"] for r in cell)
        row["p99_us"] = statistics.median(r["p99_us"] for r in cell)
        row["p99_worst_us"] = max(r["p99_us"] for r in cell)
        seconds = row["duration_us"] / 1e6
        row["req_per_s"] = row["requests"] / seconds
        row["instances_per_s"] = row["req_per_s"] * row["instances"]
        row["cpu_us_per_req"] = 1e6 * row["cpu_s"] / max(row["requests"], 1)
        row["req_per_cpu_s"] = row["requests"] / row["cpu_s"] if row["cpu_s"] else float("inf")
        row["failed"] = row["socket_errors"] + row["non2xx"]
        rows.append(row)
    return rows


def round_ratios(runs, size, c):
    """linreg_serve's requests per CPU-second over FastAPI's, round by round."""
    per_round = {}
    for r in runs:
        if r["instances"] == size and r["connections"] == c:
            per_round.setdefault(r["round"], {})[r["server"]] = r["requests"] / max(
                r["cpu_s"], 1e-9
            )
    return [
        pair["linreg_serve"] / pair["FastAPI + uvicorn"]
        for pair in per_round.values()
        if len(pair) == 2
    ]


def report(runs, args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = combine(runs)
    lines = [
        "| server | instances/request | connections | req/s | instances/s | p50 ms | p99 ms "
        "| CPU µs/request | req per CPU-s | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['server']} | {r['instances']} | {r['connections']} | {r['req_per_s']:,.0f} | "
            f"{r['instances_per_s']:,.0f} | {r['p50_us'] / 1000:.2f} | {r['p99_us'] / 1000:.2f} | "
            f"{r['cpu_us_per_req']:.1f} | {r['req_per_cpu_s']:,.0f} | {r['failed']} |"
        )
    goals = [
        "",
        "Ratio: linreg_serve's requests per CPU-second over FastAPI's, pooled over the rounds "
        "(each round's own ratio in brackets).",
        "",
        "| goal | measured | met |",
        "|---|---|---|",
    ]
    for size in args.sizes:
        cells = []
        worst = float("inf")
        for c in args.connections:
            pick = {
                r["server"]: r for r in rows if r["instances"] == size and r["connections"] == c
            }
            ratio = (
                pick["linreg_serve"]["req_per_cpu_s"] / pick["FastAPI + uvicorn"]["req_per_cpu_s"]
            )
            worst = min(worst, ratio)
            each = ", ".join(f"{x:.0f}" for x in round_ratios(runs, size, c))
            cells.append(f"{ratio:.0f}× at {c} conn. [{each}]")
        goals.append(
            f"| ≥ 20× FastAPI's requests per CPU-second, {size} instance(s) | {'; '.join(cells)} "
            f"| {'yes' if worst >= 20 else 'NO'} |"
        )
    p99 = [
        r
        for r in rows
        if r["server"] == "linreg_serve" and r["instances"] == 1 and r["connections"] == 64
    ]
    if p99:
        met = "yes" if p99[0]["p99_us"] <= 5000 else "NO"
        goals.append(
            f"| p99 ≤ 5 ms, 64 connections, 1 instance | {p99[0]['p99_us'] / 1000:.2f} ms "
            f"(median of rounds; worst {p99[0]['p99_worst_us'] / 1000:.2f}) | {met} |"
        )
    failed = sum(r["failed"] for r in rows if r["server"] == "linreg_serve")
    goals.append(
        f"| zero failed requests (linreg_serve) | {failed} | {'yes' if failed == 0 else 'NO'} |"
    )
    versions = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(
        "\n"
    )[0]
    import fastapi
    import torch
    import uvicorn

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end; torch {torch.__version__}, "
        f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}, {versions.strip()}; "
        f"linreg_serve --threads {args.threads}; wrk -t min(c, 2), {args.duration} s per cell, "
        f"{args.rounds} rounds"
    )
    text = "\n".join(lines + goals + ["", machine, ""])
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(
        json.dumps({"machine": machine, "rows": rows, "runs": runs}, indent=1)
    )
    plot(rows, args, out / "throughput.png")
    print(text)


def plot(rows, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(args.sizes), figsize=(5 * len(args.sizes), 4))
    for ax, size in zip(axes if len(args.sizes) > 1 else [axes], args.sizes, strict=True):
        for server in ("linreg_serve", "FastAPI + uvicorn"):
            pts = [r for r in rows if r["server"] == server and r["instances"] == size]
            ax.plot(
                [r["connections"] for r in pts], [r["req_per_s"] for r in pts], "o-", label=server
            )
        ax.set(xscale="log", yscale="log", xlabel="connections", ylabel="requests/s")
        ax.set_title(f"{size} instance(s) per request")
        ax.set_xticks(args.connections, [str(c) for c in args.connections])
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("TF Serving :predict on loopback (wrk)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--fastapi-server":
        return fastapi_main(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "serve"))
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument(
        "--rounds", type=int, default=3, help="measurements of each cell for each server"
    )
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="linreg_serve --threads"
    )
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 256])
    parser.add_argument(
        "--connections", type=lambda s: [int(x) for x in s.split(",")], default=[1, 16, 64]
    )
    args = parser.parse_args()
    report(bench(args), args)


if __name__ == "__main__":
    main()
