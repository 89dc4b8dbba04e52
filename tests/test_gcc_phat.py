"""GCC-PHAT (avsync.gcc_phat, avsync.phat) against a plain numpy float64 implementation, on
signals with known integer and fractional delays (hypothesis), in windowed mode on a drifting
signal, and on the real timbl pair."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import avsync
from avsync import _core, phat
from avsync.phat import gcc_phat_windowed, phat_correlation

SETTINGS = settings(max_examples=60, deadline=None)


# --- independent references -----------------------------------------------------------------


def numpy_phat(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Textbook GCC-PHAT in float64: lags -(len(a)-1) .. len(b)-1 and their correlation."""
    spectrum = np.fft.rfft(b, n) * np.conj(np.fft.rfft(a, n))
    circular = np.fft.irfft(spectrum / np.maximum(np.abs(spectrum), 1e-300), n)
    lags = np.arange(-(a.size - 1), b.size)
    return lags, circular[lags % n]


def delayed(x: np.ndarray, delay: float) -> np.ndarray:
    """x delayed by ``delay`` samples (any real number) by a phase shift in the frequency domain
    (circular: use the middle of the result)."""
    spectrum = np.fft.rfft(x)
    spectrum *= np.exp(-2j * np.pi * np.fft.rfftfreq(x.size) * delay)
    if x.size % 2 == 0:
        spectrum[-1] = 0.0  # the Nyquist bin cannot carry a fractional delay
    return np.fft.irfft(spectrum, x.size)


def coloured_noise(rng: np.random.Generator, n: int, pole: float) -> np.ndarray:
    """White noise through a one-pole low-pass (pole 0: white; 0.9: strongly low-pass)."""
    from scipy.signal import lfilter

    return lfilter([1.0], [1.0, -pole], rng.standard_normal(n))


def pair(seed: int, length: int, delay: float, pole: float = 0.0, noise: float = 0.0):
    """(a, b) of ``length`` samples with b(t) = a(t - delay) plus independent noise."""
    rng = np.random.default_rng(seed)
    margin = 1024
    base = coloured_noise(rng, length + 2 * margin, pole)
    a = base[margin:-margin]
    b = delayed(base, delay)[margin:-margin]
    b = b + noise * b.std() * rng.standard_normal(b.size)
    return a.astype(np.float32), b.astype(np.float32)


# --- against the numpy implementation ---------------------------------------------------------


@pytest.mark.parametrize(
    "na, nb, max_lag",
    [
        (3000, 2401, None),  # na + nb - 1 = 5400 = 2^3 3^3 5^2: both sides use the same FFT size
        (4000, 4000, 500),  # max(na, nb) + max_lag = 4500 = 2^2 3^2 5^3
        (1, 6400, None),
        # Long transforms take another path (complex four-step FFTs): 40500 = 2^2 3^4 5^3
        (20250, 20251, None),
        (30000, 30000, 10500),
        (100, 40401, None),
    ],
)
def test_correlation_matches_numpy(na, nb, max_lag):
    rng = np.random.default_rng(na + nb)
    a = rng.standard_normal(na).astype(np.float32)
    b = rng.standard_normal(nb).astype(np.float32)
    b[300 : 300 + min(na, nb - 300)] += a[: min(na, nb - 300)]  # a real peak among the noise
    n = na + nb - 1 if max_lag is None else max(na, nb) + max_lag
    lags, expected = numpy_phat(a.astype(np.float64), b.astype(np.float64), n)
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        lags, expected = lags[keep], expected[keep]
    got_lags, got = phat_correlation(a, b, 1.0, max_delay_s=max_lag)
    np.testing.assert_array_equal(got_lags, lags)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)


