"""The benchmark harness runs end to end (--quick). Speed is judged from a full run, not here."""

import json
from pathlib import Path

from conftest import run_python

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmark_writes_its_report(tmp_path):
    out = run_python(ROOT / "bench" / "bench.py", "--quick", "--out", tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for section in ("grad", "forward", "small", "scaling", "memory", "e2e", "targets"):
        assert results[section], section
    for row in results["grad"]:
        assert row["fused_rel_error"] <= 1e-6  # the correctness check ran first
        assert {"floor", "fused", "eager", "manual", "compiled"} <= set(row["times"])
        assert all(t["median_ms"] > 0 and t["samples"] >= 7 for t in row["times"].values())
    for target in results["targets"]:
        assert isinstance(target["met"], bool) and target["measured"]
    text = (tmp_path / "results.md").read_text()
    assert "### linear_mse_grad" in text and "### Targets" in text
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "NOT MET" in out.stdout or "[met]" in out.stdout  # the targets are printed last
