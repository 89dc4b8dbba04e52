"""Motion energy (avsync.motion_energy) against numpy on the frames the ffmpeg CLI decodes: the
Y plane, box-averaged in numpy, mean absolute change between consecutive frames, at the midpoint
of ffprobe's timestamps."""

from __future__ import annotations

import numpy as np
import pytest
from core_media import box_average, ffmpeg_luma, ffprobe_video, media

import avsync
from avsync import _core
from avsync.media.video import MotionSignal


def reference(name: str, width: int = 160, height: int = 90, ten_bit: bool = False):
    path = media(name)
    grid = box_average(ffmpeg_luma(path, ten_bit=ten_bit), width, height) / (4.0 if ten_bit else 1.0)
    times = ffprobe_video(path)["times_s"]
    energy = np.abs(np.diff(grid, axis=0)).mean(axis=(1, 2))
    return grid, 0.5 * (times[1:] + times[:-1]), energy


@pytest.mark.parametrize("name", ["h264_aac.mp4", "h264_10bit.mkv", "odd_size.mkv", "vfr.mkv", "yuyv422.nut"])
def test_matches_numpy_on_the_clis_frames(name):
    grid, times, energy = reference(name, ten_bit="10bit" in name)
    signal = avsync.motion_energy(media(name))
    assert isinstance(signal, MotionSignal)
    assert signal.energy.dtype == np.float32 and signal.times_s.dtype == np.float64
    assert len(signal) == energy.size == grid.shape[0] - 1
    assert signal.frames == grid.shape[0]
    np.testing.assert_allclose(signal.times_s, times, rtol=0, atol=1e-6)
    np.testing.assert_allclose(signal.energy, energy, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(signal.mean_luma, grid[1:].mean(axis=(1, 2)), rtol=1e-5, atol=1e-3)
    assert energy.max() > 1.0  # the clips move: the comparison is not 0 == 0


def test_other_grid_size():
    grid, times, energy = reference("h264_aac.mp4", 64, 48)
    signal = avsync.motion_energy(media("h264_aac.mp4"), width=64, height=48)
    assert signal.grid_size == (64, 48)
    np.testing.assert_allclose(signal.energy, energy, rtol=1e-5, atol=1e-4)


def test_region_of_interest():
    """A region aligned with the 2x2 bins of a 160x120 grid on the 320x240 source: the energy is
    the mean change inside exactly those bins."""
    grid, _, _ = reference("h264_aac.mp4", 160, 120)
    roi = (40, 60, 100, 80)  # x, y, w, h in source pixels -> grid columns 20..69, rows 30..69
    signal = avsync.motion_energy(media("h264_aac.mp4"), width=160, height=120, roi=roi)
    inside = grid[:, 30:70, 20:70]
    np.testing.assert_allclose(signal.energy, np.abs(np.diff(inside, axis=0)).mean(axis=(1, 2)), rtol=1e-5, atol=1e-4)
    whole = avsync.motion_energy(media("h264_aac.mp4"), width=160, height=120)
    assert not np.allclose(signal.energy, whole.energy)


def test_core_reader_refuses_non_finite_regions():
    with pytest.raises(ValueError, match="finite"):
        _core.MotionReader(str(media("h264_aac.mp4")), 16, 16, [0.0, float("nan"), 10.0, 10.0])


def test_unaligned_region_covers_the_requested_pixels():
    reader = _core.MotionReader(str(media("h264_aac.mp4")), 160, 90, [10.5, 7.0, 33.0, 50.0])
    x0, y0, x1, y1 = reader.roi
    # Source pixels per bin: 2 horizontally, 240/90 vertically; the bins must cover the region.
    assert x0 * 2 <= 10.5 and x1 * 2 >= 43.5
    assert y0 * 240 / 90 <= 7.0 and y1 * 240 / 90 >= 57.0
    assert (x1 - x0) * 2 <= 33.0 + 2 * 2 and (y1 - y0) * 240 / 90 <= 50.0 + 2 * 240 / 90


def test_a_flash_shows_at_its_time(tmp_path):
    """A still picture with one white frame at 1.00 s: the energy peaks at the two frame pairs
    around it (times 0.98 and 1.02) and is zero elsewhere."""
    from avsync.media.ffmpeg import run_ffmpeg

    path = tmp_path / "flash.mkv"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "color=c=gray:size=160x90:rate=25:duration=2",
         "-vf", "drawbox=color=white:t=fill:enable='eq(n,25)'", "-c:v", "ffv1", path],
        what="making the flash clip",
    )
    signal = avsync.motion_energy(path)
    peaks = np.sort(signal.times_s[np.argsort(signal.energy)[-2:]])
    np.testing.assert_allclose(peaks, [0.98, 1.02], atol=1e-6)
    assert np.all(np.delete(signal.energy, np.argsort(signal.energy)[-2:]) == 0.0)
    assert signal.energy.max() > 50.0