def test_peak_statistics_match_numpy():
    a, b = pair(seed=1, length=3038, delay=123.0, noise=1.0)
    lags, values = numpy_phat(a.astype(np.float64), b.astype(np.float64), 6075)  # 3^5 5^2: the same FFT size
    r = _core.gcc_phat(a, b, -1, 16)
    best = int(np.argmax(values))
    assert r["lag"] == lags[best] == 123
    assert r["peak"] == pytest.approx(values[best], abs=2e-5)
    outside = np.abs(lags - lags[best]) > 16
    assert r["second_peak"] == pytest.approx(values[outside].max(), abs=2e-5)
    assert r["noise_mean"] == pytest.approx(values[outside].mean(), abs=1e-6)
    assert r["noise_std"] == pytest.approx(values[outside].std(), rel=1e-3)
    assert r["lags_searched"] == values.size
    z1 = (r["peak"] - r["noise_mean"]) / r["noise_std"]
    z2 = (r["second_peak"] - r["noise_mean"]) / r["noise_std"]
    expected_confidence = 1 - np.exp(-max(0.0, z1 - z2 - _core.CONFIDENCE_EXCESS_FLOOR) / _core.CONFIDENCE_EXCESS_SCALE)
    assert r["confidence"] == pytest.approx(expected_confidence, rel=1e-9)
    assert _core.phat_confidence(r["peak"], r["second_peak"], r["noise_mean"], r["noise_std"]) == r["confidence"]


# --- known delays ------------------------------------------------------------------------------


# Signals of 1500-9000 samples, white to strongly low-pass, delayed by up to a third of their
# length (at least two thirds overlap).
SIGNALS = {
    "seed": st.integers(0, 2**32 - 1),
    "length": st.integers(1500, 9000),
    "delay_fraction": st.floats(-1 / 3, 1 / 3),
    "pole": st.floats(0.0, 0.9),
}


@SETTINGS
@given(**SIGNALS)
def test_integer_delays(seed, length, delay_fraction, pole):
    delay = round(delay_fraction * length)
    a, b = pair(seed, length, float(delay), pole)
    r = avsync.gcc_phat(a, b, 8000.0)
    assert round(r.delay_samples) == delay
    assert r.delay_samples == pytest.approx(delay, abs=0.05)
    assert r.delay_s == pytest.approx(delay / 8000.0, abs=0.05 / 8000.0)
    assert r.confidence > 0.9


@SETTINGS
@given(**SIGNALS, noise=st.floats(0.0, 0.1))
def test_fractional_delays_to_a_fraction_of_a_sample(seed, length, delay_fraction, pole, noise):
    delay = delay_fraction * length
    a, b = pair(seed, length, delay, pole, noise)
    r = avsync.gcc_phat(a, b, 16000.0)
    assert r.delay_samples == pytest.approx(delay, abs=0.05)


@pytest.mark.parametrize("frac", [0.1, 0.25, 0.4, 0.5, 0.75])
def test_no_bias_towards_whole_samples(frac):
    """The sub-sample refinement is unbiased: over 20 white-noise pairs the mean error is far below
    the spread of a windowed-sinc interpolation (which pulls 0.25 towards 0 by ~0.03)."""
    errors = [avsync.gcc_phat(*pair(s, 6000, 37 + frac), 1.0).delay_samples - (37 + frac) for s in range(20)]
    assert abs(np.mean(errors)) < 0.003


