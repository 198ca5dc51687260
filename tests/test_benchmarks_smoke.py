"""The benchmark harness runs end to end with tiny settings and writes valid results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
PATTERNS = ["forward", "backward", "viewer", "random"]
# torch is left out: importing it and forking its workers alone would take most of the budget.
CONTENDERS = ["plain", "seed1", "seed2", "seed3", "seqtools", "ahead1", "aheadN", "auto"]


def test_quick_run_checks_every_item_and_writes_json_and_chart(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    chart = tmp_path / "chart.png"
    command = [
        sys.executable,
        str(RUN),
        "--quick",
        "--items=12",
        "--latency=0.002",
        "--transfer=0.0005",
        "--work=0.001",
        "--contenders=" + ",".join(CONTENDERS),
        f"--output={output}",
        f"--chart={chart}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stdout + done.stderr

    document = json.loads(output.read_text())
    pairs = {(r["pattern"], r["contender"]): r for r in document["results"]}
    assert set(pairs) == {(p, c) for p in PATTERNS for c in CONTENDERS}
    for (pattern, contender), result in pairs.items():
        # "failed" would mean a wrong item, a short count or an exception in the contender.
        assert result["status"] == "ok", (pattern, contender, result["note"])
        assert result["requests"] == 12
        assert result["median_seconds"] > 0
        if pattern == "forward":  # every item requested once: each one was read at least once
            assert result["median_reads"] >= 12
    assert document["micro"]["get_hit_ns"] > 0
    assert chart.read_bytes().startswith(b"\x89PNG")
