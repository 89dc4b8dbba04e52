"""benchmarks/compare_core.py runs end to end (short media, one round) and writes its table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_compare_core_quick(tmp_path):
    pytest.importorskip("cv2", reason="the bench extra (opencv-python-headless) is not installed")
    out = tmp_path / "core.md"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_core.py"), "--quick", "--media-dir", str(tmp_path), "--output", str(out)],
        capture_output=True, text=True, timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = out.read_text()
    assert table.count("\n| ") >= 5 and "ffmpeg" in table and "OpenCV" in table and "numpy" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    ratios = [r["ratio"] for r in raw["rows"] if r["ratio"] is not None]
    assert len(ratios) == 4 and all(r > 0 for r in ratios)
    assert raw["rows"][-1]["peak_mb"] > raw["rows"][-1]["import_mb"] > 0
