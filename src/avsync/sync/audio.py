"""Audio offsets by GCC-PHAT, with clock drift from windowed GCC-PHAT.

1. One GCC-PHAT over the whole signals within the search range gives the offset (sub-sample).
2. Under clock drift that single peak smears out (50 ppm over 5 minutes is enough to lose it), so
   when it is weak, short anchor windows spread over the video are searched on their own and a
   consistent set of them gives the offset instead of declaring ``no_match``.
3. Windows every few seconds, each searched close to that offset, give the offset over time; a
   robust line through them gives ``drift_ppm`` and the offset at the video's start.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.phat import gcc_phat, gcc_phat_windowed
from avsync.sync.drift import robust_line
from avsync.sync.estimate import NO_MATCH_CONFIDENCE, PairEstimate

GLOBAL_TRUSTED = 0.5  # a global peak this clear needs no anchor search
ANCHOR_WINDOW_S = 15.0
MAX_ANCHORS = 12
DRIFT_WINDOW_S = 10.0
DRIFT_MIN_SPAN_S = 60.0  # shorter overlaps: drift is not estimated (it would be noise)
MAX_DRIFT_PPM = 1000.0
WINDOW_MIN_CONFIDENCE = 0.2


@dataclass(frozen=True)
class AudioTrack:
    """Mono samples of one file and where its first sample sits in the file's timeline."""

    samples: np.ndarray  # float32
    sample_rate: int
    start_s: float = 0.0  # the audio stream's start relative to the file's start

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if self.samples.size else 0.0


def estimate_audio_offset(ref: AudioTrack, vid: AudioTrack, max_offset_s: float | None, *, drift: bool = True) -> PairEstimate:
    """Offset of ``vid`` against ``ref`` (``vid`` started ``offset_s`` seconds after ``ref``).

    ``max_offset_s`` bounds the search; ``None`` or 0 searches the whole overlap.
    """
    if ref.sample_rate != vid.sample_rate:
        raise ValueError("both tracks must have the same sample rate")
    sr = ref.sample_rate
    bound = None if not max_offset_s else float(max_offset_s)
    # Audio timelines -> file timelines: offset_file = offset_audio + ref.start_s - vid.start_s.
    start_shift = ref.start_s - vid.start_s
    search = None if bound is None else bound + abs(start_shift)

    g = gcc_phat(vid.samples, ref.samples, sr, search)
    est = PairEstimate(method="audio", offset_s=None, confidence=0.0, global_offset_s=g.delay_s + start_shift, global_confidence=g.confidence)

    center = g.delay_s if g.confidence >= GLOBAL_TRUSTED else None
    if center is None:
        center = _anchor_search(ref, vid, search)
        if center is not None:
            est.note = "global correlation weak; offset found by anchor windows (clock drift?)"
    if center is None:
        center, best = g.delay_s, g.confidence
        est.offset_s, est.confidence = center + start_shift, best
    else:
        est.offset_s, est.confidence = center + start_shift, max(g.confidence, 0.0)
        if drift:
            _refine_with_windows(ref, vid, center, est, start_shift)

    if bound is not None and est.offset_s is not None and abs(est.offset_s) > bound + 1e-9:
        est.note = f"best match at {est.offset_s:+.3f} s lies outside the search range ±{bound:g} s"
        est.confidence = min(est.confidence, NO_MATCH_CONFIDENCE * 0.5)
    if est.confidence < NO_MATCH_CONFIDENCE:
        est.offset_s = None
        est.drift_ppm = 0.0
    return est


