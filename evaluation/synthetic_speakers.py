"""Speaker detection measured on generated two-face conversations.

``evaluation.talking_faces`` with two faces makes clips where the faces take turns speaking (the
speaking intervals of each face are in the clip's JSON). :func:`measure_speakers` runs
``avsync speakers`` (:func:`avsync.lipsync.find_speakers`) on each clip and compares it with that
truth, per frame:

- ``agreement`` per track: the share of the track's frames where "inside a speaking segment"
  equals "this face is speaking" (pauses shorter than ``min_pause_s`` bridged, as the detector
  bridges them);
- ``active_accuracy``: on the frames where exactly one face speaks and a track sees it (the
  face detector may miss a face for a while: ``unseen_speaker_frames`` counts those), the share
  whose active speaker (``SpeakerResult.frame_speakers``) is that face's track;
- ``silence_accuracy``: on the frames where nobody speaks, the share with nobody active.

Used by the slow test with learned weights and by ``benchmarks/speakers_synthetic.py``::

    >>> from evaluation.synthetic_speakers import conversations, measure_speakers
    >>> truths = conversations("work/talk", 10)                      # doctest: +SKIP
    >>> from avsync.lipsync.speakers import SpeakerOptions
    >>> small = SpeakerOptions(high=1.5, low=0.5, min_speech_s=0.5)  # for the small model's scale
    >>> measure_speakers("syncnet_small.pt", truths, [small])[0]["agreement_mean"]  # doctest: +SKIP
    0.87
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from avsync.lipsync.speakers import SpeakerOptions, SpeakerResult
    from evaluation.talking_faces import ClipTruth

FPS = 25.0


def speaking_mask(intervals: Sequence[tuple[float, float]], frames: int, *, bridge_s: float = 0.3, fps: float = FPS) -> np.ndarray:
    """Per frame: inside one of the ground-truth speaking ``intervals`` (seconds), with pauses
    shorter than ``bridge_s`` filled as the detector fills them."""
    mask = np.zeros(frames, bool)
    t = np.arange(frames) / fps
    for a, b in intervals:
        mask |= (t >= a) & (t < b)
    gaps = np.flatnonzero(np.diff(np.r_[0, (~mask).astype(np.int8), 0]))
    for a, b in zip(gaps[0::2], gaps[1::2]):
        if 0 < a and b < frames and b - a < bridge_s * fps:
            mask[a:b] = True
    return mask


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` frames of every run of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[0::2], edges[1::2])]


def compare_with_truth(segments, truth_mask: np.ndarray, first: int = 0, last: int | None = None, *, min_frames: int = 12) -> tuple[float, list]:  # noqa: ANN001
    """Per-frame agreement of detected ``segments`` (with start_frame/end_frame) with the truth
    over frames ``first..last``, and for every true stretch of at least ``min_frames`` inside
    them: ``(start error, end error)`` in frames of the one segment overlapping it, or the number
    of segments that do when it is not exactly one."""
    last = len(truth_mask) - 1 if last is None else last
    found = np.zeros(len(truth_mask), bool)
    for s in segments:
        found[s.start_frame : s.end_frame + 1] = True
    span = slice(first, last + 1)
    agreement = float((found[span] == truth_mask[span]).mean())
    errors = []
    for a, b in runs(truth_mask):
        if b - a + 1 < min_frames or a < first or b > last:
            continue
        hits = [s for s in segments if s.start_frame <= b and s.end_frame >= a]
        errors.append((hits[0].start_frame - a, hits[0].end_frame - b) if len(hits) == 1 else len(hits))
    return agreement, errors


def conversations(folder: str | os.PathLike[str], count: int, *, seed: int = 808, duration_s: float = 10.0) -> list[ClipTruth]:
    """``count`` generated two-face clips in sync (full frames only; kept for a second call)."""
    from evaluation.talking_faces import generate_set

    return generate_set(folder, count, seed=seed, duration_s=duration_s, n_faces=2, crops=False, progress=False)


def face_of(mean_box: Sequence[float], truth: ClipTruth) -> int:
    """The generated face whose mean box centre is nearest to a track's ``mean_box`` (x, y, w, h)."""
    x, y, w, h = mean_box
    centres = [f.boxes[:, :2].mean(0) + f.boxes[:, 2:].mean(0) / 2 for f in truth.faces]
    return int(np.argmin([np.hypot(x + w / 2 - cx, y + h / 2 - cy) for cx, cy in centres]))


