"""linreg_serve (cpp_app/serve/), TensorFlow Serving's REST API in C++, end to end on loopback.

Every endpoint and error status; predictions equal linreg_predict's text for every request
shape; concurrent clients; a version swap under load; a broken version left unserved; SIGTERM
drains; oversized bodies; stalled clients; and a bounded fuzz run of the parsers. The binaries are
built by CMake (build/cmake/linreg_serve, linreg_serve_fuzz, linreg_predict); LINREG_SERVE,
LINREG_SERVE_FUZZ and LINREG_PREDICT override the paths, and a test whose program is not built
is skipped unless its variable is set (conftest.require_built). Every loop is bounded in count and
time, and every server started here is stopped (SIGKILL if need be) in the fixture's teardown.
"""

import http.client
import json
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import cpp_program, require_built
from pt2_fixtures import linreg_metadata

from linreg_ext import LinearRegression, torchscript

ROOT = Path(__file__).resolve().parents[1]
SERVE = cpp_program("LINREG_SERVE", "linreg_serve")
FUZZ = cpp_program("LINREG_SERVE_FUZZ", "linreg_serve_fuzz")
PREDICT = cpp_program("LINREG_PREDICT", "linreg_predict")
START_TIMEOUT = 120  # seconds until the address line; loading torch on a busy 2-core CI is slow
ENV_VARS = {SERVE: "LINREG_SERVE", FUZZ: "LINREG_SERVE_FUZZ", PREDICT: "LINREG_PREDICT"}


def need(path):
    """Skips when the program is not built, unless its variable names it (conftest's rule)."""
    return require_built(path, ENV_VARS[path])


def export(path, D, weight, bias, dtype=torch.float32, names=None):
    model = LinearRegression(D, dtype=dtype)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weight, dtype=dtype).reshape(model.weight.shape))
        model.bias.fill_(bias)
    metadata = linreg_metadata(model)
    if names:
        metadata["feature_names"] = names
    path.parent.mkdir(parents=True, exist_ok=True)
    torchscript.save(torchscript.script(model.eval()), path, metadata)
    return path


def publish(base, version, **model):
    """Writes a version folder the way TF Serving expects: complete, then renamed into place."""
    staging = base / f".staging-{version}"
    export(staging / "model.pt", **model)
    staging.rename(base / str(version))