def test_sign_convention_round_trip():
    """b(t) = a(t - d): b has the content later, delay_s is positive; swapping gives -d."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal(16000).astype(np.float32)
    b = np.concatenate([np.zeros(800, np.float32), a])  # a starts 50 ms into b
    assert avsync.gcc_phat(a, b, 16000).delay_s == pytest.approx(0.05, abs=1e-6)
    assert avsync.gcc_phat(b, a, 16000).delay_s == pytest.approx(-0.05, abs=1e-6)


def test_max_delay_bounds_the_search():
    a, b = pair(seed=2, length=8000, delay=900.0)
    assert avsync.gcc_phat(a, b, 1000.0).delay_samples == pytest.approx(900, abs=0.02)
    bounded = avsync.gcc_phat(a, b, 1000.0, max_delay_s=0.5)
    assert abs(bounded.delay_samples) <= 500 and bounded.confidence < 0.2


def test_infinite_max_delay_searches_everything():
    a, b = pair(seed=2, length=8000, delay=900.0)
    assert avsync.gcc_phat(a, b, 1000.0, max_delay_s=float("inf")) == avsync.gcc_phat(a, b, 1000.0)


def test_unrelated_signals_have_low_confidence():
    rng = np.random.default_rng(9)
    for _ in range(10):
        a = coloured_noise(rng, 16000, 0.5).astype(np.float32)
        b = coloured_noise(rng, 16000, 0.5).astype(np.float32)
        r = avsync.gcc_phat(a, b, 16000)
        assert r.confidence < 0.2 and r.peak < 0.1


def test_dtypes_and_shapes():
    a, b = pair(seed=3, length=3000, delay=40.0)
    expected = avsync.gcc_phat(a, b, 1.0).delay_samples
    assert avsync.gcc_phat(a.astype(np.float64), b.astype(np.float64), 1.0).delay_samples == pytest.approx(expected, abs=1e-3)
    ints = (a * 1000).astype(np.int16), (b * 1000).astype(np.int16)
    assert avsync.gcc_phat(*ints, 1.0).delay_samples == pytest.approx(expected, abs=0.05)
    assert avsync.gcc_phat(list(a), list(b), 1.0).delay_samples == pytest.approx(expected, abs=1e-3)
    assert avsync.gcc_phat(a[::2], b[::2], 1.0).delay_samples == pytest.approx(20, abs=0.05)  # strided views


@pytest.mark.parametrize(
    "a, b, error, match",
    [
        (np.zeros(0, np.float32), np.ones(10, np.float32), ValueError, "non-empty"),
        (np.ones((2, 5), np.float32), np.ones(10, np.float32), ValueError, "1-D"),
        (np.ones(10, np.complex64), np.ones(10, np.float32), TypeError, "real"),
        (np.array([1.0, np.nan, 2.0], np.float32), np.ones(10, np.float32), ValueError, "index 1"),
        (np.ones(10, np.float32), np.array([0.0, 1.0, np.inf]), ValueError, "b holds"),
    ],
)
def test_bad_signals(a, b, error, match):
    with pytest.raises(error, match=match):
        avsync.gcc_phat(a, b, 16000)


@pytest.mark.parametrize(
    "kwargs",
    [{"sample_rate": 0}, {"sample_rate": float("nan")}, {"max_delay_s": -1.0}, {"max_delay_s": float("nan")}, {"threads": -1}],
)
def test_bad_arguments(kwargs):
    a = np.ones(100, np.float32)
    args = {"sample_rate": 16000, **kwargs}
    with pytest.raises(ValueError):
        avsync.gcc_phat(a, a, **args)


def test_threads_do_not_change_the_result():
    a, b = pair(seed=4, length=100_000, delay=1234.5, noise=0.5)
    one = _core.gcc_phat(a, b, -1, 16, 1)
    two = _core.gcc_phat(a, b, -1, 16, 2)
    assert one == two


# --- windowed mode -------------------------------------------------------------------------


def bursts(rng: np.random.Generator, duration: float, count: int) -> dict[str, np.ndarray]:
    """Random short tone bursts (clicks to blips): a broadband signal that can be evaluated at
    any instant, so a drifting copy needs no resampler."""
    return {
        "t": rng.uniform(0.0, duration, count),
        "f": rng.uniform(100.0, 7000.0, count),
        "s": rng.uniform(0.0002, 0.004, count),
        "amp": rng.uniform(0.2, 1.0, count),
        "phase": rng.uniform(0.0, 2 * np.pi, count),
    }


def render(b: dict[str, np.ndarray], times: np.ndarray) -> np.ndarray:
    out = np.zeros(times.size)
    step = times[1] - times[0]
    for t, f, s, amp, phase in zip(b["t"], b["f"], b["s"], b["amp"], b["phase"]):
        i0 = max(0, int((t - 5 * s - times[0]) / step))
        i1 = min(times.size, int((t + 5 * s - times[0]) / step) + 2)
        u = times[i0:i1] - t
        out[i0:i1] += amp * np.exp(-0.5 * (u / s) ** 2) * np.sin(2 * np.pi * f * u + phase)
    return out


def test_windowed_follows_clock_drift():
    """b runs 100 ppm slow and starts 0.5 s late: b(t) = a(t / (1 + 1e-4) - 0.5). Each window's
    delay is the delay at its centre, and a line through them gives the drift."""
    rate, duration, drift, offset = 16000, 60.0, 100e-6, 0.5
    rng = np.random.default_rng(4)
    events = bursts(rng, duration + 2, 4000)
    t = np.arange(int(duration * rate)) / rate
    a = (render(events, t) + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)
    b = (render(events, t / (1 + drift) - offset) + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)

    w = gcc_phat_windowed(a, b, rate, window_s=2.0, hop_s=1.0, max_delay_s=0.05, center_delay_s=offset)
    truth = w.times_s - (w.times_s / (1 + drift) - offset)
    valid = w.confidence > 0.5
    # The first window of b would need a before its start: reported, with confidence 0.
    assert w.confidence[0] == 0.0 and valid[1:].all()
    assert np.abs(w.delay_s[valid] - truth[valid]).max() < 0.15e-3
    slope, intercept = np.polyfit(w.times_s[valid], w.delay_s[valid], 1)
    assert slope * 1e6 == pytest.approx(100.0, abs=3.0)
    assert intercept == pytest.approx(offset, abs=0.1e-3)
    np.testing.assert_allclose(np.diff(w.times_s), 1.0)


def test_windowed_matches_full_length_on_each_window():
    a, b = pair(seed=6, length=48000, delay=-321.25, noise=0.2)
    w = gcc_phat_windowed(a, b, 16000, window_s=0.5, hop_s=0.5, max_delay_s=0.04, center_delay_s=-0.02)
    valid = w.confidence > 0
    assert valid.sum() >= w.delay_s.size - 1
    np.testing.assert_allclose(w.delay_s[valid] * 16000, -321.25, atol=0.05)


def test_windowed_silence_and_out_of_range_windows_get_zero_confidence():
    a, b = pair(seed=7, length=32000, delay=100.0)
    b[8000:16000] = 0.0  # the second and third 4000-sample windows are silent
    w = gcc_phat_windowed(a, b, 8000, window_s=0.5, hop_s=0.5, max_delay_s=0.05)
    assert w.confidence.size == 8
    np.testing.assert_array_equal(w.confidence[2:4], 0.0)
    np.testing.assert_allclose(w.delay_s[np.r_[0:2, 4:8]] * 8000, 100.0, atol=0.05)
    far = gcc_phat_windowed(a, b, 8000, window_s=0.5, hop_s=0.5, max_delay_s=0.05, center_delay_s=100.0)
    np.testing.assert_array_equal(far.confidence, 0.0)


def test_windowed_threads_do_not_change_the_result():
    a, b = pair(seed=8, length=64000, delay=55.5, noise=0.3)
    args = (a, b, 1600, 800, 200, 0, 16)
    one = _core.gcc_phat_windowed(*args, 1)
    many = _core.gcc_phat_windowed(*args, 5)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_s": 0.0}, {"hop_s": -1.0}, {"max_delay_s": 0.0}, {"window_s": float("nan")},
        {"max_delay_s": float("inf")}, {"center_delay_s": float("nan")}, {"threads": -2},
    ],
)
def test_windowed_bad_arguments(kwargs):
    a = np.ones(1000, np.float32)
    args = {"window_s": 0.1, "hop_s": 0.1, "max_delay_s": 0.01, **kwargs}
    with pytest.raises(ValueError):
        gcc_phat_windowed(a, a, 8000, **args)


def test_windowed_refuses_absurd_sizes_instead_of_overflowing():
    a = np.ones(1000, np.float32)
    with pytest.raises(ValueError, match="2\\^40"):
        _core.gcc_phat_windowed(a, a, 100, 100, 2**62)


def test_docstring_examples():
    assert doctest.testmod(phat).failed == 0


# --- real recordings ----------------------------------------------------------------------------


@pytest.mark.realmedia
def test_timbl_pair(shared_media):
    """timbl_2 is timbl_1 with its first 12.254 s cut off: timbl_1's content comes 12.254 s later."""
    one = avsync.read_audio(shared_media / "multicam" / "timbl_1.mp3")
    two = avsync.read_audio(shared_media / "multicam" / "timbl_2.mp3")
    r = avsync.gcc_phat(two, one, 16000)
    assert r.delay_s == pytest.approx(12.254, abs=1e-3)
    assert r.confidence > 0.9
    assert avsync.gcc_phat(one, two, 16000).delay_s == pytest.approx(-12.254, abs=1e-3)


@pytest.mark.realmedia
def test_real_pair_that_does_not_overlap(shared_media):
    a = avsync.read_audio(shared_media / "multicam" / "r4_excerpt.ogg")
    b = avsync.read_audio(shared_media / "multicam" / "r4_excerpt2.ogg")
    assert avsync.gcc_phat(a, b, 16000).confidence < 0.2