def test_signal_fields():
    signal = avsync.motion_energy(media("h264_aac.mp4"))
    assert signal.fps == pytest.approx(25.0)
    assert signal.source_size == (320, 240)
    assert signal.grid_size == (160, 90)
    assert signal.duration_s == pytest.approx(signal.times_s[-1] - signal.times_s[0])
    assert signal.path == str(media("h264_aac.mp4"))


def test_threads_do_not_change_the_result():
    threaded = avsync.motion_energy(media("h264_aac.mp4"))
    single = avsync.motion_energy(media("h264_aac.mp4"), threads=1)
    np.testing.assert_array_equal(threaded.energy, single.energy)
    np.testing.assert_array_equal(threaded.times_s, single.times_s)


def test_single_frame_video_has_no_energy(tmp_path):
    from avsync.media.ffmpeg import run_ffmpeg

    path = tmp_path / "one.mkv"
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-frames:v", "1", "-c:v", "ffv1", path], what="one frame")
    signal = avsync.motion_energy(path)
    assert len(signal) == 0 and signal.frames == 1 and signal.duration_s == 0.0


@pytest.mark.parametrize(
    "roi, error",
    [
        ((1, 2, 3), ValueError),
        ((0, 0, 0, 10), ValueError),
        ((0, 0, 10, -1), ValueError),
        ((-5, 0, 10, 10), ValueError),
        ((400, 0, 10, 10), ValueError),  # outside the 320x240 frame
        ((float("nan"), 0, 10, 10), ValueError),
        ((0, 0, float("inf"), 10), ValueError),
    ],
)
def test_bad_regions(roi, error):
    with pytest.raises(error, match="roi"):
        avsync.motion_energy(media("h264_aac.mp4"), roi=roi)


def peak_rss_mb(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process running ``code``: its VmHWM (rusage's
    ru_maxrss would include the parent's resident size at fork)."""
    import subprocess
    import sys

    script = f"{code}\nprint(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True).stdout
    return int(out.split()[-1]) / 1024


@pytest.mark.slow
def test_memory_does_not_grow_with_the_videos_length(tmp_path):
    """Peak memory of motion_energy on 10 s and 120 s of 640x360 video, each in a fresh process:
    the same within a few MB (the 12 times longer video would need 12 times the frame buffers
    if frames were kept)."""
    from avsync.media.ffmpeg import run_ffmpeg

    peaks = []
    for seconds in (10, 120):
        path = tmp_path / f"{seconds}s.mp4"
        run_ffmpeg(
            ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}",
             "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", path],
            what="making the clip",
        )
        peaks.append(peak_rss_mb(f"import avsync; s = avsync.motion_energy({str(path)!r}); assert len(s) == {seconds * 25 - 1}"))
    assert peaks[1] - peaks[0] < 8, f"peak RSS {peaks[0]:.0f} MB for 10 s, {peaks[1]:.0f} MB for 120 s"
