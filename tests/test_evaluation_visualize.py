"""evaluation.visualize_results: every plot is written as a PNG; matplotlib stays out of the other steps."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avsync.media.video import MotionSignal
from evaluation import visualize_results
from evaluation.common import RESULT_COLUMNS
from evaluation.diagnostics import aligned_correlation, write_case_npz

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _signal(times: np.ndarray, energy: np.ndarray) -> MotionSignal:
    return MotionSignal(times_s=times, energy=energy.astype(np.float32), mean_luma=np.full(times.size, 100, np.float32),
                        fps=25.0, frames=times.size + 1, source_size=(160, 90), grid_size=(160, 90))


def _bursts(t: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = np.full(t.size, 0.3)
    for c in rng.uniform(0, 10, 14):
        e += 4 * np.exp(-0.5 * ((t - c) / 0.08) ** 2)
    return e


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    diag = tmp_path / "diag"
    diag.mkdir()
    t = np.arange(250) / 25 + 0.02
    world = _bursts(t, 3)
    rows = []
    for k, true_ms in enumerate((-500, 700)):
        shift = true_ms / 1000
        copy_t = np.arange(int((10 + shift) * 25)) / 25 + 0.02
        copy_e = np.interp(copy_t - shift, t, world, left=0.0, right=0.0)
        write_case_npz(diag / f"case{k}.npz", _signal(t, world), _signal(copy_t, copy_e), -shift, -shift + 0.004, -shift)
        for method, err in (("audio", 0.1), ("visual", 4.0 if k else None)):
            rows.append({"video_id": f"case{k}", "true_offset_ms": true_ms, "method_type": method,
                         "estimated_offset_ms": "" if err is None else true_ms + err, "absolute_error_ms": "" if err is None else err,
                         "confidence_score": 0.9, "runtime_seconds": 0.2, "peak_cpu_percent": 120.0, "peak_memory_mb": 150.0,
                         "video_length_sec": 10 + shift, "motion_level": "low" if k else "high", "audio_energy_level": "medium"})
    results = tmp_path / "results.csv"
    with open(results, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return results, diag


def test_every_plot_is_a_png(inputs: tuple[Path, Path], tmp_path: Path):
    results, diag = inputs
    out = tmp_path / "plots"
    assert visualize_results.main(["--results", str(results), "--diagnostics-dir", str(diag), "--output", str(out)]) == 0
    names = ["error_distribution", "estimated_vs_true", "error_vs_content", "runtime_memory", "confidence_vs_error", "motion_signals"]
    for name in names:
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name


def test_diagnostics_correlation_peaks_at_the_true_offset(inputs: tuple[Path, Path]):
    _, diag = inputs
    d = np.load(diag / "case1.npz")
    assert float(d["ncc_true"]) > 0.95 > float(d["ncc_before"])
    rate = float(d["grid_rate"])
    args = (d["original_grid"], float(d["original_grid_t0"]), d["copy_grid"], float(d["copy_grid_t0"]), rate)
    assert aligned_correlation(*args, float(d["true_offset_s"])) > aligned_correlation(*args, float(d["true_offset_s"]) + 0.1)
    assert np.isnan(aligned_correlation(*args, float("nan")))


def test_missing_diagnostics_still_draw_the_rest(inputs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    results, _ = inputs
    out = tmp_path / "p2"
    assert visualize_results.main(["--results", str(results), "--diagnostics-dir", str(tmp_path / "none"), "--output", str(out)]) == 0
    assert (out / "error_distribution.png").exists() and not (out / "motion_signals.png").exists()
    assert "motion_signals.png not drawn" in capsys.readouterr().err


def test_only_visualize_results_imports_matplotlib():
    code = ("import sys; import evaluation.offset_generation, evaluation.run_batch, evaluation.compute_metrics, evaluation.run_all; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert out == "False"