class Server:
    def __init__(self, *args):
        self.log = tempfile.TemporaryFile("w+")  # stderr: a pipe nobody reads could fill up
        self.proc = subprocess.Popen(
            [str(need(SERVE)), "--port", "0", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        match = re.fullmatch(r"listening on http://(127\.0\.0\.1):(\d+)\n", line)
        if not match:
            self.kill()
            pytest.fail(f"linreg_serve did not start: {line!r}; stderr: {self.stderr()}")
        self.addr = (match[1], int(match[2]))

    def stderr(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self.log.close()


@pytest.fixture
def start():
    """start(*args) -> a running Server; all of them are killed at teardown."""
    servers = []

    def _start(*args):
        servers.append(Server(*args))
        return servers[-1]

    yield _start
    for server in servers:
        server.kill()


def call(addr, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def numbers(body):
    """The prediction texts of a :predict response, exactly as the server wrote them."""
    match = re.fullmatch(r'\{"(?:predictions|outputs)": \[(.*)\]\}', body)
    assert match, body
    return match[1].split(", ")


ONE = dict(D=1, weight=[3.5], bias=7.75, names=["x"])  # f(4) = 21.75
WIDE = dict(D=3, weight=[1.5, -2.25, 1e-3], bias=-0.5, dtype=torch.float64, names=["a", "b", "c"])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    base = root / "base"
    base.mkdir()
    publish(base, 1, **ONE)
    wide = export(root / "wide.pt", **WIDE)
    return base, wide


@pytest.fixture(scope="module")
def server(models):
    s = Server("--model_base_path", models[0], "--max_body_bytes", 65536, "--threads", 2)
    yield s
    s.kill()


@pytest.fixture(scope="module")
def wide_server(models):
    s = Server("--model", models[1], "--model_name", "wide", "--threads", 2)
    yield s
    s.kill()


P = "/v1/models/linreg"
ERRORS = [
    # (method, path, body, status, message pattern)
    ("GET", "/v1/models/other", None, 404, "model 'other' is not served here.*'linreg'"),
    ("GET", f"{P}/versions/9", None, 404, "version 9 of model 'linreg' is not found"),
    ("POST", f"{P}/versions/9:predict", {"instances": [1]}, 404, "version 9 .* not found.*: 1"),
    ("GET", f"{P}/versions/x", None, 404, "no endpoint at"),
    ("GET", "/v2/models", None, 404, "no endpoint at '/v2/models': expected /v1/models/NAME"),
    ("POST", f"{P}:classify", {}, 404, "unknown verb ':classify'"),
    ("GET", f"{P}:predict", None, 405, "method GET is not allowed here; use POST"),
    ("POST", P, "{}", 405, "method POST is not allowed here; use GET"),
    ("POST", f"{P}:predict", "{", 400, "malformed JSON"),
    ("POST", f"{P}:predict", "[1]", 400, "expected a JSON object .* got a list"),
    ("POST", f"{P}:predict", {"x": 1}, 400, "unknown key 'x'"),
    ("POST", f"{P}:predict", {}, 400, r'expected "instances" \(row format\) or "inputs"'),
    ("POST", f"{P}:predict", {"instances": [], "inputs": []}, 400, "not both"),
    ("POST", f"{P}:predict", {"instances": 4}, 400, "instances: expected a list of instances"),
    ("POST", f"{P}:predict", {"instances": []}, 400, "at least one instance, got an empty list"),
    ("POST", f"{P}:predict", {"instances": [[1, 2]]}, 400, r"instances\[0\]: expected 1 numbers"),
    (
        "POST",
        f"{P}:predict",
        {"instances": [1, "2"]},
        400,
        r"\[1\]: expected an instance \(a number, .*a str",
    ),
    (
        "POST",
        f"{P}:predict",
        {"instances": [[True]]},
        400,
        r"\[0\]\[0\]: expected a number, got a bool",
    ),
    ("POST", f"{P}:predict", '{"instances": [1e400]}', 400, "expected a finite number"),
    ("POST", f"{P}:predict", '{"instances": [NaN]}', 400, "malformed JSON"),
    ("POST", f"{P}:predict", {"instances": [3.5e38]}, 400, "3.5e\\+38 overflows float32"),
    ("POST", f"{P}:predict", {"instances": [{"z": 1}]}, 400, "unknown feature 'z'.* are x$"),
    ("POST", f"{P}:predict", {"instances": [{}]}, 400, r"instances\[0\]: missing feature 'x'"),
    ("POST", f"{P}:predict", {"inputs": {"x": 1}}, 400, "inputs.x: expected a list of numbers"),
    ("POST", f"{P}:predict", {"instances": [1], "signature_name": "s"}, 400, "serving_default"),
    ("POST", f"{P}:predict", {"instances": [1e38]}, 400, "the prediction is inf"),
    ("POST", f"{P}:predict", "x" * 70000, 413, r"over --max_body_bytes \(65536 bytes\)"),
]


@pytest.mark.parametrize("method,path,body,status,message", ERRORS)
def test_errors_name_what_was_expected(server, method, path, body, status, message):
    got, headers, text = call(server.addr, method, path, body)
    assert got == status, text
    assert headers["Content-Type"] == "application/json"
    assert re.search(message, json.loads(text)["error"]), text
    if status == 405:
        assert headers["Allow"] == ("POST" if method == "GET" else "GET")


def test_status_metadata_and_metrics(server):
    status, _, text = call(server.addr, "GET", P)
    assert status == 200
    assert json.loads(text) == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert call(server.addr, "GET", f"{P}/versions/1")[2] == text
    status, _, text = call(server.addr, "GET", f"{P}/versions/1/metadata")
    meta = json.loads(text)
    assert status == 200 and meta["model_spec"] == {
        "name": "linreg",
        "signature_name": "",
        "version": "1",
    }
    assert meta["metadata"]["input_signature"] == {
        "in_features": 1,
        "feature_names": ["x"],
        "dtype": "float32",
    }
    assert meta["metadata"]["linreg_ext"]["in_features"] == 1
    assert "serving_default" in meta["metadata"]["signature_def"]["signature_def"]
    assert call(server.addr, "GET", f"{P}/metadata")[2] == text
    body = {"instances": [4.0, 1.0], "signature_name": "serving_default"}
    assert call(server.addr, "POST", f"{P}:predict", body)[2] == '{"predictions": [21.75, 11.25]}'
    status, headers, text = call(server.addr, "GET", "/monitoring/prometheus/metrics?x=1")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert re.search(r'^linreg_serve_requests_total\{code="200"\} [1-9]', text, re.M)
    assert re.search(r'^linreg_serve_instances_total\{model="linreg"\} [1-9]', text, re.M)
    assert re.search(r"^linreg_serve_request_duration_seconds_count [1-9]", text, re.M)
    assert 'linreg_serve_model_version{model="linreg"} 1\n' in text


def test_pt2_version_predicts_like_the_pt(start, tmp_path, tutorial):
    """The same model as model.pt (version 1) and model.pt2 (version 2): the same text."""
    for version, path in ((1, tutorial.pt), (2, tutorial.pt2)):
        (tmp_path / str(version)).mkdir()
        shutil.copy(path, tmp_path / str(version) / f"model{path.suffix}")
    s = start("--model_base_path", tmp_path, "--file_system_poll_wait_seconds", 0)
    body = {"instances": [4.0, -1.5, 1e-30, 3.0e7]}
    answers = [call(s.addr, "POST", f"{P}/versions/{v}:predict", body) for v in (1, 2)]
    assert [a[0] for a in answers] == [200, 200], answers
    assert answers[0][2] == answers[1][2]
    expected = linreg_predict(tutorial.pt2, "4.0", "-1.5", "1e-30", "3.0e7")
    assert json.loads(answers[1][2])["predictions"] == [float(v) for v in expected]
    assert answers[1][2] == '{"predictions": [' + ", ".join(expected) + "]}"


def test_no_version_yet_is_503(start, tmp_path):
    s = start("--model_base_path", tmp_path, "--file_system_poll_wait_seconds", 0)
    status, _, text = call(s.addr, "POST", f"{P}:predict", {"instances": [1]})
    assert status == 503 and "has no loaded version yet" in text
    assert call(s.addr, "GET", P)[0] == 503
    assert call(s.addr, "GET", "/monitoring/prometheus/metrics")[0] == 200


def linreg_predict(*args, stdin=None):
    out = subprocess.run(
        [str(need(PREDICT)), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_one_feature_predictions_equal_linreg_predict(server, models):
    g = random.Random(3)
    values = [g.uniform(-1, 1) * 10.0 ** g.randint(-20, 20) for _ in range(200)]
    values += [0.0, -0.0, 4.0, 1e-45, 2.0**24 + 1, 123456789.0, 3.4e38 / 3.5]
    expected = linreg_predict(models[0] / "1" / "model.pt", *map(repr, values))
    for body in (
        {"instances": values},
        {"instances": [[v] for v in values]},
        {"instances": [{"x": v} for v in values]},
        {"inputs": values},
        {"inputs": {"x": values}},
    ):
        status, _, text = call(server.addr, "POST", f"{P}:predict", body)
        assert status == 200, text
        assert numbers(text) == expected, next(iter(body))
        assert text.startswith('{"outputs"' if "inputs" in body else '{"predictions"')


def test_multi_feature_predictions_equal_linreg_predict(wide_server, models):
    g = random.Random(4)
    rows = [[g.gauss(0, 1) * 10.0 ** g.randint(-5, 5) for _ in range(3)] for _ in range(300)]
    csv = "a,b,c\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows)
    expected = linreg_predict(models[1], "--csv", "-", stdin=csv)
    path = "/v1/models/wide/versions/1:predict"
    for body in (
        {"instances": rows},
        {"instances": [dict(zip("cab", (r[2], r[0], r[1]), strict=True)) for r in rows]},
        {"inputs": rows},
        {"inputs": {name: [r[j] for r in rows] for j, name in enumerate("abc")}},
    ):
        status, _, text = call(wide_server.addr, "POST", path, body)
        assert status == 200, text
        assert numbers(text) == expected
    status, _, text = call(wide_server.addr, "POST", path, {"instances": [4.0]})
    assert status == 400 and "this model takes 3 features (a, b, c)" in text
    status, _, text = call(wide_server.addr, "POST", path, {"inputs": {"a": [1], "b": [1, 2]}})
    assert status == 400 and "inputs.b: expected 1 values" in text


def hammer(addr, bodies, threads, per_thread, seconds, stop=None):
    """threads keep-alive clients, each sending up to per_thread requests (and at most `seconds`);
    returns [(status, text)] in order per thread, and the exceptions raised."""
    results, errors = [[] for _ in range(threads)], []
    deadline = time.monotonic() + seconds

    def client(i):
        conn = http.client.HTTPConnection(*addr, timeout=10)
        try:
            for k in range(per_thread):
                if time.monotonic() > deadline or (stop is not None and stop.is_set()):
                    break
                conn.request("POST", f"{P}:predict", body=bodies[(i + k) % len(bodies)])
                response = conn.getresponse()
                results[i].append((response.status, response.read().decode()))
        except Exception as exc:  # counted as a failure below
            errors.append(exc)
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(seconds + 30)
    return results, errors


def assert_all_answered(results, errors, bodies, expected, total):
    """hammer's results: no client failed, `total` answers, each 200 with its body's text."""
    assert not errors
    assert sum(map(len, results)) == total
    for i, per_thread in enumerate(results):
        for k, (status, text) in enumerate(per_thread):
            assert status == 200 and text == expected[bodies[(i + k) % len(bodies)]]


def test_concurrent_clients(server):
    bodies = [json.dumps({"instances": [float(k)]}) for k in range(8)]
    expected = {b: f'{{"predictions": [{3.5 * k + 7.75!r}]}}' for k, b in enumerate(bodies)}
    results, errors = hammer(server.addr, bodies, threads=32, per_thread=200, seconds=60)
    assert_all_answered(results, errors, bodies, expected, 32 * 200)


def test_version_swap_under_load_and_broken_version(start, tmp_path):
    publish(tmp_path, 1, **ONE)
    s = start("--model_base_path", tmp_path, "--file_system_poll_wait_seconds", 0.2)
    body = json.dumps({"instances": [4.0]})
    v1, v2 = '{"predictions": [21.75]}', '{"predictions": [-4]}'  # v2: f(x) = -x
    stop = threading.Event()
    load = []
    worker = threading.Thread(
        target=lambda: load.append(hammer(s.addr, [body], 16, 100000, 30, stop))
    )
    worker.start()
    try:
        time.sleep(0.5)
        publish(tmp_path, 2, D=1, weight=[-1.0], bias=0.0)
        deadline = time.monotonic() + 30
        while '"version": "2", "state": "AVAILABLE"' not in call(s.addr, "GET", P)[2]:
            assert time.monotonic() < deadline, s.stderr()
            time.sleep(0.05)
        assert call(s.addr, "POST", f"{P}:predict", body)[2] == v2  # visible at once
        time.sleep(0.3)
    finally:
        stop.set()
        worker.join(60)
    results, errors = load[0]
    assert not errors
    texts = [text for per_thread in results for status, text in per_thread if status == 200]
    assert len(texts) == sum(map(len, results)) > 100  # zero failures
    assert set(texts) == {v1, v2}
    for per_thread in results:  # per client, never back to v1 once v2 answered
        seen = [text for _, text in per_thread]
        if v2 in seen:
            assert v1 not in seen[seen.index(v2) :]
    # v1 stays reachable by version; a broken v3 is reported and never served
    assert call(s.addr, "POST", f"{P}/versions/1:predict", body)[2] == v1
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "model.pt").write_bytes(b"not a model")
    deadline = time.monotonic() + 30
    while '"version": "3"' not in call(s.addr, "GET", P)[2]:
        assert time.monotonic() < deadline, s.stderr()
        time.sleep(0.05)
    status, _, text = call(s.addr, "GET", f"{P}/versions/3")
    state = json.loads(text)["model_version_status"][0]
    assert status == 200 and state["state"] == "END" and state["status"]["error_code"] != "OK"
    assert "cannot load" in state["status"]["error_message"]
    assert call(s.addr, "POST", f"{P}:predict", body)[2] == v2
    status, _, text = call(s.addr, "POST", f"{P}/versions/3:predict", body)
    assert status == 404 and "is not loaded: " in text
    metrics = call(s.addr, "GET", "/monitoring/prometheus/metrics")[2]
    assert 'linreg_serve_model_version_loaded{model="linreg",version="3"} 0' in metrics
    assert 'linreg_serve_model_version{model="linreg"} 2' in metrics
    assert "version 3 of 'linreg' is not served" in s.stderr()


def send_headers(addr, length):
    sock = socket.create_connection(addr, timeout=10)
    sock.sendall(
        f"POST {P}:predict HTTP/1.1\r\nHost: t\r\nContent-Length: {length}\r\n\r\n".encode()
    )
    return sock


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def test_sigterm_drains_in_flight_requests(start, models):
    s = start("--model", models[0] / "1" / "model.pt")
    body = b'{"instances": [4.0]}'
    idle = socket.create_connection(s.addr, timeout=10)  # an idle keep-alive must not delay exit
    sock = send_headers(s.addr, len(body))
    sock.sendall(body[:5])
    time.sleep(0.3)  # the server has the header: the request is in flight
    s.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(OSError):  # no longer accepting
        socket.create_connection(s.addr, timeout=2).close()
    assert s.proc.poll() is None  # still finishing the request
    sock.sendall(body[5:])
    response = read_response(sock)
    assert response.startswith("HTTP/1.1 200") and "Connection: close" in response
    assert response.endswith('{"predictions": [21.75]}')
    assert s.proc.wait(15) == 0
    assert "SIGTERM" in s.stderr()
    idle.close()
    sock.close()


def test_drain_is_bounded(start, models):
    s = start("--model", models[0] / "1" / "model.pt", "--drain_timeout_seconds", 0.5)
    sock = send_headers(s.addr, 100)  # a body that never comes
    time.sleep(0.3)
    began = time.monotonic()
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(15) == 0
    assert time.monotonic() - began < 5
    assert "drain timed out with 1 requests in flight" in s.stderr()
    sock.close()


def test_stalled_clients_do_not_block_others(start, models):
    s = start(
        "--model",
        models[0] / "1" / "model.pt",
        "--threads",
        1,
        "--header_timeout_seconds",
        1,
        "--read_timeout_seconds",
        1,
    )
    stalled = [socket.create_connection(s.addr, timeout=10) for _ in range(4)]
    for sock in stalled[:2]:
        sock.sendall(f"POST {P}:predict HTTP/1.1\r\nContent-Le".encode())  # half a header
    stalled.append(send_headers(s.addr, 100))  # a header and no body
    began = time.monotonic()
    for _ in range(20):
        assert call(s.addr, "POST", f"{P}:predict", {"instances": [4.0]}, timeout=2)[0] == 200
    assert time.monotonic() - began < 1  # one server thread, yet nobody waited for the stalled
    time.sleep(1.5)
    for sock in stalled:  # each closed by its timeout
        sock.settimeout(5)
        assert sock.recv(100) == b""
        sock.close()


def test_oversized_bodies(start, models):
    s = start("--model", models[0] / "1" / "model.pt", "--max_body_bytes", 1000)
    big = json.dumps({"instances": [1.0] * 400})
    status, headers, text = call(s.addr, "POST", f"{P}:predict", big)
    assert status == 413 and "over --max_body_bytes (1000 bytes)" in text
    assert headers["Connection"] == "close"
    # chunked, so the size is only known while reading
    conn = http.client.HTTPConnection(*s.addr, timeout=10)
    conn.request("POST", f"{P}:predict", body=iter([big[:600].encode(), big[600:].encode()]))
    assert conn.getresponse().status == 413
    conn.close()
    assert call(s.addr, "POST", f"{P}:predict", {"instances": [4.0]})[0] == 200


def test_fuzz_request_parsers():
    out = subprocess.run(
        [str(need(FUZZ)), "--iterations", "50000", "--seconds", "60", "--seed", "13"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert "no failures" in out.stdout
    # The fast parse answered often enough for its comparison with the general one to mean much.
    fast = int(re.search(r"(\d+) of them by the fast parse too", out.stdout)[1])
    assert fast >= 500, out.stdout


def test_fuzz_over_http(server):
    """Mutated bodies and raw bytes at a running server: only 200/4xx answers, and it stays up."""
    g = random.Random(13)
    seeds = [b'{"instances": [4.0, [1], {"x": 2}]}', b'{"inputs": {"x": [1, 2]}}']
    deadline = time.monotonic() + 30
    conn = http.client.HTTPConnection(*server.addr, timeout=10)
    sent = 0
    while sent < 2000 and time.monotonic() < deadline:
        sent += 1
        body = bytearray(g.choice(seeds))
        for _ in range(g.randint(1, 4)):
            body[g.randrange(len(body))] = g.randrange(256)
        conn.request("POST", f"{P}:predict", body=bytes(body))
        response = conn.getresponse()
        response.read()
        assert response.status in (200, 400), bytes(body)
    conn.close()
    for _ in range(200):  # raw garbage and broken request lines: an answer or a close, no crash
        with socket.create_connection(server.addr, timeout=10) as sock:
            junk = bytes(g.randrange(256) for _ in range(g.randint(1, 300)))
            sock.sendall(g.choice([b"", b"GET / HTTP/1.1\r\n", b"POST"]) + junk + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            reply = sock.recv(4096)
            assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply
    assert sent > 500
    assert call(server.addr, "GET", P)[0] == 200
    assert server.proc.poll() is None


@pytest.mark.parametrize(
    "args,code,message",
    [
        ([], 2, "no model given"),
        (["--model", "a", "--model_base_path", "b"], 2, "not both"),
        (["--model", "a", "--port", "70000"], 2, "--port must be a number from 0 to 65535"),
        (["--model", "a", "--fast", "1"], 2, "unknown option --fast"),
        (["--model", "a", "--model_name", "a b"], 2, "--model_name must be"),
        (["--model", "/nonexistent.pt"], 1, "--model: '/nonexistent.pt' is not a file"),
        (["--model_base_path", "/nonexistent"], 1, "'/nonexistent' is not a directory"),
        (["--model", "a", "--device", "tpu"], 2, "--device must be cpu or cuda, got 'tpu'"),
        (["--model", "x", "--host", "nowhere"], 1, "--host: 'nowhere' is not an IP address"),
    ],
)
def test_command_line_errors(args, code, message, models, tmp_path):
    args = [str(models[1]) if a == "x" else a for a in args]
    out = subprocess.run([str(need(SERVE)), *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == code, out.stderr
    assert out.stderr.startswith("linreg_serve: ") and message in out.stderr.splitlines()[0]
    assert out.stdout == ""


def test_port_in_use_is_one_line(server, models):
    out = subprocess.run(
        [str(need(SERVE)), "--model", str(models[1]), "--port", str(server.addr[1])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1].startswith(
        f"linreg_serve: cannot listen on 127.0.0.1:{server.addr[1]}"
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
def test_cuda_requested_without_cuda(models):
    out = subprocess.run(
        [str(need(SERVE)), "--model", str(models[1]), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "CUDA is not available" in out.stderr


@pytest.mark.cuda
def test_cuda_device_serves_the_same_text(start, models):
    cpu = start("--model", models[1], "--model_name", "wide")
    cuda = start("--model", models[1], "--model_name", "wide", "--device", "cuda")
    body = {"instances": [[float(i), -2.5 * i, 1e3 / (i + 1)] for i in range(300)]}
    path = "/v1/models/wide:predict"
    assert call(cuda.addr, "POST", path, body) == call(cpu.addr, "POST", path, body)


@pytest.mark.cuda
def test_cuda_device_under_concurrent_load(start, models):
    """16 keep-alive clients x 100 requests on a CUDA server: no failure, every answer exact."""
    s = start("--model_base_path", models[0], "--device", "cuda", "--threads", 4)
    bodies = [json.dumps({"instances": [float(k), 0.5 * k]}) for k in range(8)]

    def shown(x):  # f(x) as linreg_serve prints it: shortest round trip, integers without ".0"
        return repr(3.5 * x + 7.75).removesuffix(".0")

    expected = {
        b: f'{{"predictions": [{shown(k)}, {shown(0.5 * k)}]}}' for k, b in enumerate(bodies)
    }
    results, errors = hammer(s.addr, bodies, threads=16, per_thread=100, seconds=60)
    assert_all_answered(results, errors, bodies, expected, 16 * 100)


@pytest.mark.skipif(not shutil.which("wrk"), reason="needs wrk (apt-get install wrk)")
def test_benchmark_harness_runs(tmp_path):
    """bench/bench_serve.py end to end on tiny settings; speed is judged from a full run."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    need(SERVE)
    out = subprocess.run(
        [sys.executable, ROOT / "bench" / "bench_serve.py", "--out", tmp_path]
        + ["--duration", "1", "--connections", "2", "--sizes", "1,3", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parent,  # the installed linreg_ext, as conftest.run_python does
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert len(rows) == 4 and all(r["requests"] > 0 and r["failed"] == 0 for r in rows)
    assert "req per CPU-s" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