def score_clip(speakers: SpeakerResult, truth: ClipTruth, *, bridge_s: float = 0.3) -> dict[str, Any]:
    """One clip's detection against its truth (see the module docstring)."""
    frames = speakers.frames
    masks = [speaking_mask(f.speaking, frames, bridge_s=bridge_s, fps=truth.fps) for f in truth.faces]
    tracks = []
    track_of_face: dict[int, int] = {}
    for t in speakers.tracks:
        face = face_of(t.mean_box, truth)
        agreement, errors = compare_with_truth(t.segments, masks[face], t.start_frame, t.end_frame)
        track_of_face.setdefault(face, t.track)
        tracks.append({"track": t.track, "face": face, "agreement": round(agreement, 4), "edge_errors": errors,
                       "segments": len(t.segments), "offset_frames": t.offset_frames})  # fmt: skip
    speaking = np.stack(masks)
    who = speakers.frame_speakers()
    seen = np.zeros_like(speaking)  # a face can only be named where one of its tracks sees it
    for t in speakers.tracks:
        seen[face_of(t.mean_box, truth), t.start_frame : t.end_frame + 1] = True
    alone = (speaking.sum(0) == 1) & (speaking & seen).any(0)
    expected = np.array([track_of_face.get(int(f), -2) for f in speaking.argmax(0)])
    silent = speaking.sum(0) == 0
    return {
        "clip": truth.clip_id,
        "faces_found": sorted({t["face"] for t in tracks}) == list(range(len(truth.faces))),
        "tracks": tracks,
        "unseen_speaker_frames": int(((speaking.sum(0) == 1) & ~(speaking & seen).any(0)).sum()),
        "active_frames": int(alone.sum()),
        "active_accuracy": float((who[alone] == expected[alone]).mean()) if alone.any() else None,
        "silent_frames": int(silent.sum()),
        "silence_accuracy": float((who[silent] == -1).mean()) if silent.any() else None,
    }


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean and worst per-track agreement and active-speaker accuracy over :func:`score_clip` rows."""
    agreements = [t["agreement"] for r in rows for t in r["tracks"]]
    active = [r["active_accuracy"] for r in rows if r["active_accuracy"] is not None]
    silence = [r["silence_accuracy"] for r in rows if r["silence_accuracy"] is not None]
    active_frames = sum(r["active_frames"] for r in rows)

    def stat(f, xs: list) -> float | None:  # noqa: ANN001
        return round(float(f(xs)), 4) if xs else None

    return {
        "clips": len(rows),
        "tracks": len(agreements),
        "both_faces_found": sum(r["faces_found"] for r in rows),
        "agreement_mean": stat(np.mean, agreements),
        "agreement_min": stat(np.min, agreements),
        "active_accuracy_mean": stat(np.mean, active),
        "active_accuracy_min": stat(np.min, active),
        "active_accuracy_all_frames": round(sum(r["active_accuracy"] * r["active_frames"] for r in rows if r["active_frames"]) / active_frames, 4)
        if active_frames else None,  # fmt: skip
        "active_frames": active_frames,
        "unseen_speaker_frames": sum(r["unseen_speaker_frames"] for r in rows),
        "silence_accuracy_mean": stat(np.mean, silence),
    }


def measure_speakers(weights: Any, truths: Sequence[ClipTruth], settings: Sequence[SpeakerOptions], *, progress: bool = False,
                     **lipsync_options: Any) -> list[dict[str, Any]]:  # fmt: skip
    """Runs speaker detection (``LipSync.run(..., speakers=...)``, what ``avsync speakers`` runs on
    a short video) with ``weights`` on each clip's full frames once, decides the speaking segments
    with every one of ``settings`` (they may differ in thresholds and durations only: the
    per-frame scores are computed once) and scores them against the truth. Returns, per setting,
    its :func:`summarise` summary with ``settings`` and the per-clip ``results``.
    ``lipsync_options``: the pipeline's, e.g. ``min_track``."""
    import copy

    from avsync.lipsync import LipSync
    from avsync.lipsync.speakers import decide_speakers
    from avsync.progress import progress_bar

    if not settings or any(o.scoring() != settings[0].scoring() for o in settings):
        raise ValueError("give one or more speaker settings that differ only in thresholds and durations")
    runner = LipSync(weights, progress=False, **lipsync_options)
    rows: list[list[dict[str, Any]]] = [[] for _ in settings]
    with progress_bar(len(truths), enabled=progress, desc="speakers", unit="clip") as bar:
        for truth in truths:
            found = runner.run(truth.video, speakers=settings[0]).speakers
            for k, options in enumerate(settings):
                decided = decide_speakers(copy.deepcopy(found.tracks), found.frames, options, found.fps) if k else found
                rows[k].append(score_clip(decided, truth, bridge_s=options.min_pause_s))
            bar.update(1)
    return [{"settings": o.to_dict(), **summarise(r), "results": r} for o, r in zip(settings, rows)]
