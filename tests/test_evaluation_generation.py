"""evaluation.offset_generation: exact shifts, the sign convention, metadata, degradations."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from _eval_media import make_tiny_original

import avsync
from avsync.media.video import iter_frames
from evaluation import copies, degrade, offset_generation
from evaluation.common import LEVELS, METADATA_COLUMNS, _join_negative_values
from evaluation.run_batch import offset_s_to_ms


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("originals")
    make_tiny_original(folder)
    return folder


@pytest.fixture(scope="module")
def plain_set(originals: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plain")
    code = offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=-500,0,300"])
    assert code == 0
    return out


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "metadata.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _frame_times(path: Path) -> np.ndarray:
    return np.concatenate([t for _, t in iter_frames(path, 16, 16)])


def test_metadata_lists_every_case_with_measured_levels(plain_set: Path, originals: Path):
    rows = _rows(plain_set)
    with open(plain_set / "metadata.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header == METADATA_COLUMNS
    assert [int(r["true_offset_ms"]) for r in rows] == [-500, 0, 300]
    original_duration = avsync.probe(originals / "tiny.mp4")["duration_s"]
    for r in rows:
        assert (plain_set / r["synthetic"]).is_file()
        assert r["original"] == "tiny.mp4"
        assert r["motion_level"] in LEVELS and r["audio_energy_level"] in LEVELS
        assert r["degradations"] == "none"
        # The copy is longer or shorter by the offset (within one frame).
        assert float(r["duration"]) == pytest.approx(original_duration + int(r["true_offset_ms"]) / 1000, abs=0.05)
    levels = offset_generation.measure(originals / "tiny.mp4")
    assert float(rows[0]["motion_energy"]) == pytest.approx(levels.motion_energy, rel=1e-3)
    assert float(rows[0]["audio_rms_dbfs"]) == pytest.approx(levels.audio_rms_dbfs, abs=0.01)


def test_video_frames_move_by_exactly_the_offset(plain_set: Path, originals: Path):
    orig = _frame_times(originals / "tiny.mp4")
    for r in _rows(plain_set):
        shift = int(r["true_offset_ms"]) / 1000
        copy = _frame_times(plain_set / r["synthetic"])
        if shift > 0:
            # Black frames at the original rate from 0, then every original frame moved by exactly +0.3 s.
            pad = copy[copy < shift - 1e-6]
            np.testing.assert_allclose(pad, np.arange(pad.size) / 25.0, atol=1e-4)
            np.testing.assert_allclose(copy[pad.size:], orig + shift, atol=1e-4)
        else:
            # Trimmed: the frames from 0.5 s on, 0.5 s earlier (the first one at 0.02 s when 0.5 s is 12.5 frames).
            kept = orig[orig >= -shift - 1e-6]
            np.testing.assert_allclose(copy, kept + shift, atol=1e-4)


def test_sign_convention_round_trip(plain_set: Path, originals: Path):
    """true_offset_ms (prepended > 0, trimmed < 0) comes back as estimated_offset_ms, not negated."""
    for r in _rows(plain_set):
        result = avsync.sync([originals / r["original"], plain_set / r["synthetic"]], method="audio")
        estimated = offset_s_to_ms(result.videos[1].offset_s)
        assert estimated == pytest.approx(int(r["true_offset_ms"]), abs=1.0)
    # and the raw sync value has the opposite sign: the copy "started" 0.3 s before the original
    plus = next(r for r in _rows(plain_set) if r["true_offset_ms"] == "300")
    assert avsync.sync([originals / "tiny.mp4", plain_set / plus["synthetic"]]).videos[1].offset_s == pytest.approx(-0.3, abs=1e-3)


def test_degradation_plans_are_seeded_recorded_and_change_the_frame_rate():
    a = degrade.draw(degrade.case_rng(3, "clip_+700ms_deg"), 25.0, max_drift_ppm=100)
    b = degrade.draw(degrade.case_rng(3, "clip_+700ms_deg"), 25.0, max_drift_ppm=100)
    c = degrade.draw(degrade.case_rng(3, "clip_-1500ms_deg"), 25.0, max_drift_ppm=100)
    assert a == b and a != c
    assert a.fps[0] / a.fps[1] != pytest.approx(25.0, abs=0.05)
    assert abs(a.drift_ppm) <= 100.5 and a.drift_ppm != 0
    # the drift recorded is exactly what relabelling the 48 kHz audio does
    assert (degrade.WORK_RATE / a.stretched_rate - 1) * 1e6 == pytest.approx(a.drift_ppm, abs=1e-9)
    text = a.describe()
    for key in ("crop=", "exposure=", "noise=", "fps=", "bpp=", "eq=", "snr=", "reverb=", "arate=", "abitrate=", "drift="):
        assert key in text
    assert "drift=" not in degrade.draw(degrade.case_rng(3, "x"), 25.0).describe()


def test_degraded_copy_keeps_the_exact_audio_offset(originals: Path, tmp_path: Path):
    out = tmp_path / "deg"
    code = offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=-400,700",
                                   "--degrade", "--seed", "4", "--max-drift-ppm", "80"])
    assert code == 0
    for r in _rows(out):
        assert r["video_id"].endswith("_deg") and "crop=" in r["degradations"]
        copy = out / r["synthetic"]
        info = avsync.probe(copy)
        assert f"arate={info['sample_rate']}" in r["degradations"]
        result = avsync.sync([originals / "tiny.mp4", copy], method="audio")
        assert offset_s_to_ms(result.videos[1].offset_s) == pytest.approx(int(r["true_offset_ms"]), abs=2.0)


def test_rerun_keeps_copies_made_with_the_same_settings(originals: Path, tmp_path: Path):
    out = tmp_path / "again"
    assert offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=200"]) == 0
    copy = out / "tiny_+200ms.mp4"
    before = copy.stat().st_mtime_ns
    assert offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=200"]) == 0
    assert copy.stat().st_mtime_ns == before
    assert offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=200", "--force"]) == 0
    assert copy.stat().st_mtime_ns != before


def test_empty_or_missing_originals_point_to_the_demo_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "missing"):
        code = offset_generation.main(["--originals", str(folder), "--output-dir", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 1
        assert err.startswith("offset_generation: error: ") and err.count("\n") == 1
        assert str(folder) in err and "--demo" in err and "shared/media" in err


def test_trim_longer_than_the_video_is_skipped(originals: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "long"
    assert offset_generation.main(["--originals", str(originals), "--output-dir", str(out), "--offsets-ms=-5500,100"]) == 0
    assert "trimming 5500 ms leaves less than" in capsys.readouterr().err
    assert [r["true_offset_ms"] for r in _rows(out)] == ["100"]


def test_offsets_parse_and_reject_garbage():
    assert offset_generation.parse_offsets("-2000,-500, 0,500,2000") == [-2000, -500, 0, 500, 2000]
    # a negative first value works without '=' too
    assert _join_negative_values(["--offsets-ms", "-1500,700", "--degrade"]) == ["--offsets-ms=-1500,700", "--degrade"]
    with pytest.raises(Exception, match="milliseconds"):
        offset_generation.parse_offsets("a,b")


def test_filter_graph_shifts_in_microseconds():
    src = copies.SourceInfo(width=320, height=180, fps=25.0, video_start_s=0.0, has_video=True, has_audio=True)
    graph, rate = copies.video_chain(src, 700, None)
    assert "setpts=PTS+0.700000/TB" in graph and "trim=end=0.700000" in graph and rate == 25.0
    plan = degrade.draw(degrade.case_rng(0, "x"), 25.0)
    graph, _ = copies.video_chain(src, -1500, plan)
    # after the fps filter the time base is put back to microseconds before the exact shift
    assert graph.index("settb=AVTB", graph.index("fps=")) < graph.index("trim=start=1.500000")
    audio = copies.audio_chain(-1500, None, 0.0)
    assert "atrim=start_sample=72000" in audio and "asetpts=PTS-1.500000/TB" in audio
