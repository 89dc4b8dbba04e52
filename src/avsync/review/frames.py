"""The frames of every synced file at one synced time.

The frame a file shows at its own time ``t`` is the last frame whose timestamp is not after
``t`` (a frame stays on screen until the next one): what a player displays, and what OpenCV's
``CAP_PROP_POS_MSEC`` seek followed by ``read()`` is meant to give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.media.video import iter_frames
from avsync.review.placed import Placed, ResultOrOutputs, placed_files

# A frame timestamp within this of ``t`` counts as shown at ``t`` (float rounding of timestamps).
_EPS_S = 1e-6


@dataclass
class GrabbedFrame:
    """One file's picture at a synced time. ``image`` is None where the file shows nothing then."""

    path: str
    synced_time_s: float
    file_time_s: float  # the file's own time that shows synced_time_s
    image: np.ndarray | None = None  # (height, width, 3) uint8 RGB
    frame_time_s: float | None = None  # that frame's own timestamp in the file
    reason: str | None = None  # why there is no image


def grab_frames(
    result_or_outputs: ResultOrOutputs, t: float, *, width: int | None = None, height: int | None = None
) -> dict[str, np.ndarray | None]:
    """The frames of all synced files at synced time ``t`` (seconds on the reference's timeline),
    as ``{path: (height, width, 3) uint8 RGB array}``; ``None`` for a file that shows no picture
    then (it has not started or has ended, or has no video).

    ``result_or_outputs``: a :class:`~avsync.SyncResult` (or its JSON dict or path): offsets and
    drift are applied to the original files; or a list of synced outputs (``avsync apply``),
    which are already aligned. Frames come at the source size unless ``width``/``height`` are
    given (one of them keeps the aspect ratio).

    >>> import avsync
    >>> result = avsync.sync(["cam1.mp4", "cam2.mp4"])              # doctest: +SKIP
    >>> frames = avsync.grab_frames(result, 12.5)                   # doctest: +SKIP
    >>> {path: img.shape for path, img in frames.items() if img is not None}   # doctest: +SKIP
    {'cam1.mp4': (1080, 1920, 3), 'cam2.mp4': (720, 1280, 3)}
    """
    placed = placed_files(result_or_outputs)
    return {g.path: g.image for g in frames_at(placed, t, width=width, height=height)}


def frames_at(placed: list[Placed], synced_s: float, *, width: int | None = None, height: int | None = None,
              max_width: int | None = None) -> list[GrabbedFrame]:
    """:class:`GrabbedFrame` of each placed file at ``synced_s``. ``max_width`` shrinks larger
    frames (keeping the aspect ratio) when no explicit size is given."""
    grabbed = []
    for p in placed:
        t = p.file_time(synced_s)
        g = GrabbedFrame(path=p.path, synced_time_s=float(synced_s), file_time_s=float(t))
        if not p.has_video:
            g.reason = "no video"
        elif not p.covers(synced_s):
            g.reason = "not recording" if t < 0 else "ended"
        else:
            w, h = output_size(p.size, width, height, max_width)
            found = frame_at(p, t, w, h)
            if found is None:
                g.reason = "no frame decoded"
            else:
                g.image, g.frame_time_s = found
        grabbed.append(g)
    return grabbed


def frame_at(p: Placed, t: float, width: int, height: int) -> tuple[np.ndarray, float] | None:
    """The frame ``p`` shows at its own time ``t`` and that frame's timestamp."""
    step = 1.0 / p.fps if p.fps > 0 else 0.1
    best: tuple[np.ndarray, float] | None = None
    # Start a little before t: the decoder drops frames before its start time.
    for frames, times in iter_frames(p.file, width, height, rgb=True, start_s=max(0.0, t - 2 * step), chunk=4):
        for img, ft in zip(frames, times):
            if ft <= t + _EPS_S:
                best = (np.array(img), float(ft))
                continue
            # t just before the first frame (streams rarely start exactly at 0): that frame.
            if best is None and ft - t <= 1.5 * step:
                best = (np.array(img), float(ft))
            return best
    return best


def output_size(source: tuple[int, int], width: int | None, height: int | None, max_width: int | None = None) -> tuple[int, int]:
    """The decode size: as asked, else the source's (shrunk to ``max_width``), aspect kept."""
    sw, sh = source
    if sw <= 0 or sh <= 0:
        sw, sh = 320, 240
    if width and height:
        return int(width), int(height)
    if width:
        return int(width), max(1, round(sh * width / sw))
    if height:
        return max(1, round(sw * height / sh)), int(height)
    if max_width and sw > max_width:
        return int(max_width), max(1, round(sh * max_width / sw))
    return sw, sh
