"""Video decoding (avsync.media.video.iter_frames) against the ffmpeg CLI: the luma grid is the
box average (in numpy) of the Y plane the CLI extracts, timestamps are ffprobe's, RGB output is
the CLI's own area-scaled RGB."""

from __future__ import annotations

import numpy as np
import pytest
from core_media import VIDEO_FILES, box_average, ffmpeg_frames, ffmpeg_luma, ffprobe_video, media

from avsync import _core
from avsync.media.video import iter_frames, video_info


def decode(path, width=160, height=90, **kwargs):
    chunks = list(iter_frames(path, width, height, **kwargs))
    frames = np.concatenate([c[0] for c in chunks])
    times = np.concatenate([c[1] for c in chunks])
    return frames, times


@pytest.mark.parametrize("name", VIDEO_FILES)
def test_luma_is_the_box_averaged_y_plane(name):
    path = media(name)
    ten_bit = "10bit" in name
    frames, _ = decode(path)
    y_plane = ffmpeg_luma(path, ten_bit=ten_bit)
    expected = box_average(y_plane, 160, 90) / (4.0 if ten_bit else 1.0)  # back to the 8-bit scale
    assert frames.dtype == np.float32
    assert frames.shape == expected.shape
    np.testing.assert_allclose(frames, expected, rtol=0, atol=2e-3)


@pytest.mark.parametrize("name", VIDEO_FILES)
def test_timestamps_are_ffprobes(name):
    path = media(name)
    _, times = decode(path)
    expected = ffprobe_video(path)["times_s"]
    assert times.dtype == np.float64
    np.testing.assert_allclose(times, expected, rtol=0, atol=1e-6)


def test_variable_frame_rate_stays_true():
    _, times = decode(media("vfr.mkv"))
    steps = np.round(np.diff(times), 3)
    # 25 fps, a 0.24 s gap, then every 0.12 s: nothing is resampled to a constant rate.
    assert set(steps[:29]) == {0.04}
    assert steps[29] == pytest.approx(0.24)
    assert set(steps[30:]) == {0.12}


@pytest.mark.parametrize("size", [(160, 120), (100, 75), (7, 5), (320, 240), (400, 300), (1, 1)])
def test_any_grid_size(size):
    """Shrinking by integer and non-integer ratios, the identity, enlarging (nearest pixel)."""
    path = media("h264_aac.mp4")
    frames, _ = decode(path, *size)
    expected = box_average(ffmpeg_luma(path), *size)
    assert frames.shape == expected.shape
    np.testing.assert_allclose(frames, expected, rtol=0, atol=2e-3)


def test_odd_source_size_is_read_exactly():
    path = media("odd_size.mkv")
    info = video_info(path)
    assert (info["source_width"], info["source_height"]) == (333, 187)
    frames, _ = decode(path, 111, 62)
    np.testing.assert_allclose(frames, box_average(ffmpeg_luma(path), 111, 62), rtol=0, atol=2e-3)


def test_rgb_source_goes_through_swscale_gray():
    """No Y plane to read: swscale makes gray at the source size, then the same box average."""
    path = media("rgb.mkv")
    assert video_info(path)["luma_from_plane"] is False
    assert video_info(media("nv12.nut"))["luma_from_plane"] is True
    frames, _ = decode(path, 100, 70)
    expected = box_average(ffmpeg_frames(path, "format=gray", "gray"), 100, 70)
    np.testing.assert_allclose(frames, expected, rtol=0, atol=2e-3)


@pytest.mark.parametrize("name", ["h264_aac.mp4", "h264_10bit.mkv", "rgb.mkv"])
def test_rgb_output_is_the_clis_area_scaled_rgb(name):
    path = media(name)
    frames, times = decode(path, 96, 54, rgb=True)
    expected = ffmpeg_frames(path, "scale=96:54:flags=area,format=rgb24", "rgb24", size=(96, 54))
    assert frames.dtype == np.uint8 and frames.shape == expected.shape
    assert np.abs(frames.astype(int) - expected.astype(int)).max() <= 1
    assert times.size == frames.shape[0]


def test_start_s_skips_to_the_first_frame_at_or_after_it():
    path = media("h264_aac.mp4")
    all_frames, all_times = decode(path)
    frames, times = decode(path, start_s=1.3)
    first = int(np.searchsorted(all_times, 1.3 - 1e-9))
    np.testing.assert_allclose(times, all_times[first:], atol=1e-9)
    np.testing.assert_array_equal(frames, all_frames[first:])


def test_start_s_after_the_end_gives_nothing():
    assert list(iter_frames(media("h264_aac.mp4"), start_s=60.0)) == []


def test_chunks_are_bounded_and_add_up():
    path = media("h264_aac.mp4")
    whole, whole_times = decode(path)
    chunks = list(iter_frames(path, chunk=7))
    assert all(c[0].shape[0] <= 7 for c in chunks)
    assert all(c[0].shape[0] == 7 for c in chunks[:-1])
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), whole)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), whole_times)


def test_large_rgb_chunks_are_capped(monkeypatch):
    import avsync.media.video as video

    monkeypatch.setattr(video, "_CHUNK_BYTES", 1 << 20)
    chunks = list(iter_frames(media("h264_aac.mp4"), 160, 90, rgb=True, chunk=256))
    # 43,200 bytes per frame: 1 MiB holds 24 of them.
    assert [c[0].shape[0] for c in chunks] == [24, 24, 24, 3]


def test_single_thread_decoding_gives_the_same_frames():
    path = media("h264_aac.mp4")
    threaded, _ = decode(path)
    single, _ = decode(path, threads=1)
    np.testing.assert_array_equal(threaded, single)


def test_video_info():
    info = video_info(media("h264_aac.mp4"))
    assert (info["source_width"], info["source_height"]) == (320, 240)
    assert info["average_fps"] == pytest.approx(25.0)
    assert info["duration_s"] == pytest.approx(3.0, abs=0.05)
    assert info["start_s"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"width": 0}, ValueError),
        ({"height": 9000}, ValueError),
        ({"width": 16.0}, TypeError),
        ({"width": True}, TypeError),
        ({"chunk": 0}, ValueError),
        ({"start_s": float("nan")}, ValueError),
    ],
)
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        next(iter_frames(media("h264_aac.mp4"), **kwargs))


def test_core_decoder_seek_refuses_nan_and_survives_huge_times():
    decoder = _core.VideoDecoder(str(media("h264_aac.mp4")), 16, 16)
    with pytest.raises(ValueError, match="finite"):
        decoder.seek(float("nan"))
    decoder.seek(1e300)
    assert decoder.read(5)[1].size == 0
    decoder.seek(-1e300)
    assert decoder.read(5)[1].size == 5


def test_core_decoder_refuses_an_empty_read():
    decoder = _core.VideoDecoder(str(media("h264_aac.mp4")), 16, 16)
    with pytest.raises(ValueError, match="max_frames"):
        decoder.read(0)
    frames, times = decoder.read(3)
    assert frames.shape == (3, 16, 16) and times.shape == (3,)
