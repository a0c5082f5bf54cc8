"""benchmarks/run.py end to end at a toy size: every variant runs and a ratio is printed."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def test_benchmark_prints_every_variant_with_a_ratio(data_dir):
    cmd = [sys.executable, str(REPO / "benchmarks" / "run.py"), "--data-dir", str(data_dir)]
    cmd += ["--presets", "seed-c", "--iters", "3", "--rounds", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO).stdout
    rows = re.findall(r"^seed-c\s+(.+?)\s+([\d,]+)\s+(\d+\.\d\d)x$", out, flags=re.M)
    assert [label for label, _, _ in rows] == [
        "seeds recipe",
        "rnnlab",
        "rnnlab, glibc malloc",
        "seeds + rnnlab malloc",
    ]
    assert rows[0][2] == "1.00"
    assert all(int(sps.replace(",", "")) > 0 for _, sps, _ in rows)