def _window_rms(x: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    s = np.clip(starts, 0, x.size)
    e = np.clip(starts + length, 0, x.size)
    n = np.maximum(e - s, 1)
    return np.sqrt((c[e] - c[s]) / n)


def _anchor_search(ref: AudioTrack, vid: AudioTrack, search: float | None) -> float | None:
    """Searches a few short windows of ``vid`` on their own; returns the offset (audio timeline)
    a consistent group of them agrees on, or None."""
    sr = ref.sample_rate
    n = vid.samples.size
    win = min(int(ANCHOR_WINDOW_S * sr), n)
    if win < sr:  # under a second of audio: nothing more to learn
        return None
    k = int(np.clip(n // win, 1, MAX_ANCHORS))
    starts = np.linspace(0, n - win, k).astype(int) if k > 1 else np.array([0])
    loud = _window_rms(vid.samples, starts, win) > 0.05 * max(vid.rms, 1e-8)
    times, offsets, confs = [], [], []
    for s in starts[loud]:
        piece = vid.samples[s : s + win]
        if search is None:
            r = gcc_phat(piece, ref.samples, sr, None)
        else:
            lo = max(0, s - int(search * sr))
            hi = min(ref.samples.size, s + win + int(search * sr))
            if hi - lo < win // 2:
                continue
            r = gcc_phat(piece, ref.samples[lo:hi], sr, None)
            r = _shifted(r, lo / sr)
            if abs(r.delay_s - s / sr) > search:
                continue
        times.append(s / sr)
        offsets.append(r.delay_s - s / sr)
        confs.append(r.confidence)
    if not offsets:
        return None
    t, o, c = np.array(times), np.array(offsets), np.array(confs)
    good = c >= WINDOW_MIN_CONFIDENCE
    if not good.any():
        return None
    best_support, best = 0, None
    for i in np.flatnonzero(good):
        agree = good & (np.abs(o - o[i]) <= 0.02 + MAX_DRIFT_PPM * 1e-6 * np.abs(t - t[i]))
        support = int(agree.sum())
        if support > best_support or (support == best_support and best is not None and c[agree].sum() > c[best].sum()):
            best_support, best = support, agree
    if best is None:
        return None
    if best_support >= 2 or (len(o) <= 2 and c[best].max() >= GLOBAL_TRUSTED):
        return float(np.median(o[best]))
    return None


def _shifted(r, shift_s: float):
    """A PhatResult whose delay is measured from ``shift_s`` earlier in the reference."""
    from dataclasses import replace

    return replace(r, delay_s=r.delay_s + shift_s, delay_samples=r.delay_samples + shift_s * r.sample_rate)


def _refine_with_windows(ref: AudioTrack, vid: AudioTrack, center: float, est: PairEstimate, start_shift: float) -> None:
    """Per-window offsets near ``center`` (audio timeline) -> drift line, offset at the start."""
    sr = ref.sample_rate
    n_v, n_r = vid.samples.size, ref.samples.size
    dur_v = n_v / sr
    win_s = DRIFT_WINDOW_S
    if dur_v < 3 * win_s:
        return
    hop_s = max(win_s / 2, (dur_v - win_s) / 300)
    # Each window searches where the global estimate puts it, give or take the largest drift.
    reach = 0.1 + MAX_DRIFT_PPM * 1e-6 * dur_v
    w = gcc_phat_windowed(ref.samples, vid.samples, sr, win_s, hop_s, reach, -center)
    offsets = -w.delay_s  # vid(t) = ref(t - d)  =>  ref time = vid time - d
    starts = np.round((w.times_s - win_s / 2) * sr).astype(int)
    win = int(round(win_s * sr))
    rms = _window_rms(vid.samples, starts, win)
    # Windows that are silent, or that the offset places (partly) outside the reference, say nothing.
    ref_pos = w.times_s + center
    inside = (ref_pos - win_s / 2 >= 0) & (ref_pos + win_s / 2 <= n_r / sr)
    valid = inside & (rms > 0.05 * max(vid.rms, 1e-8))
    usable = valid & (w.confidence >= WINDOW_MIN_CONFIDENCE)
    est.window_times_s = w.times_s
    est.window_offsets_s = offsets + start_shift
    est.window_confidence = w.confidence
    est.window_inliers = np.zeros(w.times_s.size, bool)
    if usable.sum() < 4 or np.ptp(w.times_s[usable]) < DRIFT_MIN_SPAN_S:
        return
    fit = robust_line(w.times_s[usable], offsets[usable], w.confidence[usable])
    if fit is None:
        return
    inl = np.zeros(w.times_s.size, bool)
    inl[np.flatnonzero(usable)[fit.inliers]] = True
    est.window_inliers = inl
    if inl.sum() < 4 or abs(fit.drift_ppm) > MAX_DRIFT_PPM:
        return
    windowed_conf = float(np.median(w.confidence[inl])) * inl.sum() / max(1, valid.sum())
    est.offset_s = fit.intercept + start_shift
    est.drift_ppm = fit.drift_ppm
    est.confidence = max(est.global_confidence, windowed_conf)
