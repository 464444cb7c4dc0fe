"""bench/sweep_d.py runs end to end (--quick). Speed is judged from a full run, not here."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_sweep_writes_its_report(tmp_path):
    out = subprocess.run(
        [sys.executable, ROOT / "bench" / "sweep_d.py", "--quick", "--out", tmp_path],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "correctness gate passed" in out.stdout
    results = json.loads((tmp_path / "sweep.json").read_text())
    assert {g["dtype"] for g in results["gate"]} == {"float32", "float64"}
    rows = results["sweep"]
    assert {(r["dtype"], r["threads"]) for r in rows} >= {("float32", 1), ("float64", 1)}
    for r in rows:
        assert r["grad_ratio"] > 0 and r["fwd_ratio"] > 0 and r["loop"]
        assert r["threads"] != 1 or r["ceiling_grad_ns_per_row"] >= 0
    assert "Targets" in (tmp_path / "sweep.md").read_text()
    assert (tmp_path / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
