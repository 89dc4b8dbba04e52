"""Review of a sync: frame grabs, indicator images and aligned waveforms with measured residuals,
on generated cameras with known offsets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import avsync
from avsync.media.synthetic import Camera, make_cameras
from avsync.review import review
from avsync.review.frames import GrabbedFrame, frames_at
from avsync.review.moments import moving_boxes
from avsync.review.placed import placed_files
from avsync.review.waveforms import jumps_db
from tests.conftest import run_ffmpeg

# cam1 (reference, full frame, 25 fps); cam2 starts 2 s later, cropped, 30 fps; cam3 starts 1 s
# later and records only 3 s; rec.wav started 0.8 s before the reference.
OFFSETS = [0.0, 2.0, 1.0, -0.8]
CROP2 = (0.1, 0.1, 0.9, 0.9)


@pytest.fixture(scope="module")
def scene(tmp_path_factory) -> list[Path]:
    cams = [Camera(), Camera(crop=CROP2, fps=30.0, sample_rate=44100, audio_noise=0.003), Camera(duration_s=3.0),
            Camera(video=False, sample_rate=48000)]
    return make_cameras(tmp_path_factory.mktemp("review"), OFFSETS, duration_s=9.0, seed=4, cameras=cams,
                        names=["cam1.mp4", "cam2.mp4", "cam3.mp4", "rec.wav"])


@pytest.fixture(scope="module")
def reviewed(scene, tmp_path_factory):
    result = avsync.sync([str(p) for p in scene])
    out = tmp_path_factory.mktemp("review_out")
    return result, review(result, out, moments=3, transients=2), out


def test_sync_of_the_scene_is_right(reviewed):
    result, _, _ = reviewed
    for v, off in zip(result.videos, OFFSETS):
        assert v.status == "ok" and v.offset_s == pytest.approx(off, abs=1e-3)


def test_waveform_residuals_below_a_millisecond_and_written_to_the_result(reviewed):
    result, out, folder = reviewed
    section = result.review
    assert section is out.section and len(section["transients"]) == 2
    for t in section["transients"]:
        assert (folder / t["image"]).stat().st_size > 10_000
        assert t["anchor"] == result.reference
        measured = {k: v for k, v in t["residual_ms"].items() if v is not None}
        assert measured, t
        for path, r in measured.items():
            assert abs(r) < 1.0, (path, r)
            assert t["match"][path] > 0.5
    assert section["max_abs_residual_ms"] and max(section["max_abs_residual_ms"].values()) < 1.0
    saved = json.loads((folder / "review.json").read_text())
    assert saved["review"]["transients"] == section["transients"]
    assert avsync.SyncResult.load(folder / "review.json").review == section


def test_a_known_sync_error_is_measured_with_its_sign(reviewed, tmp_path):
    result, _, _ = reviewed
    wrong = avsync.SyncResult.from_dict(result.to_dict())
    wrong.videos[1].offset_s += 0.0015  # cam2 placed 1.5 ms too late: its events come late
    wrong.videos[3].offset_s -= 0.0007  # rec.wav 0.7 ms too early
    section = review(wrong, tmp_path, moments=0, transients=2).section
    cam2, rec = wrong.videos[1].path, wrong.videos[3].path
    for t in section["transients"]:
        if t["residual_ms"].get(cam2) is not None:
            assert t["residual_ms"][cam2] == pytest.approx(1.5, abs=0.05)
        if t["residual_ms"].get(rec) is not None:
            assert t["residual_ms"][rec] == pytest.approx(-0.7, abs=0.05)
    assert section["max_abs_residual_ms"][cam2] == pytest.approx(1.5, abs=0.05)


def test_indicator_images_at_moments_of_motion_with_timestamps_and_boxes(reviewed):
    result, out, folder = reviewed
    images = result.review["indicator_images"]
    assert len(images) == 3
    cam1, cam2, cam3, rec = (v.path for v in result.videos)
    for entry in images:
        assert (folder / entry["image"]).stat().st_size > 10_000
        T = entry["time_s"]
        assert rec not in entry["cameras"]  # audio-only recorders are not cameras
        for path, off, fps in ((cam1, 0.0, 25.0), (cam2, 2.0, 30.0)):
            cam = entry["cameras"][path]
            if T - off < 0:
                assert cam == {"shown": False, "reason": "not recording"}
                continue
            # Each frame's own timestamp: the frame on screen at the synced time.
            assert T - off - 1 / fps - 1e-6 <= cam["frame_time_s"] <= T - off + 1e-6
        # cam3 records synced 1.0 s to 4.0 s only.
        shown3 = entry["cameras"][cam3]["shown"]
        assert shown3 == (1.0 <= T < 4.0), (T, entry["cameras"][cam3])
        if not shown3:
            assert entry["cameras"][cam3]["reason"] in ("not recording", "ended")


def test_boxes_around_the_same_event_line_up_across_cameras(reviewed):
    """Boxes mapped back to the scene's own coordinates overlap between the two framings."""
    result, _, _ = reviewed
    cam1, cam2 = result.videos[0].path, result.videos[1].path

    def world(box, crop, size=(320, 180)):
        x, y, w, h = box
        sx, sy = (crop[2] - crop[0]) * 640 / size[0], (crop[3] - crop[1]) * 360 / size[1]
        return (crop[0] * 640 + x * sx, crop[1] * 360 + y * sy, crop[0] * 640 + (x + w) * sx, crop[1] * 360 + (y + h) * sy)

    def overlap(a, b):
        return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])

    compared = 0
    for entry in result.review["indicator_images"]:
        c1, c2 = entry["cameras"][cam1], entry["cameras"][cam2]
        if not (c1["shown"] and c2["shown"] and c1["boxes"] and c2["boxes"]):
            continue
        compared += 1
        biggest = world(max(c2["boxes"], key=lambda b: b[2] * b[3]), CROP2)
        assert any(overlap(biggest, world(b, (0, 0, 1, 1))) for b in c1["boxes"]), entry
    assert compared >= 1


