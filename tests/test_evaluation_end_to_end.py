"""The four steps together: the documented demo command, and the issue's bar on real talking-face
clips (audio median error <= 2 ms, visual <= 40 ms, with and without --degrade)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation import run_all

REAL_CLIPS = ("sadtalker_WDA_KatieHill_000.mp4", "syncnetanalysis_merkel_video_9.avi", "example.avi")


def _median_errors(results: Path) -> dict[str, float]:
    with open(results, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for method in ("audio", "visual"):
        # a run without an estimate counts as an infinite error
        errs = [float(r["absolute_error_ms"]) if r["absolute_error_ms"] else np.inf for r in rows if r["method_type"] == method]
        out[method] = float(np.median(errs))
    return out


@pytest.mark.slow
def test_run_all_demo(tmp_path: Path):
    out = tmp_path / "demo"
    assert run_all.main(["--demo", "1", "--offsets-ms=-500,700", "--output", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "## plain copies" in summary and "## degraded copies" in summary
    for cond in ("plain", "degraded"):
        med = _median_errors(out / cond / "results.csv")
        assert med["audio"] <= 2.0 and med["visual"] <= 40.0, (cond, med)
        metrics = json.loads((out / cond / "metrics.json").read_text())
        assert metrics["cases"] == 2
        assert (out / cond / "plots" / "motion_signals.png").exists()
        assert len(list((out / cond / "diagnostics").glob("*.npz"))) == 2


@pytest.mark.slow
@pytest.mark.realmedia
def test_real_talking_clips_meet_the_bar(shared_media: Path, tmp_path: Path):
    originals = tmp_path / "originals"
    originals.mkdir()
    for name in REAL_CLIPS:  # links: the real media stays where it is
        (originals / name).symlink_to(shared_media / "talking" / name)
    out = tmp_path / "talking"
    assert run_all.main(["--originals", str(originals), "--offsets-ms=-1500,700", "--output", str(out)]) == 0
    for cond in ("plain", "degraded"):
        med = _median_errors(out / cond / "results.csv")
        assert med["audio"] <= 2.0, (cond, med)
        assert med["visual"] <= 40.0, (cond, med)
