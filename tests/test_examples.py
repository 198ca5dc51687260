"""The example programs run as a newcomer would run them."""

from __future__ import annotations

import subprocess
import sys

from conftest import EXAMPLES


def test_slow_share_example_shows_prefetching_saves_waiting() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "slow_share.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].strip().startswith("without prefetching")
    assert lines[2].strip().startswith("with prefetching")
    assert lines[3].startswith("prefetching saved")
