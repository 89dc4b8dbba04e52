"""pytest-benchmark suites for the native core (timings only; comparisons with other tools are
in compare_core.py).

    python -m pytest benchmarks/test_bench_core.py --benchmark-only
    python -m pytest benchmarks/test_bench_core.py --benchmark-only --benchmark-compare   # vs the last saved run
"""

from __future__ import annotations

import bench_media
import numpy as np
import pytest

import avsync
from avsync import _core
from avsync.media.video import iter_frames
from avsync.phat import gcc_phat_windowed

ROUNDS = 3


@pytest.fixture(scope="module")
def media_dir():
    return bench_media.DEFAULT_DIR


@pytest.fixture(scope="module")
def clip(media_dir):
    return bench_media.clip_1080p(media_dir, 20)


@pytest.fixture(scope="module")
def audio(media_dir):
    return bench_media.long_audio(media_dir, 10)


@pytest.fixture(scope="module")
def minute_pair():
    return bench_media.signal_pair(60.0)


@pytest.fixture(scope="module")
def ten_minute_pair():
    return bench_media.signal_pair(600.0)


def run(benchmark, fn, *args, **kwargs):
    return benchmark.pedantic(fn, args=args, kwargs=kwargs, rounds=ROUNDS, iterations=1, warmup_rounds=0)


def test_motion_energy_1080p(benchmark, clip):
    signal = run(benchmark, avsync.motion_energy, clip)
    benchmark.extra_info["frames"] = signal.frames


def test_motion_energy_1080p_one_thread(benchmark, clip):
    run(benchmark, avsync.motion_energy, clip, threads=1)


def test_luma_frames_1080p(benchmark, clip):
    run(benchmark, lambda: sum(f.shape[0] for f, _ in iter_frames(clip)))


def test_rgb_frames_1080p_to_224(benchmark, clip):
    run(benchmark, lambda: sum(f.shape[0] for f, _ in iter_frames(clip, 224, 224, rgb=True)))


def test_read_audio_10_minutes(benchmark, audio):
    run(benchmark, avsync.read_audio, audio)


def test_probe(benchmark, clip):
    benchmark(_core.probe, str(clip))


def test_gcc_phat_1_minute(benchmark, minute_pair):
    run(benchmark, avsync.gcc_phat, *minute_pair, 16000)


def test_gcc_phat_10_minutes(benchmark, ten_minute_pair):
    run(benchmark, avsync.gcc_phat, *ten_minute_pair, 16000)


def test_gcc_phat_10_minutes_bounded(benchmark, ten_minute_pair):
    """Lags within ±20 s only: a shorter FFT."""
    run(benchmark, avsync.gcc_phat, *ten_minute_pair, 16000, max_delay_s=20.0)


def test_gcc_phat_10_minutes_one_thread(benchmark, ten_minute_pair):
    run(benchmark, avsync.gcc_phat, *ten_minute_pair, 16000, threads=1)


def test_gcc_phat_windowed_10_minutes(benchmark, ten_minute_pair):
    """20-second windows every 10 s, ±0.5 s around the known offset: the drift estimate's input."""
    w = run(benchmark, gcc_phat_windowed, *ten_minute_pair, 16000, 20.0, 10.0, 0.5, 3.2)
    assert np.median(w.delay_s) == pytest.approx(3.217, abs=1e-3)
