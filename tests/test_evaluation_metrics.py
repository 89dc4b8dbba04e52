"""evaluation.compute_metrics against independent numpy/scipy computations on a hand-made table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu

from evaluation import compute_metrics
from evaluation.common import RESULT_COLUMNS


def _table() -> list[dict[str, object]]:
    """Five cases; audio answers all, visual misses one. Errors chosen by hand."""
    rng = np.random.default_rng(1)
    rows = []
    audio_err = [0.1, 0.5, 0.2, 1.5, 0.05]
    visual_err = [12.0, 45.0, 3.0, 250.0, None]
    visual_conf = [0.9, 0.4, 0.95, 0.3, 0.1]
    motion = ["low", "low", "medium", "high", "high"]
    sound = ["medium", "high", "medium", "low", "medium"]
    lengths = [6.0, 8.0, 12.0, 30.0, 75.0]
    for i, true in enumerate([-2000, -500, 0, 500, 2000]):
        for method, err, conf in (("audio", audio_err[i], 1.0), ("visual", visual_err[i], visual_conf[i])):
            sign = 1 if i % 2 else -1
            est = None if err is None else true + sign * err
            rows.append({
                "video_id": f"clip_{true:+d}ms", "true_offset_ms": true, "method_type": method,
                "estimated_offset_ms": "" if est is None else est, "absolute_error_ms": "" if err is None else err,
                "confidence_score": conf, "runtime_seconds": 0.1 + rng.random(), "peak_cpu_percent": 100 + 50 * rng.random(),
                "peak_memory_mb": 100 + 10 * rng.random(), "video_length_sec": lengths[i], "motion_level": motion[i],
                "audio_energy_level": sound[i]})
    return rows


@pytest.fixture()
def results_csv(tmp_path: Path) -> Path:
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        w.writerows(_table())
    return path


def test_error_statistics_match_numpy(results_csv: Path):
    m = compute_metrics.compute(compute_metrics.load_results(results_csv), frame_ms=40, tolerance_ms=100)
    vis = m["methods"]["visual"]
    e = np.array([12.0, 45.0, 3.0, 250.0])
    assert vis["runs"] == 5 and vis["answered"] == 4 and vis["answered_rate"] == pytest.approx(0.8)
    assert vis["mae_ms"] == pytest.approx(e.mean(), abs=1e-3)
    assert vis["rmse_ms"] == pytest.approx(np.sqrt(np.mean(e**2)), abs=1e-3)
    assert vis["median_ms"] == pytest.approx(np.median(e), abs=1e-3)
    assert vis["p95_ms"] == pytest.approx(np.percentile(e, 95), abs=1e-3)
    assert vis["max_ms"] == 250.0
    # over all five runs, the missing estimate counts as a failure
    assert vis["success_within_frame"] == pytest.approx(2 / 5)
    assert vis["success_within_tolerance"] == pytest.approx(3 / 5)
    aud = m["methods"]["audio"]
    assert aud["median_ms"] == pytest.approx(0.2) and aud["success_within_frame"] == 1.0
    assert aud["auc_success_vs_failure"] is None  # every run succeeded: nothing to tell apart
    assert m["cases"] == 5


def test_confidence_auc_matches_mann_whitney(results_csv: Path):
    m = compute_metrics.compute(compute_metrics.load_results(results_csv), frame_ms=40, tolerance_ms=100)
    conf = np.array([0.9, 0.4, 0.95, 0.3, 0.1])
    success = np.array([True, False, True, False, False])
    u = mannwhitneyu(conf[success], conf[~success]).statistic
    assert m["methods"]["visual"]["auc_success_vs_failure"] == pytest.approx(u / (success.sum() * (~success).sum()))
    bands = {b["band"]: b for b in m["methods"]["visual"]["by_band"]}
    assert bands["0.8-1.0"]["runs"] == 2 and bands["0.8-1.0"]["success_within_frame"] == 1.0
    assert bands["0.2-0.5"]["runs"] == 2 and bands["0.2-0.5"]["success_within_frame"] == 0.0
    assert m["methods"]["visual"]["mean_confidence"] == pytest.approx(conf.mean())


def test_breakdowns_and_agreement(results_csv: Path):
    m = compute_metrics.compute(compute_metrics.load_results(results_csv), frame_ms=40, tolerance_ms=100)
    by_motion = m["methods"]["visual"]["breakdown"]["motion_level"]
    assert list(by_motion) == ["low", "medium", "high"]
    assert by_motion["low"]["runs"] == 2 and by_motion["low"]["median_ms"] == pytest.approx(28.5)
    assert by_motion["high"]["answered"] == 1
    assert list(m["methods"]["audio"]["breakdown"]["length"]) == ["<10s", "10-60s", ">=60s"]
    ag = m["agreement"]
    table = pd.DataFrame(_table())
    est = table.pivot(index="video_id", columns="method_type", values="estimated_offset_ms").replace("", np.nan).astype(float)
    diff = (est["audio"] - est["visual"]).dropna()
    assert ag["cases"] == 4
    assert ag["median_abs_audio_video_diff_ms"] == pytest.approx(np.median(np.abs(diff)), abs=1e-3)
    assert ag["agree_within_frame"] == pytest.approx(np.mean(np.abs(diff) <= 40))


def test_cli_writes_json_and_markdown(results_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "m"
    assert compute_metrics.main(["--results", str(results_csv), "--output", str(out), "--tolerance-ms", "50"]) == 0
    data = json.loads((out / "metrics.json").read_text())
    assert data["tolerance_ms"] == 50 and set(data["methods"]) == {"audio", "visual"}
    md = (out / "metrics.md").read_text()
    assert "| method | runs | answered | median |" in md and "within 50 ms" in md
    assert "| visual | 5 | 80 % | 28.5 |" in md
    assert "### By motion level" in md and "audio_video_diff" in md
    assert "| visual |" in capsys.readouterr().out


def test_bad_results_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert compute_metrics.main(["--results", str(bad), "--output", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("compute_metrics: error: ") and "missing columns" in err and err.count("\n") == 1
    assert compute_metrics.main(["--results", str(tmp_path / "none.csv"), "--output", str(tmp_path)]) == 1
    assert "no such results file" in capsys.readouterr().err
