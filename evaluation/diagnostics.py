"""Per-case diagnostics: the motion signals of the original and the copy, before and after alignment.

One NPZ per case (``{video_id}.npz``) holding:

- ``original_times``, ``original_energy``, ``copy_times``, ``copy_energy``: raw motion energy
  (:func:`avsync.motion_energy`), times in seconds from each file's start;
- ``grid_rate`` and ``original_grid``/``copy_grid`` with ``original_grid_t0``/``copy_grid_t0``:
  the signals as the visual method sees them (:func:`avsync.sync.visual.prepare`);
- ``true_offset_s``, ``visual_offset_s``, ``audio_offset_s`` (NaN when missing): the copy's
  ``offset_s`` against the original in avsync's convention (copy time + offset = original time);
- ``ncc_before``, ``ncc_estimated``, ``ncc_true``: correlation of the prepared signals over their
  overlap with no shift, shifted by the visual estimate, and shifted by the truth.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def aligned_correlation(ref: np.ndarray, ref_t0: float, vid: np.ndarray, vid_t0: float, rate: float, offset_s: float) -> float:
    """Pearson correlation of ``ref`` with ``vid`` moved onto the reference timeline by ``offset_s``
    (video time ``t`` is reference time ``t + offset_s``), over their overlap; NaN if under 1 s."""
    if not np.isfinite(offset_s) or ref.size < 2 or vid.size < 2:
        return float("nan")
    t_ref = ref_t0 + np.arange(ref.size) / rate
    t_vid = t_ref - offset_s  # where each reference sample falls in the video
    inside = (t_vid >= vid_t0) & (t_vid <= vid_t0 + (vid.size - 1) / rate)
    if inside.sum() < rate:
        return float("nan")
    v = np.interp(t_vid[inside], vid_t0 + np.arange(vid.size) / rate, vid)
    r = ref[inside]
    if r.std() < 1e-12 or v.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(r, v)[0, 1])


def write_case_npz(path: str | os.PathLike[str], original, copy, true_offset_s: float, visual_offset_s: float | None,
                   audio_offset_s: float | None) -> Path:
    """Writes the NPZ described above; ``original``/``copy`` are :class:`avsync.MotionSignal`."""
    from avsync.media.ffmpeg import atomic_output
    from avsync.sync.visual import GRID_HZ, prepare

    og, ot0 = prepare(original)
    cg, ct0 = prepare(copy)
    vis = float("nan") if visual_offset_s is None else float(visual_offset_s)
    aud = float("nan") if audio_offset_s is None else float(audio_offset_s)
    data = {
        "original_times": original.times_s,
        "original_energy": original.energy,
        "copy_times": copy.times_s,
        "copy_energy": copy.energy,
        "grid_rate": np.float64(GRID_HZ),
        "original_grid": og.astype(np.float32),
        "copy_grid": cg.astype(np.float32),
        "original_grid_t0": np.float64(ot0),
        "copy_grid_t0": np.float64(ct0),
        "true_offset_s": np.float64(true_offset_s),
        "visual_offset_s": np.float64(vis),
        "audio_offset_s": np.float64(aud),
        "ncc_before": np.float64(aligned_correlation(og, ot0, cg, ct0, GRID_HZ, 0.0)),
        "ncc_estimated": np.float64(aligned_correlation(og, ot0, cg, ct0, GRID_HZ, vis)),
        "ncc_true": np.float64(aligned_correlation(og, ot0, cg, ct0, GRID_HZ, true_offset_s)),
    }
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **data)
    return Path(path)

