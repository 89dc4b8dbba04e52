"""Units of the multi-camera solver: the drift line, the pair-graph solve, result JSON."""

import json

import numpy as np
import pytest

from avsync.sync.drift import ppm_to_slope, robust_line, slope_to_ppm
from avsync.sync.result import SyncResult, VideoSync
from avsync.sync.solve import Edge, solve


def test_robust_line_recovers_drift_despite_outliers():
    rng = np.random.default_rng(0)
    t = np.linspace(5, 600, 120)
    true_ppm, start = 137.0, 1.2345
    y = start + ppm_to_slope(true_ppm) * t + rng.normal(0, 2e-5, t.size)
    bad = rng.choice(t.size, 25, replace=False)
    y[bad] += rng.uniform(-2, 2, bad.size)  # wild windows (e.g. a repeated sound)
    fit = robust_line(t, y)
    assert fit is not None
    assert fit.drift_ppm == pytest.approx(true_ppm, abs=0.5)
    assert fit.intercept == pytest.approx(start, abs=1e-4)
    assert not fit.inliers[bad].any()


def test_ppm_slope_round_trip():
    for ppm in (-300.0, -1.0, 0.0, 42.5, 1000.0):
        assert slope_to_ppm(ppm_to_slope(ppm)) == pytest.approx(ppm, rel=1e-9, abs=1e-9)


def test_solve_places_a_file_through_another():
    # 0 is the reference; 2 does not overlap 0 but overlaps 1.
    edges = [Edge(0, 1, 15.0, 0.9, key=0), Edge(1, 2, 20.0, 0.8, key=1)]
    sol = solve(3, 0, edges)
    assert sol.offsets == pytest.approx([0.0, 15.0, 35.0])
    assert sol.confidence[2] == pytest.approx(0.8)
    assert not sol.rejected


def test_solve_sets_aside_an_inconsistent_pair():
    edges = [
        Edge(0, 1, 10.0, 0.9, key=0),
        Edge(0, 2, 4.0, 0.9, key=1),
        Edge(1, 2, -6.0, 0.9, key=2),
        Edge(0, 3, 7.0, 0.9, key=3),
        Edge(1, 3, -3.0, 0.9, key=4),
        Edge(2, 3, 9.5, 0.5, key=5),  # wrong by 6.5 s: must be reported, not averaged in
    ]
    sol = solve(4, 0, edges)
    assert [e.key for e, _ in sol.rejected] == [5]
    assert sol.offsets == pytest.approx([0.0, 10.0, 4.0, 7.0], abs=1e-9)


def test_solve_leaves_unconnected_files_unplaced():
    sol = solve(3, 0, [Edge(0, 1, 1.0, 0.9)])
    assert sol.offsets[2] is None
    assert sol.confidence[2] == 0.0


def test_result_json_round_trip(tmp_path):
    r = SyncResult(reference="a.mp4", method="audio", max_offset_s=20.0,
                   videos=[VideoSync("a.mp4", 0.0, 1.0), VideoSync("b.mp4", -1.234, 0.87, 41.5)])
    d = r.to_dict()
    for v in d["videos"]:
        assert set(v) >= {"path", "offset_s", "confidence", "drift_ppm", "status", "method"}
    path = r.save(tmp_path / "r.json")
    back = SyncResult.load(path)
    assert back.to_dict() == d
    assert json.loads(path.read_text())["videos"][1]["drift_ppm"] == 41.5


def test_result_load_rejects_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a sync result"):
        SyncResult.load(p)


def test_phat_edges_do_not_make_unrelated_signals_match():
    """A pure tone cut abruptly and an unrelated clip: without the fade at the signals' ends, the
    phase transform turns the two cut edges into a confident false match."""
    import avsync
    from avsync import _core
    from avsync.media.synthetic import make_scene

    sr = 16000
    t = np.arange(22 * sr) / sr
    tone = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    clip = make_scene(10, seed=3).audio[::3][: 8 * sr].astype(np.float32)
    assert avsync.gcc_phat(tone, clip, sr, 20).confidence < 0.2
    unfaded = _core.gcc_phat(tone, clip, 20 * sr, 32, 0, 0)  # taper 0: the old behaviour
    assert unfaded["confidence"] > 0.5
