"""The lip-sync pipeline on the real talking-face clips of ../shared/media/talking."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

import avsync  # noqa: E402
from avsync.lipsync import LipSync  # noqa: E402

from .lipsync_helpers import EnvelopeNet  # noqa: E402

pytestmark = pytest.mark.realmedia


@pytest.fixture(scope="module")
def talking(shared_media):
    return shared_media / "talking"


@pytest.fixture(scope="module")
def runner():
    # The stand-in network keeps these tests about faces, tracks and files, not SyncNet's cost.
    return LipSync(EnvelopeNet())


def _first_frame(path, width, height):
    from avsync.media.video import iter_frames

    frames, _ = next(iter_frames(path, width, height, rgb=True, chunk=1))
    return frames[0]


def test_centerface_finds_one_face_in_a_crop_and_two_in_the_interview(talking):
    from avsync.lipsync.detectors import make_detector

    det = make_detector("centerface")
    assert len(det.detect(_first_frame(talking / "example.avi", 224, 224))) == 1
    boxes = det.detect(_first_frame(talking / "ankur_test_video_crop.mp4", 640, 360))
    assert len(boxes) == 2
    assert sorted((boxes[:, 0] + boxes[:, 2]) / 2 < 320) == [False, True]  # one face each side


def _faces_in(path):
    """CenterFace boxes in the middle frame of a crop video."""
    from avsync.lipsync.detectors import make_detector
    from avsync.media.video import iter_frames

    frames = np.concatenate([f for f, _ in iter_frames(path, 224, 224, rgb=True)])
    return make_detector("centerface").detect(frames[len(frames) // 2]), len(frames)


@pytest.mark.slow
def test_two_faces_two_tracks_crops_on_the_faces_and_the_layout(talking, runner, tmp_path):
    video = talking / "ankur_test_video_crop.mp4"
    result = runner.run(video, data_dir=tmp_path, reference="ankur", save_crops=True)
    assert result.status == "ok" and len(result.tracks) == 2
    centres = sorted(t.mean_box[0] + t.mean_box[2] / 2 for t in result.tracks)
    assert centres[0] < 320 < centres[1]
    assert all(t.end_frame - t.start_frame > 600 for t in result.tracks)  # both faces stay on screen
    lines = (tmp_path / "pywork" / "ankur" / "offsets.txt").read_text().splitlines()
    assert [re.fullmatch(r"TRACK (\d+): OFFSET (-?\d+), CONF (-?\d+\.\d{3})", ln) is not None for ln in lines] == [True, True]
    saved = json.loads((tmp_path / "pywork" / "ankur" / "result.json").read_text())
    assert saved["tracks"] == [t.to_dict() for t in result.tracks]
    for t in result.tracks:
        crop = tmp_path / "pycrop" / "ankur" / f"{t.track:05d}.avi"
        faces, n = _faces_in(crop)
        assert n == t.frames
        assert len(faces) == 1  # the crop holds one face...
        cx, cy = (faces[0, 0] + faces[0, 2]) / 2, (faces[0, 1] + faces[0, 3]) / 2
        assert 70 < cx < 154 and 40 < cy < 130  # ...centred, in the upper half as the reference frames it
        assert avsync.read_audio(crop).size == pytest.approx(t.frames * 640, abs=640)
    out = avsync.probe(tmp_path / "pyavi" / "ankur" / "video_out.avi")
    assert out["has_audio"] and out["width"] == 640 and abs(out["duration_s"] - result.frames / 25) < 0.1


@pytest.mark.slow
def test_variable_frame_rate_clip_is_resampled_to_25fps(talking, runner):
    video = talking / "retalking_face1.mp4"
    info = avsync.probe(video)
    assert info["fps"] != 25.0
    result = runner.run(video)
    assert abs(result.frames - info["duration_s"] * 25) <= 2
    assert len(result.tracks) == 1
    x, y, w, h = result.tracks[0].mean_box
    assert 0 <= x and x + w <= 700 and 0 <= y and y + h <= 700 and w > 100


@pytest.mark.slow
def test_hevc_portrait_clip(talking, runner):
    result = runner.run(talking / "latentsync_demo1_video.mp4")
    assert result.frames == 250 and len(result.tracks) == 1
    x, y, w, h = result.tracks[0].mean_box
    assert 0 <= x and x + w <= 1080 and 0 <= y and y + h <= 1920 and 100 < w < 600