def test_grab_frames_from_a_result_and_from_aligned_outputs(reviewed, scene, tmp_path):
    result, _, _ = reviewed
    frames = avsync.grab_frames(result, 3.0)
    assert list(frames) == [v.path for v in result.videos]
    assert frames[result.videos[0].path].shape == (180, 320, 3) and frames[result.videos[0].path].dtype == np.uint8
    assert frames[result.videos[2].path] is not None  # cam3 records 1-4 s
    assert frames[result.videos[3].path] is None  # audio only
    assert avsync.grab_frames(result, 5.0)[result.videos[2].path] is None  # cam3 has ended
    assert avsync.grab_frames(result, 1.5)[result.videos[1].path] is None  # cam2 has not started
    # Offsets applied: cam2's frame at synced 3.0 s is its own frame at 1.0 s.
    direct = avsync.grab_frames([scene[1]], 1.0)[str(scene[1])]
    assert np.array_equal(frames[result.videos[1].path], direct)
    # A requested size keeps the aspect ratio when only the width is given.
    assert avsync.grab_frames(result, 3.0, width=160)[result.videos[0].path].shape == (90, 160, 3)


def test_grab_frames_takes_the_frame_on_screen(tmp_path):
    """Frame n of this video has luma 16 + 2n (lossless; limited range, so RGB grey 2n * 255/219):
    the frame grabbed at t is floor(t * 25)."""
    path = tmp_path / "numbered.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "color=c=black:s=64x48:r=25:d=4", "-vf", "geq=lum='16+2*N':cb=128:cr=128",
               "-c:v", "libx264", "-qp", "0", "-g", "12", "-pix_fmt", "yuv420p", str(path))
    placed = placed_files([path])
    for t in (0.0, 0.039, 0.04, 1.23, 2.5, 3.97):
        g = frames_at(placed, t)[0]
        n = int(np.floor(t * 25 + 1e-9))
        assert isinstance(g, GrabbedFrame) and g.frame_time_s == pytest.approx(n / 25, abs=1e-6)
        assert float(g.image.mean()) == pytest.approx(2 * n * 255 / 219, abs=1.5), t
    assert frames_at(placed, 4.2)[0].image is None


