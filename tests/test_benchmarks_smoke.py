"""The benchmark harnesses run end to end with tiny settings and write valid results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import servers

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
        f"--waits-chart={tmp_path / 'waits.png'}",
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
        # The peak comes from one more run, untimed: tracing would slow the timed ones.
        assert all(run["peak_bytes"] is None for run in result["runs"])
        assert result["peak_bytes"] > 0
    assert document["micro"]["get_hit_ns"] > 0
    assert chart.read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "waits.png").read_bytes().startswith(b"\x89PNG")
    assert len(pairs[("viewer", "plain")]["runs"][0]["waits"]) == 12  # one wait per request
    assert document["workload"]["online_bound"]["viewer"] > document["workload"]["bare_load"]


def test_quick_scale_run_measures_every_part_and_writes_json(tmp_path: Path) -> None:
    output = tmp_path / "scale.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "scale.py"),
        "--quick",
        f"--output={output}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stdout + done.stderr

    document = json.loads(output.read_text())
    overhead = document["overhead"]
    assert set(overhead["us_per_item"]) == {"bare_window", "bare_window_16", "ahead=4", "auto"}
    assert overhead["deepest_window"]["ahead=4"] == 4
    assert 1 <= overhead["deepest_window"]["auto"] <= 16
    for size, hit in document["hits"].items():
        # Every timed get was a hit on a filled cache, or the figure measured something else.
        assert (hit["misses"], hit["cached"]) == (0, int(size))
    assert document["long"]["reads"] == document["long"]["items"]  # the bare window's not counted
    assert document["long"]["bare_window_x_bound"] > 0.9  # each item's work is a sleep
    # The work is calibrated to last what the bound counts, where a plain sleep returns late.
    work = document["long"]["work"]
    assert document["long"]["plain_sleep_s"] >= work
    assert 0.75 * work < document["long"]["work_alone_s"] < 1.25 * work
    assert all(document["depth"][cap]["reads"] >= 100 for cap in ("4", "16"))


@pytest.mark.slow
@pytest.mark.timeout(240)  # a dozen child processes, each logging on to smbd, on a busy machine
def test_quick_real_share_run_counts_every_frame_opened_at_the_proxy(tmp_path: Path) -> None:
    reason = servers.smbd_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    pytest.importorskip("smbclient", reason="the remote extra: pip install '.[remote]'")
    output = tmp_path / "real-share.json"
    chart = tmp_path / "real-share.png"
    contenders = ["plain", "seed3", "seqtools", "aheadN", "auto"]
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "real_share.py"),
        "--quick",
        "--patterns=forward,viewer",
        "--contenders=" + ",".join(contenders),
        f"--output={output}",
        f"--chart={chart}",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout + done.stderr

    document = json.loads(output.read_text())
    frames = document["workload"]["items"]
    pairs = {(r["pattern"], r["contender"]): r for r in document["results"]}
    assert set(pairs) == {(p, c) for p in ("forward", "viewer") for c in contenders}
    for (pattern, contender), result in pairs.items():
        assert result["status"] == "ok", (pattern, contender, result["note"])
        assert result["runs"][0]["peak_bytes"] > result["runs"][0]["rss_before"] > 0
        if pattern == "forward":  # every frame requested once: each was opened at least once
            assert result["median_reads"] >= frames, contender
    # The plain loop opens exactly the frame it is asked for, once: the proxy saw every open.
    assert pairs[("viewer", "plain")]["median_reads"] == frames
    assert [len(document["jumps"][name]) for name in ("aheadN", "auto")] == [1, 1]
    assert 0 < document["workload"]["decode"] < document["workload"]["bare_load"]
    assert chart.read_bytes().startswith(b"\x89PNG")
