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
from functools import cached_property

import numpy as np

from avsync.phat import gcc_phat, gcc_phat_windowed
from avsync.sync.drift import LineFit, robust_line
from avsync.sync.estimate import NO_MATCH_CONFIDENCE, PairEstimate

GLOBAL_TRUSTED = 0.5  # a global peak this clear needs no anchor search
ANCHOR_WINDOW_S = 15.0
MAX_ANCHORS = 12
ANCHORS_ENOUGH = 3  # agreeing anchors that settle the offset; the drift windows check it anyway
DRIFT_WINDOW_S = 10.0
DRIFT_MIN_SPAN_S = 60.0  # shorter overlaps: drift is not estimated (it would be noise)
MAX_DRIFT_PPM = 1000.0
WINDOW_MIN_CONFIDENCE = 0.2
# The first, sparser pass of drift windows is enough when this many of them, and this share of
# those that can say something, lie on one line.
COARSE_ENOUGH = 8
COARSE_AGREEMENT = 0.9


@dataclass(frozen=True)
class AudioTrack:
    """Mono samples of one file and where its first sample sits in the file's timeline."""

    samples: np.ndarray  # float32
    sample_rate: int
    start_s: float = 0.0  # the audio stream's start relative to the file's start

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate

    @cached_property
    def rms(self) -> float:
        return float(np.sqrt(_energy(self.samples) / self.samples.size)) if self.samples.size else 0.0


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
    """RMS of ``x[s : s + length]`` for each start (clipped to the signal)."""
    out = np.zeros(len(starts))
    for i, s in enumerate(starts):
        piece = x[max(0, int(s)) : max(0, int(s) + length)]
        if piece.size:  # float32 sums are plenty for a loudness threshold, and ten times faster
            out[i] = np.sqrt(float(np.dot(piece, piece)) / piece.size)
    return out