def test_moving_boxes_finds_the_moved_square_and_ignores_noise():
    rng = np.random.default_rng(0)
    before = np.clip(rng.normal(100, 3, (120, 160, 3)), 0, 255).astype(np.uint8)
    after = np.clip(before.astype(int) + rng.normal(0, 3, before.shape), 0, 255).astype(np.uint8)
    assert moving_boxes(before, after) == []
    moved = after.copy()
    moved[40:64, 96:120] = 250
    (x, y, w, h), = moving_boxes(before, moved)
    assert x <= 96 and y <= 40 and x + w >= 120 and y + h >= 64 and w * h <= 2 * 24 * 24 + 8 * 48


def test_jumps_db_marks_a_click_over_a_quiet_bed():
    rng = np.random.default_rng(1)
    rms = np.abs(rng.normal(0.01, 0.001, 400))
    rms[250] = 0.5
    jump = jumps_db(rms)
    assert int(np.argmax(jump)) == 250 and jump[250] > 30
    assert np.all(jump[:240] < 6)


def test_review_cli_writes_pictures_and_prints_the_section(reviewed, tmp_path):
    result, _, _ = reviewed
    res = tmp_path / "result.json"
    result.review = None
    result.save(res)
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "review", str(res), "--output-dir", str(tmp_path / "r"),
                           "--moments", "1", "--transients", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    section = json.loads(proc.stdout)
    assert len(section["indicator_images"]) == 1 and len(section["transients"]) == 1
    assert sorted(p.suffix for p in (tmp_path / "r").iterdir()) == [".json", ".png", ".png"]
    assert json.loads(res.read_text()).get("review") is None  # the input result is left alone


def test_review_cli_errors_are_one_line(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "avsync.cli", "review", str(tmp_path / "none.json"), "--output-dir", str(tmp_path)],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and "no such result file" in missing.stderr
    gone = tmp_path / "gone.json"
    gone.write_text(json.dumps({"reference": "a.mp4", "videos": [{"path": "a.mp4", "offset_s": 0.0, "status": "ok"},
                                                                {"path": "b.mp4", "offset_s": 1.0, "status": "ok"}]}))
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "review", str(gone), "--output-dir", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "'a.mp4': no such file" in proc.stderr


def test_sync_debug_dir_writes_the_review_too(scene, tmp_path):
    result = avsync.sync([str(scene[0]), str(scene[1])], method="both", debug_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith("indicator_") for n in names) and any(n.startswith("waveform_") for n in names)
    saved = avsync.SyncResult.load(tmp_path / "result.json")
    assert saved.review == result.review and result.review["transients"]
    assert max(result.review["max_abs_residual_ms"].values()) < 1.0


def test_frames_of_a_tiny_video_at_its_own_size(tmp_path):
    """10 px wide RGB rows: swscale writes whole SIMD blocks, which once ran past the buffer."""
    path = tmp_path / "tiny.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=10x18:rate=25:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    for t in (0.0, 0.5, 1.9):
        (image,) = avsync.grab_frames([path], t).values()
        assert image.shape == (18, 10, 3)


def test_relative_paths_are_found_beside_the_result_file(reviewed, scene, tmp_path, monkeypatch):
    result, _, _ = reviewed
    moved = avsync.SyncResult.from_dict(result.to_dict())
    for v, p in zip(moved.videos, scene):
        v.path = p.name  # as if `avsync sync` ran inside the media folder
    res = scene[0].parent / "relative.json"
    moved.save(res)
    monkeypatch.chdir(tmp_path)  # somewhere else
    frames = avsync.grab_frames(res, 3.0)
    assert list(frames) == [p.name for p in scene] and frames["cam1.mp4"].shape == (180, 320, 3)
