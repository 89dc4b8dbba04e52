"""A small SyncNet trained on generated talking faces, and how well it recovers known shifts.

Used by the training benchmark (``benchmarks/train_syncnet_synthetic.py``), the slow training
test, and by tests elsewhere that need a trained lip-sync model without outside weights::

    >>> from evaluation.synthetic_syncnet import train_on_generated_faces
    >>> report = train_on_generated_faces("work", "work/syncnet_small.pt")  # doctest: +SKIP
    >>> report.val_accuracy                                                 # doctest: +SKIP
    1.0

With the defaults (60 generated 4-second clips, 200 steps of the small configuration) this takes
about 1.5 minutes on 2 CPU cores (about 25 s of generation, 45 s of training, the rest loading
and held-out checks), and the model recovers shifts in [-10, 10] frames of held-out generated
clips to the frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from avsync.lipsync.train import TrainReport

HELD_OUT_SHIFT = 10  # held-out clips carry a random shift in [-10, 10] frames
MIN_SHIFT = 5  # "shifted" in the confidence comparison: by 5 frames or more


def train_on_generated_faces(
    work_dir: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    clips: int = 60,
    duration_s: float = 4.0,
    steps: int | None = 200,
    minutes: float | None = None,
    seed: int = 0,
    progress: bool = False,
    **options: Any,
) -> TrainReport:
    """Generates ``clips`` talking-face crop videos in ``work_dir/train`` (kept: a second call
    reuses them) and trains the small SyncNet on them for ``steps`` steps (the same batches for a
    ``seed``) or ``minutes``; writes ``output`` (default ``work_dir/syncnet_small.pt``) and
    returns the :class:`~avsync.lipsync.train.TrainReport`. Other keyword arguments are
    :class:`~avsync.lipsync.train.TrainOptions` fields."""
    from avsync.lipsync.train import TrainOptions, train_syncnet
    from evaluation.talking_faces import generate_set

    work = Path(work_dir)
    generate_set(work / "train", clips, seed=seed + 101, duration_s=duration_s, full=False, progress=progress)
    output = Path(output) if output is not None else work / "syncnet_small.pt"
    opts = TrainOptions(size="small", steps=steps, minutes=minutes, seed=seed, device="cpu", progress=progress, **options)
    return train_syncnet(work / "train" / "crops", output, cropped=True, options=opts, fresh=True)


def held_out_set(folder: str | os.PathLike[str], count: int, *, seed: int = 202, duration_s: float = 6.0, full: bool = True) -> list:
    """``count`` generated clips with their audio shifted by a random whole number of frames in
    [-10, 10] (full frames and face crops; kept for a second call)."""
    from evaluation.talking_faces import generate_set

    return generate_set(folder, count, seed=seed, duration_s=duration_s, random_offsets=HELD_OUT_SHIFT, full=full, progress=False)


def measure_offsets(model: str | os.PathLike[str], truths: list, *, pipeline_clips: int | None = 0, **lipsync_options: Any) -> dict[str, Any]:
    """Runs ``avsync lipsync --cropped`` (the :class:`~avsync.lipsync.LipSync` runner the command
    wraps) on each clip's face crops and, for the first ``pipeline_clips`` (None: all), the full
    face pipeline on its full frames (``lipsync_options``: the pipeline's, e.g. ``min_track``).
    Returns the share within one frame of the truth, the mean error and, per clip, both
    offsets."""
    from avsync.lipsync import LipSync

    runner = LipSync(model, progress=False, **lipsync_options)
    rows = []
    for i, truth in enumerate(truths):
        track = runner.run(truth.crops[0], cropped=True).tracks[0]
        row = {"clip": truth.clip_id, "true": truth.offset_frames, "cropped": track.offset_frames, "confidence": round(track.confidence, 3)}
        if truth.video is not None and (pipeline_clips is None or i < pipeline_clips):
            tracks = runner.run(truth.video, cropped=False).tracks
            best = max(tracks, key=lambda t: t.confidence) if tracks else None
            row["pipeline"] = best.offset_frames if best else None
            row["pipeline_tracks"] = len(tracks)
        rows.append(row)
    errors = np.array([abs(r["cropped"] - r["true"]) for r in rows])
    piped = [r for r in rows if "pipeline" in r]
    return {
        "clips": len(rows),
        "within_1_frame": float((errors <= 1).mean()),
        "exact": float((errors == 0).mean()),
        "mean_abs_error_frames": float(errors.mean()),
        "pipeline_clips": len(piped),
        "pipeline_same_offset": sum(r["pipeline"] == r["cropped"] for r in piped),
        "pipeline_no_track": sum(r["pipeline"] is None for r in piped),
        "results": rows,
    }


def confidence_check(model: str | os.PathLike[str], truths: list, *, seed: int = 0) -> dict[str, Any]:
    """Each held-out clip put back in sync (its audio moved by its known shift) and the same
    clip shifted by 5 to 10 frames either way, scored as ``avsync lipsync --cropped`` scores a
    track. Two confidences per version:

    - ``sync``: the confidence that the clip *as it is* is in sync, SyncNet's
      ``median - distance`` taken at offset 0 (for a synced clip, where the minimum is at 0, this
      is SyncNet's confidence itself);
    - ``syncnet``: SyncNet's ``confidence``, ``median - min`` over all shifts: how clear the best
      shift is, wherever it is.

    Also checks that each shifted version's offset comes out as its shift.
    """
    from avsync.lipsync.model import load_syncnet
    from avsync.lipsync.scoring import SyncNetScorer
    from avsync.lipsync.trainset import load_cropped

    net, _ = load_syncnet(model)
    scorer = SyncNetScorer(net)
    rng = np.random.default_rng(seed)
    conf = {"sync": ([], []), "syncnet": ([], [])}
    shifted_errors = []
    for truth in truths:
        synced = load_cropped(truth.crops[0], 224, truth.offset_frames).shifted(-truth.offset_frames)
        shift = int(rng.choice([-1, 1]) * rng.integers(MIN_SHIFT, HELD_OUT_SHIFT + 1))
        for k, clip in enumerate((synced, synced.shifted(shift))):
            score = scorer.score_track(clip.frames[..., ::-1], clip.audio)  # TrainClip frames are BGR
            mdist = score.mean_distances
            conf["sync"][k].append(float(np.median(mdist) - mdist[score.vshift]))
            conf["syncnet"][k].append(score.confidence)
            if k == 1:
                shifted_errors.append(abs(score.offset_frames - shift))
    out: dict[str, Any] = {"clips": len(truths), "shifted_offsets_within_1_frame": float((np.array(shifted_errors) <= 1).mean())}
    for name, (synced_c, shifted_c) in conf.items():
        a, b = np.array(synced_c), np.array(shifted_c)
        out[name] = {
            "synced_mean": round(float(a.mean()), 3), "shifted_mean": round(float(b.mean()), 3),
            "synced_min": round(float(a.min()), 3), "shifted_max": round(float(b.max()), 3),
            "same_clip_synced_higher": float((a > b).mean()),  # each clip against its own shifted version
            "all_pairs_synced_higher": float((a[:, None] > b[None, :]).mean()),  # every synced clip against every shifted one
        }
    return out