def _energy(x: np.ndarray) -> float:
    """Sum of squares in float64, without a float64 copy of a long signal."""
    return float(sum(np.dot(c, c.astype(np.float64)) for c in np.array_split(x, max(1, x.size // 2**16)))) if x.size else 0.0


def _anchor_search(ref: AudioTrack, vid: AudioTrack, search: float | None) -> float | None:
    """Searches a few short windows of ``vid`` on their own; returns the offset (audio timeline)
    a consistent group of them agrees on, or None. Anchors are taken spread out (ends first, then
    ever finer in between) and the search stops once ``ANCHORS_ENOUGH`` of them agree."""
    sr = ref.sample_rate
    n = vid.samples.size
    win = min(int(ANCHOR_WINDOW_S * sr), n)
    if win < sr:  # under a second of audio: nothing more to learn
        return None
    k = int(np.clip(n // win, 1, MAX_ANCHORS))
    starts = np.linspace(0, n - win, k).astype(int) if k > 1 else np.array([0])
    loud = _window_rms(vid.samples, starts, win) > 0.05 * max(vid.rms, 1e-8)
    times: list[float] = []
    offsets: list[float] = []
    confs: list[float] = []
    best = None
    order = _spread_order(k)
    for s in starts[order][loud[order]]:
        found = _anchor(ref, vid, int(s), win, search)
        if found is None:
            continue
        times.append(s / sr)
        offsets.append(found[0])
        confs.append(found[1])
        best = _largest_agreeing_group(np.array(times), np.array(offsets), np.array(confs))
        if best is not None and best.sum() >= ANCHORS_ENOUGH:
            break
    if best is None:
        return None
    o, c = np.array(offsets), np.array(confs)
    if best.sum() >= 2 or (len(o) <= 2 and c[best].max() >= GLOBAL_TRUSTED):
        return float(np.median(o[best]))
    return None


def _spread_order(k: int) -> np.ndarray:
    """0, k-1, then the middle, then the quarters...: any prefix covers the range evenly."""
    order = [0, k - 1] if k > 1 else [0]
    step = float(k - 1)
    while len(order) < k and step > 1:
        half = step / 2
        order += [int(round(x)) for x in np.arange(half, k - 1, step)]
        order = list(dict.fromkeys(order))
        step = half
    order += [i for i in range(k) if i not in order]
    return np.array(order[:k])


def _anchor(ref: AudioTrack, vid: AudioTrack, s: int, win: int, search: float | None) -> tuple[float, float] | None:
    """(offset, confidence) of the anchor window starting at sample ``s``, or None when it cannot be searched."""
    sr = ref.sample_rate
    piece = vid.samples[s : s + win]
    if search is None:
        r = gcc_phat(piece, ref.samples, sr, None)
    else:
        lo = max(0, s - int(search * sr))
        hi = min(ref.samples.size, s + win + int(search * sr))
        if hi - lo < win // 2:
            return None
        r = _shifted(gcc_phat(piece, ref.samples[lo:hi], sr, None), lo / sr)
        if abs(r.delay_s - s / sr) > search:
            return None
    return r.delay_s - s / sr, r.confidence


def _largest_agreeing_group(t: np.ndarray, o: np.ndarray, c: np.ndarray) -> np.ndarray | None:
    """The confident anchors that agree with the most others (ties: the larger confidence sum)."""
    good = c >= WINDOW_MIN_CONFIDENCE
    best_support, best = 0, None
    for i in np.flatnonzero(good):
        agree = good & (np.abs(o - o[i]) <= 0.02 + MAX_DRIFT_PPM * 1e-6 * np.abs(t - t[i]))
        support = int(agree.sum())
        if support > best_support or (support == best_support and best is not None and c[agree].sum() > c[best].sum()):
            best_support, best = support, agree
    return best


def _shifted(r, shift_s: float):
    """A PhatResult whose delay is measured from ``shift_s`` earlier in the reference."""
    from dataclasses import replace

    return replace(r, delay_s=r.delay_s + shift_s, delay_samples=r.delay_samples + shift_s * r.sample_rate)


@dataclass
class _Windows:
    """Per-window measurements near one offset: times and offsets in the audio timelines."""

    times_s: np.ndarray
    offsets_s: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray  # inside the reference and not silent: the windows that can say something

    def __add__(self, other: _Windows) -> _Windows:
        order = np.argsort(np.concatenate([self.times_s, other.times_s]), kind="stable")
        return _Windows(*(np.concatenate([getattr(self, f), getattr(other, f)])[order] for f in ("times_s", "offsets_s", "confidence", "valid")))


def _measure_windows(ref: AudioTrack, vid: AudioTrack, center: float, hop_s: float, first_s: float, reach: float) -> _Windows:
    """Windows of ``vid`` starting at ``first_s`` every ``hop_s``, each searched at ``center ± reach``."""
    sr = ref.sample_rate
    win_s = DRIFT_WINDOW_S
    first = int(round(first_s * sr))
    # Windows of vid[first:] measure delays ``first`` samples shorter than those of vid.
    w = gcc_phat_windowed(ref.samples, vid.samples[first:], sr, win_s, hop_s, reach, -center - first / sr)
    times = w.times_s + first / sr
    offsets = -(w.delay_s + first / sr)  # vid(t) = ref(t - d)  =>  ref time = vid time - d
    starts = np.round((times - win_s / 2) * sr).astype(int)
    rms = _window_rms(vid.samples, starts, int(round(win_s * sr)))
    # Windows that are silent, or that the offset places (partly) outside the reference, say nothing.
    ref_pos = times + center
    inside = (ref_pos - win_s / 2 >= 0) & (ref_pos + win_s / 2 <= ref.duration_s)
    return _Windows(times, offsets, w.confidence, inside & (rms > 0.05 * max(vid.rms, 1e-8)))


def _fit_windows(w: _Windows) -> tuple[LineFit | None, np.ndarray]:
    """The drift line through the confident windows, and the inlier mask over all of them."""
    usable = w.valid & (w.confidence >= WINDOW_MIN_CONFIDENCE)
    inl = np.zeros(w.times_s.size, bool)
    if usable.sum() < 4 or np.ptp(w.times_s[usable]) < DRIFT_MIN_SPAN_S:
        return None, inl
    fit = robust_line(w.times_s[usable], w.offsets_s[usable], w.confidence[usable])
    if fit is not None:
        inl[np.flatnonzero(usable)[fit.inliers]] = True
    return fit, inl


def _refine_with_windows(ref: AudioTrack, vid: AudioTrack, center: float, est: PairEstimate, start_shift: float) -> None:
    """Per-window offsets near ``center`` (audio timeline) -> drift line, offset at the start.

    Windows overlap by half. Every other one is measured first; when nearly all of those agree
    on one line the rest would add little, so they are measured only when the first half leaves
    doubt (noise, silences, outliers). Either way the estimate comes from the same kind of line.
    """
    dur_v = vid.duration_s
    win_s = DRIFT_WINDOW_S
    if dur_v < 3 * win_s:
        return
    hop_s = max(win_s / 2, (dur_v - win_s) / 300)
    # Each window searches where the global estimate puts it, give or take the largest drift.
    reach = 0.1 + MAX_DRIFT_PPM * 1e-6 * dur_v
    w = _measure_windows(ref, vid, center, 2 * hop_s, 0.0, reach)
    fit, inl = _fit_windows(w)
    if fit is None or inl.sum() < max(COARSE_ENOUGH, COARSE_AGREEMENT * w.valid.sum()):
        w = w + _measure_windows(ref, vid, center, 2 * hop_s, hop_s, reach)
        fit, inl = _fit_windows(w)
    est.window_times_s = w.times_s
    est.window_offsets_s = w.offsets_s + start_shift
    est.window_confidence = w.confidence
    est.window_inliers = inl
    if fit is None or inl.sum() < 4 or abs(fit.drift_ppm) > MAX_DRIFT_PPM:
        return
    windowed_conf = float(np.median(w.confidence[inl])) * inl.sum() / max(1, w.valid.sum())
    est.offset_s = fit.intercept + start_shift
    est.drift_ppm = fit.drift_ppm
    est.confidence = max(est.global_confidence, windowed_conf)
