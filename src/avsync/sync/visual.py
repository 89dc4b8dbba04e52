"""Visual offsets: normalised cross-correlation of motion-energy signals.

Motion energy (mean absolute luma change between frames) rises when something moves, whichever
camera watches it. Each signal is resampled onto a common uniform grid (cameras may run at
different, even variable, frame rates), log-compressed (exposure and contrast scale it), and
high-passed (slow light changes drift it). The normalised correlation over every lag in the search
range, with each lag normalised over its own overlap, peaks at the offset; a parabola through the
peak gives sub-frame precision.

Confidence uses the same rule as GCC-PHAT (how many standard deviations the peak stands above the
best competitor outside its main lobe), scaled by the correlation value itself, so a weak peak
that merely stands out of a flat curve is not trusted.
"""

from __future__ import annotations

import numpy as np

from avsync.media.video import MotionSignal
from avsync.sync.drift import robust_line
from avsync.sync.estimate import NO_MATCH_CONFIDENCE, PairEstimate

GRID_HZ = 100.0
HIGHPASS_S = 2.0
CORRELATION_TIME_S = 0.2  # motion-energy samples this far apart are roughly independent
GUARD_S = 0.5  # main lobe of a motion event, left out of the noise statistics
MIN_OVERLAP_S = 3.0
MIN_OVERLAP_FRACTION = 0.25
EXCESS_FLOOR = 1.5
EXCESS_SCALE = 3.0
DRIFT_WINDOW_S = 30.0
DRIFT_MIN_SPAN_S = 120.0


