"""Who is speaking: per-frame speaking scores from SyncNet, speaking segments, the active speaker.

SyncNet's second use (its README: "determining who is speaking among several faces"). For every
face track SyncNet compares each 5-frame video window with the audio at -vshift..+vshift frames;
a face that is speaking matches the audio much better at its sync offset than elsewhere, a face
that is silent (or someone else's voice) matches it equally badly everywhere. So:

1. **Score per frame.** At the track's best offset (or a fixed ``offset``), a window's
   confidence is ``baseline - distance at that offset``, median-filtered over 9 windows as the
   SyncNet reference filters its framewise confidence. ``baseline="track"`` is the reference's
   own framewise confidence (the baseline is the median of the track's mean distances; at the
   best offset the numbers equal :attr:`TrackResult.framewise_confidence`); ``baseline="frame"``
   (the default) takes the median of the window's own distances over all offsets, SyncNet's
   confidence computed per window: silence, which matches every offset alike, then scores about
   0 however close its embeddings happen to be. The window starting at frame ``i`` covers frames
   ``i..i+4`` and gives the score of its centre frame ``i + 2`` (the first and last frames take
   their nearest window's).
   **Voice gate** (``voice_gate``, on by default): a shut mouth during a pause also matches the
   audio best at the right offset when speech lies within the ±vshift frames around it (silence
   against silence), so near the ends of every turn a silent face would score as speaking.
   Frames whose audio (within ±2 frames, at the track's offset) stays near the recording's noise
   floor score at most 0.
   The floor is the 10th percentile of the 40 ms frame levels, the speech level the 90th; a
   frame is voiced above ``floor + 25 %`` of the difference (in dB). A recording without a
   clear pause (less than 10 dB between them) is not gated.
2. **Segments per track** by hysteresis: stretches where the score is at or above ``low``,
   joined across dips shorter than ``min_pause_s``, are speech when they last at least
   ``min_speech_s`` and reach ``high`` somewhere. A segment's score is its mean score.
3. **The active speaker per frame**: among the tracks visible at that frame and inside one of
   their segments, the one with the highest score; nobody when there is none.

Thresholds are in SyncNet confidence units: the defaults (``high`` 3, ``low`` 1.5) are meant for
the official ``syncnet_v2.model``, whose confidence on clear in-sync speech is about 5-10. Other
weights have other scales: look at the ``scores`` in the JSON and set them to match. For the
small model trained briefly on generated faces (``evaluation.synthetic_syncnet``; speech scores
about 1-5, noisier per frame) ``high=1.5, low=0.5, min_speech_s=0.5`` suit it
(``benchmarks/speakers_synthetic.py`` measures both settings side by side).

Times are in the video's timeline (frame ``k`` at 25 fps is ``k / 25`` s). With an offset of
``o`` frames the voice is heard ``o / 25`` s before the lips move (SyncNet's sign).

>>> import numpy as np
>>> s = np.r_[np.zeros(10), np.full(20, 4.0), np.zeros(10)].astype(np.float32)
>>> [seg.to_dict()["start_frame"] for seg in speaking_segments(s, 100, SpeakerOptions())]
[110]
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from avsync.lipsync.result import LipSyncResult

FPS = 25.0
WINDOW_CENTRE = 2  # the 5-frame window starting at frame i is centred on frame i + 2
BASELINES = ("frame", "track")
DEFAULT_HIGH, DEFAULT_LOW = 3.0, 1.5


@dataclass(frozen=True)
class SpeakerOptions:
    """How speaking is decided (see the module docstring). ``offset``: None for each track's own
    best offset, or a fixed offset in frames (SyncNet's sign) for every track: better when the
    video is known to be in sync, since a silent face's "best" offset is noise."""

    offset: int | None = None
    baseline: str = "frame"
    high: float = DEFAULT_HIGH
    low: float = DEFAULT_LOW
    min_speech_s: float = 0.3
    min_pause_s: float = 0.3
    median_taps: int = 9
    voice_gate: bool = True

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"unknown speaking-score baseline {self.baseline!r}: choose {' or '.join(BASELINES)}")
        if self.low > self.high:
            raise ValueError(f"the low speaking threshold ({self.low:g}) must not be above the high one ({self.high:g})")
        if self.min_speech_s < 0 or self.min_pause_s < 0:
            raise ValueError("minimum speech and pause durations must be >= 0 seconds")
        if self.median_taps < 1 or self.median_taps % 2 == 0:
            raise ValueError(f"the median filter needs an odd number of taps, got {self.median_taps}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scoring(self) -> dict[str, Any]:
        """The options that change the per-frame scores (the rest only reads them)."""
        return {"offset": self.offset, "baseline": self.baseline, "median_taps": self.median_taps, "voice_gate": self.voice_gate}


# ---------------------------------------------------------------------------------------------
# scores


def window_scores(distances: np.ndarray, offset: int, *, baseline: str = "frame", median_taps: int = 9) -> np.ndarray:
    """Speaking score of every 5-frame window from SyncNet's distances ``(windows, 2·vshift + 1)``
    (``distances[i, j]``: video window ``i`` against audio window ``i + j - vshift``) at
    ``offset`` frames (SyncNet's sign: column ``vshift - offset``)."""
    from scipy.ndimage import median_filter

    d = np.asarray(distances, np.float64)
    if d.ndim != 2 or d.shape[1] % 2 == 0:
        raise ValueError(f"distances must be (windows, 2*vshift+1), got shape {d.shape}")
    vshift = d.shape[1] // 2
    if not -vshift <= offset <= vshift:
        raise ValueError(f"speaker offset {offset} is outside the searched range -{vshift}..{vshift} frames (--vshift)")
    if d.shape[0] == 0:
        return np.zeros(0)
    base = np.median(d.mean(axis=0)) if baseline == "track" else np.median(d, axis=1)
    conf = base - d[:, vshift - offset]
    # the reference's 9-tap median, with the ends padded by the nearest window rather than
    # zeros, so that speech reaching the end of a track is not cut short
    return median_filter(conf, size=median_taps, mode="nearest") if median_taps > 1 else conf


def frame_scores(windows: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame scores of a track of ``frames`` frames from its window scores: window ``i`` is
    frame ``i + 2``; frames before the first centre or after the last take the nearest one."""
    out = np.full(frames, np.nan, np.float32)
    if len(windows) and frames:
        idx = np.clip(np.arange(frames) - WINDOW_CENTRE, 0, len(windows) - 1)
        out[:] = np.asarray(windows, np.float32)[idx]
    return out


def voiced_frames(audio: np.ndarray, frames: int, *, samples_per_frame: int = 640, reach: int = WINDOW_CENTRE) -> np.ndarray:
    """Per video frame: is there voice within ``reach`` frames of it (see the voice gate in the
    module docstring)? ``audio``: 16 kHz mono lined up with the first video frame."""
    x = np.asarray(audio, np.float64)[: frames * samples_per_frame]
    n = len(x) // samples_per_frame
    level = np.full(frames, -np.inf)
    if n:
        power = np.mean(x[: n * samples_per_frame].reshape(n, samples_per_frame) ** 2, axis=1)
        level[:n] = 10 * np.log10(power + 1e-12)
    heard = level[np.isfinite(level)]
    if heard.size == 0:
        return np.zeros(frames, bool)
    floor, speech = np.percentile(heard, [10, 90])
    if speech - floor < 10.0:
        return np.ones(frames, bool)
    voiced = level > floor + 0.25 * (speech - floor)
    near = np.convolve(voiced.astype(np.int32), np.ones(2 * reach + 1, np.int32), mode="same")  # any voiced frame within reach
    return near > 0


# ---------------------------------------------------------------------------------------------
# segments and the active speaker


@dataclass
class Segment:
    """A stretch of speech of one track: frames ``start_frame..end_frame`` (inclusive)."""

    start_frame: int
    end_frame: int
    score: float

    def to_dict(self, fps: float = FPS) -> dict[str, Any]:
        return {
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_frame / fps, 3),
            "end_s": round((self.end_frame + 1) / fps, 3),
            "score": round(self.score, 3),
        }


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` (stop exclusive) of every run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def speaking_segments(scores: np.ndarray, first_frame: int, options: SpeakerOptions, fps: float = FPS) -> list[Segment]:
    """Speaking segments of one track from its per-frame ``scores`` (frame ``first_frame`` first;
    NaN where the face is not seen), by hysteresis (see the module docstring)."""
    s = np.asarray(scores, np.float64)
    filled = np.where(np.isnan(s), -np.inf, s)
    merged: list[list[int]] = []
    bridge = round(options.min_pause_s * fps)
    for a, b in _runs(filled >= options.low):
        if merged and a - merged[-1][1] < bridge:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    shortest = max(1, round(options.min_speech_s * fps))
    kept = [(a, b) for a, b in merged if b - a >= shortest and filled[a:b].max() >= options.high]
    return [Segment(first_frame + a, first_frame + b - 1, float(np.nanmean(s[a:b]))) for a, b in kept]


@dataclass
class SpeakerTrack:
    """One face's speaking scores and segments. ``scores[i]`` is frame ``start_frame + i`` (NaN
    where the face is not seen); ``offset_frames`` the offset the scores were read at;
    ``pieces`` the lip-sync tracks it is made of (one, or one per chunk of a long video)."""

    track: int
    start_frame: int
    scores: np.ndarray = field(repr=False)
    offset_frames: int
    confidence: float
    mean_box: list[float]
    pieces: list[dict[str, Any]] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)

    @property
    def end_frame(self) -> int:
        return self.start_frame + len(self.scores) - 1

    def speaking_frames(self) -> int:
        return sum(s.end_frame - s.start_frame + 1 for s in self.segments)

    def to_dict(self, fps: float = FPS) -> dict[str, Any]:
        return {
            "track": self.track,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_s": round(self.start_frame / fps, 3),
            "end_s": round((self.end_frame + 1) / fps, 3),
            "offset_frames": self.offset_frames,
            "confidence": round(self.confidence, 3),
            "mean_box": [round(float(v), 1) for v in self.mean_box],
            "speaking_s": round(self.speaking_frames() / fps, 3),
            "segments": [s.to_dict(fps) for s in self.segments],
            "scores": [None if np.isnan(v) else round(float(v), 3) for v in self.scores],
            "pieces": self.pieces,
        }


@dataclass
class Turn:
    """A stretch of the timeline with one active speaker (``track``) or nobody (None)."""

    start_frame: int
    end_frame: int
    track: int | None

    def to_dict(self, fps: float = FPS) -> dict[str, Any]:
        return {"start_frame": self.start_frame, "end_frame": self.end_frame, "start_s": round(self.start_frame / fps, 3),
                "end_s": round((self.end_frame + 1) / fps, 3), "track": self.track}  # fmt: skip


@dataclass
class SpeakerResult:
    """Who speaks when in a video of ``frames`` frames: ``tracks`` (scores and segments per face)
    and ``timeline`` (the active speaker, or nobody, from the first frame to the last)."""

    tracks: list[SpeakerTrack]
    frames: int
    options: SpeakerOptions = field(default_factory=SpeakerOptions)
    fps: float = FPS
    timeline: list[Turn] = field(default_factory=list)

    def _candidate_scores(self) -> np.ndarray:
        """``(tracks, frames)``: a track's score where it is visible and inside a segment, else -inf."""
        out = np.full((len(self.tracks), self.frames), -np.inf)
        for row, t in zip(out, self.tracks):
            for seg in t.segments:
                lo, hi = max(0, seg.start_frame), min(self.frames, seg.end_frame + 1)
                if hi > lo:
                    sc = np.asarray(t.scores[lo - t.start_frame : hi - t.start_frame], np.float64)
                    row[lo:hi] = np.where(np.isnan(sc), -np.inf, sc)
        return out

    def frame_speakers(self) -> np.ndarray:
        """The active speaker's track number at every frame, -1 for nobody: the speaking track
        with the highest score. A turn shorter than ``min_speech_s`` goes to the longer of the
        turns beside it whose speaker is still speaking through it (no flicker where voices
        overlap)."""
        if not self.tracks:
            return np.full(self.frames, -1, np.int64)
        cand = self._candidate_scores()
        ids = np.array([t.track for t in self.tracks], np.int64)
        who = np.where(np.isfinite(cand.max(axis=0)), ids[cand.argmax(axis=0)], -1)
        return _steady_turns(who, cand, {int(t): i for i, t in enumerate(ids)}, max(1, round(self.options.min_speech_s * self.fps)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.options.to_dict(),
            "frames": self.frames,
            "tracks": [t.to_dict(self.fps) for t in self.tracks],
            "timeline": [turn.to_dict(self.fps) for turn in self.timeline],
        }

    def to_rttm(self, file_id: str) -> str:
        """The speaking segments in RTTM (NIST's diarisation exchange format), one line each:
        ``SPEAKER <file> 1 <start> <duration> <NA> <NA> track<N> <NA> <NA>``, by start time.
        Segments of different tracks may overlap, as RTTM allows."""
        name = re.sub(r"\s+", "_", file_id.strip()) or "video"
        rows = sorted((s.start_frame, t.track, s) for t in self.tracks for s in t.segments)
        lines = []
        for _, track, s in rows:
            start, end = s.start_frame / self.fps, (s.end_frame + 1) / self.fps
            lines.append(f"SPEAKER {name} 1 {start:.3f} {end - start:.3f} <NA> <NA> track{track} <NA> <NA>\n")
        return "".join(lines)


def _steady_turns(who: np.ndarray, cand: np.ndarray, row: dict[int, int], shortest: int) -> np.ndarray:
    """Gives the shortest too-short turn to a neighbouring turn's speaker, again and again."""
    while True:
        bounds = np.r_[0, np.flatnonzero(np.diff(who)) + 1, len(who)]
        turns = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
        short = sorted((b - a, i) for i, (a, b) in enumerate(turns) if who[a] >= 0 and b - a < shortest)
        for _, i in short:
            a, b = turns[i]
            beside = [turns[j] for j in (i - 1, i + 1) if 0 <= j < len(turns) and who[turns[j][0]] >= 0]
            takers = [(d - c, int(who[c])) for c, d in beside if np.isfinite(cand[row[int(who[c])], a:b]).all()]
            if takers:
                who[a:b] = max(takers)[1]
                break
        else:
            return who


def decide_speakers(tracks: list[SpeakerTrack], frames: int, options: SpeakerOptions, fps: float = FPS) -> SpeakerResult:
    """Segments for every track (from its scores) and the timeline of active speakers."""
    for t in tracks:
        t.segments = speaking_segments(t.scores, t.start_frame, options, fps)
    result = SpeakerResult(tracks, frames, options, fps)
    who = result.frame_speakers()
    change = np.flatnonzero(np.diff(who)) + 1
    bounds = np.r_[0, change, frames] if frames else np.zeros(0, int)
    result.timeline = [Turn(int(a), int(b) - 1, None if who[a] < 0 else int(who[a])) for a, b in zip(bounds[:-1], bounds[1:])]
    return result


def track_scores(distances: np.ndarray, frames: int, offset: int, options: SpeakerOptions) -> np.ndarray:
    """Per-frame speaking scores of a track of ``frames`` frames with these SyncNet distances."""
    return frame_scores(window_scores(distances, offset, baseline=options.baseline, median_taps=options.median_taps), frames)


def speakers_from_lipsync(result: LipSyncResult, options: SpeakerOptions | None = None, audio: np.ndarray | None = None) -> SpeakerResult:
    """Speaker detection on a measured :class:`LipSyncResult` (its tracks carry SyncNet's
    distances); ``audio`` (16 kHz, lined up with the first frame) for the voice gate."""
    options = options or SpeakerOptions()
    voiced = voiced_frames(audio, result.frames) if audio is not None and options.voice_gate else None
    tracks = []
    for t in result.tracks:
        if t.distances is None:
            raise ValueError(f"'{result.video}': track {t.track} has no SyncNet distances to read speaking scores from")
        offset = t.offset_frames if options.offset is None else options.offset
        piece = {"chunk": None, "lipsync_track": t.track, "start_frame": t.start_frame, "end_frame": t.end_frame,
                 "offset_frames": t.offset_frames, "confidence": round(t.confidence, 3)}  # fmt: skip
        scores = track_scores(t.distances, t.frames, offset, options)
        if voiced is not None:
            # the lips at frame f go with the sound at frame f - offset (SyncNet's sign)
            heard = np.clip(np.arange(t.start_frame, t.end_frame + 1) - offset, 0, len(voiced) - 1)
            quiet = ~voiced[heard]
            scores[quiet] = np.minimum(scores[quiet], 0.0)
        tracks.append(SpeakerTrack(t.track, t.start_frame, scores, offset, t.confidence, list(t.mean_box), [piece]))
    return decide_speakers(tracks, result.frames, options, result.fps)


__all__ = [
    "SpeakerOptions", "SpeakerTrack", "SpeakerResult", "Segment", "Turn", "window_scores", "frame_scores", "voiced_frames",
    "speaking_segments", "decide_speakers", "track_scores", "speakers_from_lipsync",
]  # fmt: skip
