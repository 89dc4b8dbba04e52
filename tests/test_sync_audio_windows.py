"""The audio estimator's search effort: anchors stop once enough agree, drift windows are measured
sparsely first and densely only when the sparse ones leave doubt. Signals made with numpy."""

import numpy as np
import pytest

from avsync.phat import gcc_phat
from avsync.sync import audio
from avsync.sync.audio import AudioTrack, estimate_audio_offset

SR = 16000


def _scene(seconds: float, seed: int) -> np.ndarray:
    """Claps and knocks (decaying noise bursts, three a second) over a quiet background, low-passed
    so that linear interpolation resamples them accurately."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = 0.02 * rng.standard_normal(n)
    decay = np.exp(-np.arange(800) / 120.0)
    for p in rng.integers(0, n - 800, int(seconds * 3)):
        x[p : p + 800] += rng.uniform(0.3, 1.0) * decay * rng.standard_normal(800)
    x = np.convolve(x, np.hanning(9), mode="same")
    return (x / np.abs(x).max()).astype(np.float32)


def _recorded(scene: np.ndarray, start_s: float, ppm: float, noise: float, seed: int) -> np.ndarray:
    """What a recorder that started ``start_s`` into the scene with a clock ``ppm`` fast hears."""
    n = scene.size - int((start_s + 1) * SR)
    t = start_s * SR + np.arange(n) * (1 - ppm * 1e-6)  # its sample k is the scene at time t[k]
    x = np.interp(t, np.arange(scene.size), scene)
    return (x + noise * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return _scene(250.0, seed=3)


def _full_grid(vid: AudioTrack) -> tuple[int, float]:
    """The number of drift windows at the finest spacing, and that spacing (s)."""
    hop = max(audio.DRIFT_WINDOW_S / 2, (vid.duration_s - audio.DRIFT_WINDOW_S) / 300)
    return int((vid.duration_s - audio.DRIFT_WINDOW_S) // hop) + 1, hop


def test_spread_order_is_a_permutation_whose_prefixes_cover_the_range():
    for k in range(1, 13):
        order = audio._spread_order(k).tolist()
        assert sorted(order) == list(range(k))
        if k > 1:
            assert order[:2] == [0, k - 1]
    first = audio._spread_order(12)[:5]
    assert all(((first >= lo) & (first < lo + 4)).any() for lo in (0, 4, 8))  # every third of the file


def test_clean_drift_needs_only_the_sparse_windows(scene):
    ref = AudioTrack(scene, SR)
    vid = AudioTrack(_recorded(scene, 3.25, 120.0, 0.01, seed=1), SR)
    est = estimate_audio_offset(ref, vid, 20.0)
    assert est.offset_s == pytest.approx(3.25, abs=1e-3)
    assert est.drift_ppm == pytest.approx(120.0, abs=2.0)
    full, hop = _full_grid(vid)
    assert hop == audio.DRIFT_WINDOW_S / 2
    assert est.window_times_s.size == (full + 1) // 2  # every other window of the full grid
    assert np.allclose(np.diff(est.window_times_s), 2 * hop)


def test_doubtful_sparse_windows_bring_in_the_rest(scene):
    ref = AudioTrack(scene, SR)
    samples = _recorded(scene, 3.25, -90.0, 0.01, seed=2)
    for start_s in (40, 150):  # stretches where this recorder heard only other things
        samples[start_s * SR : (start_s + 30) * SR] = _scene(30.0, seed=start_s)
    vid = AudioTrack(samples, SR)
    est = estimate_audio_offset(ref, vid, 20.0)
    full, _ = _full_grid(vid)
    assert est.window_times_s.size == full
    step = np.diff(est.window_times_s)
    assert np.allclose(step, step[0], atol=1e-3)  # the two passes interleave into one even grid
    assert not est.window_inliers[(est.window_times_s > 47) & (est.window_times_s < 63)].any()
    assert est.offset_s == pytest.approx(3.25, abs=1e-3)
    assert est.drift_ppm == pytest.approx(-90.0, abs=2.0)


def test_anchor_search_stops_when_enough_anchors_agree(scene, monkeypatch):
    calls = []
    real = audio._anchor
    monkeypatch.setattr(audio, "_anchor", lambda *a: calls.append(a[2]) or real(*a))
    ref = AudioTrack(scene, SR)
    vid = AudioTrack(_recorded(scene, 6.5, 150.0, 0.01, seed=4), SR)  # 36 ms over the file: the global peak smears
    assert gcc_phat(vid.samples, ref.samples, SR, 20.0).confidence < audio.GLOBAL_TRUSTED
    center = audio._anchor_search(ref, vid, 20.0)
    assert center == pytest.approx(6.5, abs=0.08)  # the anchors' median, somewhere on the drifting line
    assert len(calls) == audio.ANCHORS_ENOUGH
    assert calls[:2] == [0, vid.samples.size - int(audio.ANCHOR_WINDOW_S * SR)]  # the two ends first

    calls.clear()
    other = AudioTrack(_scene(240.0, seed=99), SR)  # unrelated: every anchor is tried, none agree
    assert audio._anchor_search(ref, other, 20.0) is None
    assert len(calls) == audio.MAX_ANCHORS


def test_window_rms_matches_a_float64_reference():
    x = np.random.default_rng(5).standard_normal(50_000).astype(np.float32)
    starts = np.array([-100, 0, 7_000, 45_000, 49_990, 60_000])
    got = audio._window_rms(x, starts, 10_000)
    want = [np.sqrt(np.mean(x[max(0, s) : max(0, s + 10_000)].astype(np.float64) ** 2)) if x[max(0, s) : max(0, s + 10_000)].size else 0.0 for s in starts]
    assert got == pytest.approx(want, rel=1e-5)
    assert AudioTrack(x, SR).rms == pytest.approx(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), rel=1e-9)