def prepare(signal: MotionSignal, rate: float = GRID_HZ) -> tuple[np.ndarray, float]:
    """The signal on a uniform grid starting at its first time: ``(values, t0)``."""
    t, e = signal.times_s, signal.energy.astype(np.float64)
    if t.size < 3:
        return np.zeros(0), 0.0
    # A 3-tap median removes one-frame spikes (keyframe "pops" of some encoders).
    if e.size >= 3:
        e = np.concatenate([e[:1], np.median(np.stack([e[:-2], e[1:-1], e[2:]]), axis=0), e[-1:]])
    grid = np.arange(t[0], t[-1], 1.0 / rate)
    x = np.log1p(np.interp(grid, t, e) * 4.0)
    k = max(1, int(HIGHPASS_S * rate))
    if x.size > k:
        kernel = np.ones(k) / k
        pad = np.pad(x, (k // 2, k - 1 - k // 2), mode="edge")
        x = x - np.convolve(pad, kernel, mode="valid")
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x), float(t[0])


def normalised_xcorr(a: np.ndarray, b: np.ndarray, max_lag: int | None, min_overlap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NCC of ``b`` against ``a`` for lags where ``b(t) ≈ a(t - lag)``; each lag is normalised by
    the energy of both signals over that lag's overlap. Returns ``(lags, values, overlap)``; lags
    with too little overlap get the value -1."""
    na, nb = a.size, b.size
    n = int(2 ** np.ceil(np.log2(na + nb)))
    fa, fb = np.fft.rfft(a, n), np.fft.rfft(b, n)
    ones_a, ones_b = np.fft.rfft(np.ones(na), n), np.fft.rfft(np.ones(nb), n)
    fa2, fb2 = np.fft.rfft(a * a, n), np.fft.rfft(b * b, n)
    # corr[k] = sum_t b[t] a[t - k]
    def xc(x, y):
        return np.fft.irfft(y * np.conj(x), n)

    num = xc(fa, fb)
    energy_a = xc(fa2, ones_b)  # sum over the overlap of a^2
    energy_b = xc(ones_a, fb2)
    count = np.rint(xc(ones_a, ones_b))
    lags = np.arange(-(na - 1), nb)
    idx = lags % n
    num, energy_a, energy_b, count = num[idx], energy_a[idx], energy_b[idx], count[idx]
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        lags, num, energy_a, energy_b, count = lags[keep], num[keep], energy_a[keep], energy_b[keep], count[keep]
    denom = np.sqrt(np.maximum(energy_a, 0) * np.maximum(energy_b, 0))
    vals = np.where((count >= min_overlap) & (denom > 1e-12), num / np.maximum(denom, 1e-12), -1.0)
    return lags, vals, count


def significance(vals: np.ndarray, overlap: np.ndarray, rate: float) -> np.ndarray:
    """How unlikely each lag's correlation is by chance: Fisher's z times the square root of the
    number of roughly independent samples in its overlap. A correlation over a short overlap is
    easily high by chance; this ranks lags by evidence, not by the bare coefficient."""
    independent = np.maximum(overlap / (CORRELATION_TIME_S * rate) - 3.0, 0.0)
    z = np.arctanh(np.clip(vals, -0.999, 0.999)) * np.sqrt(independent)
    return np.where(vals > -1.0, z, -np.inf)


def _confidence(z: np.ndarray, r_peak: float, i: int, guard: int) -> float:
    mask = np.isfinite(z)
    mask[max(0, i - guard) : i + guard + 1] = False
    if mask.sum() < 10:
        return 0.0
    rest = z[mask]
    std = rest.std()
    if std <= 1e-12:
        return 0.0
    excess = (z[i] - rest.max()) / std - EXCESS_FLOOR
    if excess <= 0:
        return 0.0
    return float((1 - np.exp(-excess / EXCESS_SCALE)) * np.clip(r_peak / 0.5, 0.0, 1.0))


def _parabolic(vals: np.ndarray, i: int) -> float:
    if 0 < i < vals.size - 1:
        y0, y1, y2 = vals[i - 1], vals[i], vals[i + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            return float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5))
    return 0.0


def estimate_visual_offset(ref: MotionSignal, vid: MotionSignal, max_offset_s: float | None, *, drift: bool = True, keep_curve: bool = False) -> PairEstimate:
    """Offset of ``vid`` against ``ref`` from their motion energy (``vid`` started ``offset_s``
    seconds after ``ref``). ``max_offset_s`` None or 0 searches the whole overlap."""
    a, ta = prepare(vid)
    b, tb = prepare(ref)
    est = PairEstimate(method="visual", offset_s=None, confidence=0.0)
    if a.size < 10 or b.size < 10 or not a.any() or not b.any():
        est.note = "too little motion to compare"
        return est
    rate = GRID_HZ
    min_overlap = int(max(MIN_OVERLAP_S, MIN_OVERLAP_FRACTION * min(a.size, b.size) / rate) * rate)
    min_overlap = min(min_overlap, int(0.9 * min(a.size, b.size)))
    # Grid origins differ by the first motion times: lag L means ref(t) = vid(t - L) on the grids.
    origin = tb - ta
    max_lag = None if not max_offset_s else int(np.ceil((max_offset_s + abs(origin)) * rate))
    lags, vals, overlap = normalised_xcorr(a, b, max_lag, min_overlap)
    z = significance(vals, overlap, rate)
    i = int(np.argmax(z))
    if not np.isfinite(z[i]) or vals[i] <= 0:
        est.note = "no overlap with a positive correlation"
        return est
    lag = (lags[i] + _parabolic(vals, i)) / rate
    # ref grid sample j is at tb + j/rate, vid grid sample at ta + j/rate: offset = lag + origin... as
    # ref(t) = vid(t - lag) on grids: ref time tb + u <-> vid time ta + u - lag.
    offset = lag + tb - ta
    est.offset_s = float(offset)
    est.confidence = _confidence(z, float(vals[i]), i, int(GUARD_S * rate))
    est.global_offset_s, est.global_confidence = est.offset_s, est.confidence
    if keep_curve:
        est.curve = (lags / rate + tb - ta, vals)
    if max_offset_s and abs(offset) > max_offset_s + 1e-9:
        est.note = f"best match at {offset:+.3f} s lies outside the search range ±{max_offset_s:g} s"
        est.confidence = min(est.confidence, NO_MATCH_CONFIDENCE * 0.5)
    if drift and est.confidence >= NO_MATCH_CONFIDENCE:
        _visual_drift(a, ta, b, tb, est)
    if est.confidence < NO_MATCH_CONFIDENCE:
        est.offset_s = None
    return est


def _visual_drift(a: np.ndarray, ta: float, b: np.ndarray, tb: float, est: PairEstimate) -> None:
    """Windows of the video's signal matched near the global offset: drift on long recordings."""
    rate = GRID_HZ
    win = int(DRIFT_WINDOW_S * rate)
    if a.size < 4 * win or est.offset_s is None:
        return
    hop = max(win // 2, (a.size - win) // 200)
    reach = int((0.2 + 1e-3 * a.size / rate) * rate)
    times, offsets, confs = [], [], []
    for s in range(0, a.size - win + 1, hop):
        # vid grid s <-> ref time ta + s/rate + offset  -> ref grid index
        j0 = int(round((ta + s / rate + est.offset_s - tb) * rate)) - reach
        lo, hi = max(0, j0), min(b.size, j0 + win + 2 * reach)
        if hi - lo < win:
            continue
        lags, vals, _ = normalised_xcorr(a[s : s + win], b[lo:hi], None, int(0.8 * win))
        i = int(np.argmax(vals))
        if vals[i] <= 0.3:
            continue
        lag = (lags[i] + _parabolic(vals, i)) / rate
        times.append(ta + (s + win / 2) / rate)
        offsets.append(lag + lo / rate + tb - ta - s / rate)
        confs.append(float(vals[i]))
    if len(times) < 4 or np.ptp(times) < DRIFT_MIN_SPAN_S:
        return
    fit = robust_line(np.array(times), np.array(offsets), np.array(confs), min_tolerance=0.5 / rate)
    if fit is None or fit.inliers.sum() < 4:
        return
    est.window_times_s, est.window_offsets_s = np.array(times), np.array(offsets)
    est.window_confidence, est.window_inliers = np.array(confs), fit.inliers
    est.offset_s = fit.intercept
    est.drift_ppm = fit.drift_ppm
