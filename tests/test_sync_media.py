"""Multi-camera sync on generated recordings with known offsets."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import avsync
from avsync.media.synthetic import Camera, make_cameras, make_scene, record
from tests.conftest import run_ffmpeg

FRAME = 1 / 25


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_audio_offset_and_sign(camera_pair):
    a, b, offset = camera_pair
    r = avsync.sync([a, b])
    v = r.videos[1]
    assert v.status == "ok" and v.method == "audio"
    assert v.offset_s == pytest.approx(offset, abs=1e-3)
    assert v.confidence >= 0.8
    # Swapping the reference flips the sign.
    r2 = avsync.sync([a, b], reference=b)
    assert r2[str(a)].offset_s == pytest.approx(-offset, abs=1e-3)
    assert r2[str(b)].offset_s == 0.0


def test_visual_offset_across_framing_exposure_and_frame_rate(camera_pair):
    a, b, offset = camera_pair  # b: cropped, brighter, noisier, 30 fps vs 25 fps
    v = avsync.sync([a, b], method="visual").videos[1]
    assert v.status == "ok" and v.method == "visual"
    assert v.offset_s == pytest.approx(offset, abs=FRAME)
    assert v.confidence >= 0.5


def test_both_reports_each_method_and_their_difference(camera_pair):
    a, b, offset = camera_pair
    v = avsync.sync([a, b], method="both").videos[1]
    assert v.audio_offset_s == pytest.approx(offset, abs=1e-3)
    assert v.visual_offset_s == pytest.approx(offset, abs=FRAME)
    assert v.audio_video_diff == pytest.approx(v.audio_offset_s - v.visual_offset_s)
    assert v.offset_s == v.audio_offset_s


def test_apply_round_trip_and_inputs_untouched(camera_pair, tmp_path):
    a, b, _ = camera_pair
    before = {p: digest(p) for p in (a, b)}
    result = avsync.sync([a, b])
    outputs = avsync.apply_offsets(result, tmp_path / "out", zip_path=tmp_path / "synced.zip")
    assert [p.name for p in outputs] == ["cam1_synced.mp4", "cam2_synced.mp4", "synced.zip"]
    assert {p: digest(p) for p in (a, b)} == before
    durations = [avsync.probe(p)["duration_s"] for p in outputs[:2]]
    assert abs(durations[0] - durations[1]) <= FRAME + 1e-6
    with zipfile.ZipFile(outputs[2]) as zf:
        assert sorted(zf.namelist()) == ["cam1_synced.mp4", "cam2_synced.mp4"]
    again = avsync.sync([str(p) for p in outputs[:2]], method="both").videos[1]
    assert again.offset_s == pytest.approx(0.0, abs=FRAME)
    assert again.visual_offset_s == pytest.approx(0.0, abs=FRAME)
    assert not list((tmp_path / "out").glob(".*part*")), "temporary files left behind"


def test_negative_offset_trims(media_dir, tmp_path):
    a, b = make_cameras(media_dir / "neg", [0.0, -1.75], duration_s=8.0, seed=11,
                        cameras=[Camera(video=False), Camera(video=False, sample_rate=22050, channels=2)],
                        names=["ref.wav", "early.wav"])
    r = avsync.sync([a, b])
    assert r.videos[1].offset_s == pytest.approx(-1.75, abs=1e-3)
    out = avsync.apply_offsets(r, tmp_path)
    again = avsync.sync([str(p) for p in out]).videos[1]
    assert again.offset_s == pytest.approx(0.0, abs=1e-3)


def test_a_file_that_misses_the_reference_is_placed_through_another(tmp_path):
    scene = make_scene(42.0, seed=5)
    paths = [record(scene, Camera(video=False, start_s=s, duration_s=d), tmp_path / f"{n}.wav")
             for n, s, d in (("a", 0.0, 12.0), ("b", 8.0, 30.0), ("c", 16.0, 24.0))]
    r = avsync.sync(paths)
    offs = [v.offset_s for v in r.videos]
    assert [v.status for v in r.videos] == ["ok", "ok", "ok"]
    assert offs == pytest.approx([0.0, 8.0, 16.0], abs=2e-3)
    direct = [p for p in r.pairs if {Path(p.a).name, Path(p.b).name} == {"a.wav", "c.wav"}]
    assert direct and direct[0].status == "no_match"


def test_unrelated_recordings_do_not_match(tmp_path):
    a = record(make_scene(12.0, seed=21), Camera(video=False), tmp_path / "a.wav")
    b = record(make_scene(12.0, seed=22), Camera(video=False), tmp_path / "b.wav")
    v = avsync.sync([a, b]).videos[1]
    assert v.status == "no_match"
    assert v.offset_s is None
    assert v.confidence < 0.2


def test_offset_outside_the_search_range_is_not_reported_confidently(tmp_path):
    paths = make_cameras(tmp_path, [0.0, 27.0], duration_s=40.0, seed=8,
                         cameras=[Camera(video=False), Camera(video=False)], names=["a.wav", "b.wav"])
    narrow = avsync.sync(paths, max_offset_s=20.0).videos[1]
    assert narrow.status in ("no_match", "low_confidence")
    assert narrow.offset_s is None or narrow.confidence < 0.2
    whole = avsync.sync(paths, max_offset_s=0).videos[1]
    assert whole.status == "ok"
    assert whole.offset_s == pytest.approx(27.0, abs=1e-3)


def test_auto_uses_motion_for_a_camera_without_sound(media_dir):
    a, b, c = make_cameras(media_dir / "auto", [0.0, 1.5, -0.8], duration_s=12.0, seed=4,
                           cameras=[Camera(), Camera(audio=False, fps=30.0), Camera()])
    r = avsync.sync([a, b, c], method="auto")
    va, vb, vc = r.videos
    assert vb.method == "visual" and vb.offset_s == pytest.approx(1.5, abs=FRAME)
    assert vc.method == "audio" and vc.offset_s == pytest.approx(-0.8, abs=1e-3)
    # In audio mode the silent camera is an error with a reason; the others still sync.
    r = avsync.sync([a, b, c], method="audio")
    assert r.videos[1].status == "error" and "no audio" in r.videos[1].error
    assert r.videos[2].status == "ok"


def test_bad_inputs_get_a_reason_and_the_rest_still_sync(camera_pair, tmp_path):
    a, b, offset = camera_pair
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    r = avsync.sync([a, b, garbage, empty, tmp_path / "missing.mp4", a])
    statuses = [v.status for v in r.videos]
    assert statuses[:2] == ["ok", "ok"]
    assert statuses[2:] == ["error"] * 4
    assert r.videos[1].offset_s == pytest.approx(offset, abs=1e-3)
    errors = [v.error for v in r.videos[2:]]
    assert "garbage.mp4" in errors[0]
    assert "empty" in errors[1]
    assert "missing.mp4" in errors[2]
    assert "twice" in errors[3]
    assert all("\n" not in e for e in errors)


def test_single_file_is_a_usage_error(camera_pair):
    with pytest.raises(ValueError, match="at least two"):
        avsync.sync([camera_pair[0]])


def test_no_audio_stream_in_the_reference(tmp_path, camera_pair):
    silent = tmp_path / "video_only.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=3", "-c:v", "libx264", str(silent))
    r = avsync.sync([silent, camera_pair[0]])
    assert r.videos[0].status == "error" and "no audio stream" in r.videos[0].error
    assert r.videos[1].status == "error" and "reference" in r.videos[1].error


def test_debug_dir_writes_plots(camera_pair, tmp_path):
    pytest.importorskip("matplotlib")
    a, b, _ = camera_pair
    avsync.sync([a, b], method="both", debug_dir=tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"result.json", "motion_energy_plot.png", "correlation_matrix.png"} <= names
    assert any(n.startswith("correlation_cam1__cam2_audio") for n in names)
    assert any(n.startswith("correlation_cam1__cam2_visual") for n in names)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "avsync.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_sync_and_apply(camera_pair, tmp_path):
    import json

    a, b, offset = camera_pair
    p = run_cli("sync", str(a), str(b), "--json", str(tmp_path / "r.json"), "--log-file", str(tmp_path / "sync.log"))
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["reference"] == str(a) and data["method"] == "audio" and data["max_offset_s"] == 20.0
    assert data["videos"][1]["offset_s"] == pytest.approx(offset, abs=1e-3)
    assert json.loads((tmp_path / "r.json").read_text()) == data
    log = (tmp_path / "sync.log").read_text().splitlines()
    assert log and all(data["request_id"] in line for line in log)
    p = run_cli("apply", str(a), str(b), "--offsets", str(tmp_path / "r.json"), "--output-dir", str(tmp_path / "out"),
                "--zip", str(tmp_path / "all.zip"), "--log-file", "")
    assert p.returncode == 0, p.stderr
    assert sorted(x.name for x in (tmp_path / "out").iterdir()) == ["cam1_synced.mp4", "cam2_synced.mp4"]
    assert zipfile.is_zipfile(tmp_path / "all.zip")


def test_cli_exit_status_and_one_line_errors(camera_pair, tmp_path):
    a, _, _ = camera_pair
    p = run_cli("sync", str(a), "--log-file", "")
    assert p.returncode == 2 and "at least two" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("sync", str(a), str(tmp_path / "nope.mp4"), "--log-file", "")
    assert p.returncode == 1 and "nope.mp4" in p.stderr and "Traceback" not in p.stderr
    p = run_cli("sync", str(a), str(a), "--max_offset", "5", "--log-file", "")  # underscore alias accepted
    assert p.returncode == 1 and "twice" in p.stderr
    p = run_cli("apply", str(a), "--offsets", str(tmp_path / "none.json"), "--output-dir", str(tmp_path), "--log-file", "")
    assert p.returncode == 1 and "none.json" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.parametrize("minutes,ppm", [(5, 50), (5, -300), (30, 150)])
def test_clock_drift(tmp_path, minutes, ppm):
    scene = make_scene(minutes * 60 + 6, seed=minutes)
    ref = record(scene, Camera(video=False), tmp_path / "ref.wav")
    vid = record(scene, Camera(video=False, start_s=3.217, drift_ppm=ppm, sample_rate=44100, audio_noise=0.01), tmp_path / "vid.wav")
    v = avsync.sync([ref, vid]).videos[1]
    assert v.status == "ok"
    assert v.offset_s == pytest.approx(3.217, abs=2e-3)
    assert v.drift_ppm == pytest.approx(ppm, abs=5.0)
    # Retiming with --correct-drift leaves no drift and no offset.
    out = avsync.apply_offsets(avsync.sync([ref, vid]), tmp_path / "out", correct_drift=True)
    again = avsync.sync([str(p) for p in out]).videos[1]
    assert again.offset_s == pytest.approx(0.0, abs=2e-3)
    assert abs(again.drift_ppm) < 5.0


@pytest.mark.slow
def test_demo_command_recovers_the_known_offsets(tmp_path):
    p = run_cli("demo", "--output-dir", str(tmp_path / "demo"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "demo" / "synced.zip").is_file()
    assert "recorder.wav" in p.stdout
