"""Checking a sync by eye and ear.

- :func:`grab_frames`: every synced file's frame at one synced time, as arrays.
- :func:`review`: sync indicator images (at the moments of most distinct shared motion, every
  camera's frame side by side with the moving regions boxed and each frame's own timestamp
  printed) and aligned-waveform plots (every file's audio around the strongest shared
  transients, zoomed so a 1 ms error shows), with the residual error at each transient measured
  and written to the result's ``review`` section.

>>> import avsync
>>> from avsync.review import review
>>> out = review("result.json", "review/")                      # doctest: +SKIP
>>> out.section["max_abs_residual_ms"]                           # doctest: +SKIP
{'cam2.mp4': 0.012, 'recorder.wav': 0.031}
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsync.errors import AvsyncError
from avsync.review.frames import GrabbedFrame, frames_at, grab_frames
from avsync.review.placed import Placed, placed_files
from avsync.sync.result import SyncResult

__all__ = ["grab_frames", "GrabbedFrame", "review", "ReviewOutput"]

LOOKBACK_S = 0.1  # boxes show what moved in this much time before the moment
MAX_WIDTH = 480  # frames in the pictures are shrunk to this width


@dataclass
class ReviewOutput:
    """What :func:`review` wrote: the result with its ``review`` section, and the files."""

    result: SyncResult
    files: list[Path] = field(default_factory=list)

    @property
    def section(self) -> dict[str, Any]:
        return self.result.review or {}


def review(
    result: SyncResult | dict | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    moments: int = 4,
    transients: int = 3,
    motion: dict | None = None,
    json_name: str = "review.json",
    progress: bool = False,
) -> ReviewOutput:
    """Writes the review pictures of a sync result into ``output_dir``, measures the residual at
    each shared transient, stores all that in ``result.review`` and writes the result with it to
    ``output_dir/json_name``.

    ``moments``: how many indicator images (``indicator_NN_<time>s.png``); ``transients``: how
    many waveform plots (``waveform_NN_<time>s.png``). ``motion``: ``{path: MotionSignal}``
    already computed (the sync's own), to save decoding the videos again.
    """
    from avsync.media.ffmpeg import write_text_atomic
    from avsync.review.placed import load_result

    sync_result, base = load_result(result)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        placed = placed_files(sync_result, notes=notes, base=base)
    except ValueError as exc:  # nothing that synced can be opened: say so in the result
        placed = []
        notes.append(str(exc))
    from avsync.review.plots import pyplot

    plt = pyplot()
    files: list[Path] = []
    section: dict[str, Any] = {"indicator_images": [], "transients": [], "notes": notes}
    section["indicator_images"] = _indicators(plt, placed, out, moments, dict(motion or {}), notes, files, progress)
    anchor, measured = _waveforms(plt, placed, sync_result.reference, out, transients, notes, files)
    section["anchor"] = anchor
    section["sample_rate"] = 48000
    section["transients"] = measured
    section["max_abs_residual_ms"] = _max_abs(measured)
    sync_result.review = section
    files.append(write_text_atomic(out / json_name, sync_result.to_json() + "\n"))
    return ReviewOutput(sync_result, files)


def _indicators(plt, placed: list[Placed], out: Path, count: int, motion: dict, notes: list[str], files: list[Path],
                progress: bool) -> list[dict]:
    from avsync.media.video import motion_energy
    from avsync.progress import progress_bar
    from avsync.review.moments import moving_boxes, shared_moments
    from avsync.review.plots import indicator_image

    cams = [p for p in placed if p.has_video]
    if not cams or count < 1:
        if not cams:
            notes.append("no video: no indicator images")
        return []
    todo = [p for p in cams if p.path not in motion]
    with progress_bar(total=len(todo), desc="motion", unit="file", enabled=progress) as bar:
        for p in todo:
            try:
                motion[p.path] = motion_energy(p.file)
            except (AvsyncError, ValueError) as exc:
                notes.append(f"no motion for the indicator images: {exc}")
            bar.update(1)
    found = shared_moments(cams, motion, count)
    # Motion is timed between two frames: show the later one, where the change has happened.
    half_frame = 0.5 / min((p.fps for p in cams if p.fps > 0), default=25.0)
    times = [m.time_s + half_frame for m in found]
    if not times:
        starts, ends = max(p.start_s for p in cams), min(p.end_s for p in cams)
        times = [(starts + ends) / 2 if ends > starts else (min(p.start_s for p in cams) + max(p.end_s for p in cams)) / 2]
        notes.append("no distinct motion shared by the cameras: one image at the middle of their overlap")
    by_path = {p.path: p for p in cams}
    entries = []
    for k, T in enumerate(times, 1):
        now = frames_at(cams, T, max_width=MAX_WIDTH)
        boxes: dict[str, list[tuple[int, int, int, int]]] = {}
        cameras: dict[str, Any] = {}
        for f in now:
            if f.image is None:
                cameras[f.path] = {"shown": False, "reason": f.reason}
                continue
            assert f.frame_time_s is not None  # set together with the image
            h, w = f.image.shape[:2]
            before = frames_at([by_path[f.path]], T - LOOKBACK_S, width=w, height=h)[0]
            boxes[f.path] = moving_boxes(before.image, f.image) if before.image is not None else []
            scale = by_path[f.path].size[0] / w if by_path[f.path].size[0] else 1.0
            cameras[f.path] = {"shown": True, "frame_time_s": round(f.frame_time_s, 6),
                               "boxes": [[round(v * scale) for v in b] for b in boxes[f.path]]}
        name = f"indicator_{k:02d}_{T:.3f}s.png"
        files.append(indicator_image(plt, T, now, boxes, by_path, LOOKBACK_S, out / name))
        entry = {"time_s": round(T, 4), "image": name, "cameras": cameras}
        if found:
            entry["score"] = round(found[k - 1].score, 3)
        entries.append(entry)
    return entries


def _waveforms(plt, placed: list[Placed], reference: str, out: Path, count: int, notes: list[str],
               files: list[Path]) -> tuple[str | None, list[dict]]:
    from avsync.review.plots import waveform_plot
    from avsync.review.waveforms import review_audio

    if sum(p.has_audio for p in placed) < 2:
        notes.append("fewer than two files with audio: no waveform plots")
        return None, []
    found, anchor = review_audio(placed, reference, count)
    if not found:
        notes.append("no transient heard by every recording (a clap, a knock): no waveform plots")
        return anchor, []
    entries = []
    for k, t in enumerate(found, 1):
        name = f"waveform_{k:02d}_{t.time_s:.3f}s.png"
        files.append(waveform_plot(plt, t, out / name))
        entries.append({**t.to_dict(), "image": name})
    return anchor, entries


def _max_abs(transients: list[dict]) -> dict[str, float]:
    worst: dict[str, float] = {}
    for t in transients:
        for path, r in t["residual_ms"].items():
            if r is not None:
                worst[path] = round(max(worst.get(path, 0.0), abs(r)), 4)
    return worst
