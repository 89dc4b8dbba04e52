"""The lip-sync pipeline on generated media: frame-rate resampling, audio alignment, the offset
sign end to end, no faces, bad input, and the --fix copy."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

import avsync  # noqa: E402
from avsync.lipsync import LipSync  # noqa: E402
from avsync.lipsync.pipeline import align_audio, frames_at_25fps, working_size  # noqa: E402

from .lipsync_helpers import EnvelopeNet, make_flash_video  # noqa: E402


def _indices(times, fps=25.0):
    chunks = [(np.arange(len(times))[:, None], np.asarray(times))]
    return [(k, int(f[0])) for k, f, _ in frames_at_25fps(iter(chunks), fps)]


def test_25fps_input_passes_through_unchanged():
    times = 1.0 + np.arange(50) / 25.0
    assert _indices(times) == [(k, k) for k in range(50)]


def test_30fps_input_drops_one_frame_in_six():
    out = _indices(np.arange(60) / 30.0 + 0.003)  # 2 s at 30 fps -> 50 frames at 25 fps
    assert [k for k, _ in out] == list(range(50))
    picked = [src for _, src in out]
    # output k shows the last frame at or before (k + 0.5) / 25: frames 2, 8, 14... are dropped
    assert picked[:7] == [0, 1, 3, 4, 5, 6, 7]
    assert len(set(picked)) == 50 and sorted(set(range(60)) - set(picked))[:3] == [2, 8, 14]


def test_variable_frame_rate_follows_timestamps():
    times = np.array([0.0, 0.04, 0.2, 0.21, 0.22, 0.4])
    assert _indices(times) == [(0, 0), (1, 1), (2, 1), (3, 1), (4, 1), (5, 4), (6, 4), (7, 4), (8, 4), (9, 4), (10, 5)]


def test_audio_is_lined_up_with_the_first_video_frame():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(align_audio(x, 0.0, 2 / 16000), x[2:])
    np.testing.assert_array_equal(align_audio(x, 3 / 16000, 0.0), np.r_[0, 0, 0, x])


def test_working_size_keeps_aspect_and_even_sides():
    assert working_size(1080, 1920, 1280) == (720, 1280)
    assert working_size(640, 360, 1280) == (640, 360)
    assert working_size(701, 701, 500) == (500, 500)


@pytest.fixture(scope="module")
def envelope_runner():
    return LipSync(EnvelopeNet(), vshift=8, min_track=10)


@pytest.mark.parametrize("delay", [3, pytest.param(-2, marks=pytest.mark.slow)])
def test_offset_sign_end_to_end(tmp_path, envelope_runner, delay):
    """Audio that comes ``delay`` frames after the video gives offset -delay (SyncNet's sign)."""
    video = make_flash_video(tmp_path / "flash.mkv", audio_delay_frames=delay)
    result = envelope_runner.run(video, cropped=True)
    assert result.status == "ok" and len(result.tracks) == 1
    t = result.tracks[0]
    assert t.offset_frames == -delay
    assert t.confidence > 0.3
    assert (t.start_frame, t.end_frame) == (0, 199)


@pytest.mark.slow
def test_variable_frame_rate_input(tmp_path, envelope_runner):
    video = make_flash_video(tmp_path / "vfr.mkv", audio_delay_frames=4, fps=30.0, drop_every=7)
    info = avsync.probe(video)
    result = envelope_runner.run(video, cropped=True)
    assert abs(result.frames - info["duration_s"] * 25) <= 2
    assert result.tracks[0].offset_frames == -4


@pytest.mark.slow
def test_video_without_faces_gives_no_faces(av_clip, tmp_path):
    pytest.importorskip("onnxruntime")
    runner = LipSync(EnvelopeNet())
    result = runner.run(av_clip, data_dir=tmp_path, reference="clip", draw_video=False)
    assert result.status == "no_faces" and result.tracks == []
    assert result.to_dict()["tracks"] == [] and result.frames == 125
    assert (tmp_path / "pywork" / "clip" / "offsets.txt").read_text() == ""


def test_missing_file_and_missing_audio_are_one_line_errors(tmp_path, ffmpeg):
    from tests.conftest import run_ffmpeg

    runner = LipSync(EnvelopeNet())
    with pytest.raises(avsync.MediaError, match="missing.mp4"):
        runner.run(tmp_path / "missing.mp4", cropped=True)
    silent = tmp_path / "silent.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=224x224:rate=25:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent))
    with pytest.raises(avsync.NoStreamError) as info:
        runner.run(silent, cropped=True)
    assert "silent.mp4" in str(info.value) and "\n" not in str(info.value)


def test_fix_shifts_the_audio_by_the_measured_offset(tmp_path):
    from avsync.lipsync.layout import write_fixed
    from avsync.media.audio import read_audio_with_start

    video = make_flash_video(tmp_path / "in.mkv", audio_delay_frames=0, duration_s=4.0)
    original = avsync.read_audio(video)
    for frames, ext in ((5, ".mkv"), (-3, ".mkv"), (4, ".mp4")):
        out = write_fixed(video, frames, tmp_path / f"fixed{frames}{ext}")
        fixed, start = read_audio_with_start(out)
        assert abs(fixed.size - original.size) <= 2048  # the same length (AAC frames aside)
        delay = avsync.gcc_phat(original, fixed, 16000, max_delay_s=0.5).delay_s + start
        assert delay == pytest.approx(frames / 25.0, abs=0.002)  # positive offset: the audio is delayed
    with pytest.raises(avsync.MediaError, match="refusing to overwrite"):
        write_fixed(video, 1, video)
