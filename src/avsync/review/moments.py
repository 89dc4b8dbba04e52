"""Where to look: the moments of most distinct motion shared by the cameras on the synced
timeline, and the regions of a frame that moved.

A camera's motion energy (mean luma change between frames, see
:func:`avsync.motion_energy`) is turned into a *distinctness*: how far it rises above its own
running median, in units of the camera's typical motion. Mapped onto the synced timeline, the
cameras that record at a moment are combined by a geometric mean (a moment scores only when
every camera sees it), times the share of cameras recording then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avsync.media.video import MotionSignal
from avsync.review.placed import Placed

GRID_S = 0.02  # the synced timeline is scored on this grid
BASELINE_S = 1.0  # running median width: motion is distinct against its last second or so
POOL_S = 0.08  # tolerance for a sync that is a frame or two off
MIN_SCORE = 1.0  # below this (no rise above typical motion) a moment is not distinct


@dataclass(frozen=True)
class Moment:
    time_s: float  # synced time
    score: float
    cameras: int  # cameras recording then


def distinct_motion(signal: MotionSignal, times_s: np.ndarray) -> np.ndarray:
    """Distinctness of the motion of one camera at its own ``times_s`` (0 where nothing moves)."""
    e = signal.energy.astype(np.float64)
    if e.size < 3:
        return np.zeros_like(times_s)
    step = float(np.median(np.diff(signal.times_s))) if signal.times_s.size > 1 else 0.04
    half = max(1, int(round(BASELINE_S / step / 2)))
    padded = np.pad(e, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    baseline = np.median(windows, axis=1)
    scale = max(float(np.percentile(e, 75)) - float(np.percentile(e, 25)), float(np.median(e)) * 0.5, 0.05)
    rise = np.clip((e - baseline) / scale, 0.0, None)
    return np.interp(times_s, signal.times_s, rise, left=0.0, right=0.0)


def shared_moments(placed: list[Placed], motion: dict[str, MotionSignal], count: int = 4, min_gap_s: float = 1.0) -> list[Moment]:
    """The ``count`` best moments (at least ``min_gap_s`` apart), best first."""
    cams = [p for p in placed if p.has_video and p.path in motion and motion[p.path].energy.size > 2]
    if not cams or count < 1:
        return []
    start = min(p.start_s for p in cams)
    end = max(p.end_s for p in cams)
    grid = np.arange(start, end, GRID_S)
    if grid.size == 0:
        return []
    log_sum = np.zeros(grid.size)
    raw_sum = np.zeros(grid.size)  # unpooled: where exactly the motion peaks
    covering = np.zeros(grid.size)
    pool = max(1, int(round(POOL_S / GRID_S)))
    for p in cams:
        inside = (grid >= p.start_s) & (grid < p.end_s)
        d = np.where(inside, distinct_motion(motion[p.path], p.file_time(grid)), 0.0)
        raw_sum += d
        log_sum += np.where(inside, np.log1p(_max_pool(d, pool)), 0.0)
        covering += inside
    score = np.where(covering > 0, np.expm1(log_sum / np.maximum(covering, 1)), 0.0) * covering / len(cams)
    picked: list[Moment] = []
    order = np.argsort(-score, kind="stable")
    for i in order:
        if score[i] < MIN_SCORE or len(picked) >= count:
            break
        lo = max(0, i - pool)
        peak = lo + int(np.argmax(raw_sum[lo: i + pool + 1]))
        if all(abs(grid[peak] - m.time_s) >= min_gap_s for m in picked):
            picked.append(Moment(float(grid[peak]), float(score[i]), int(covering[i])))
    return picked


def _max_pool(x: np.ndarray, half: int) -> np.ndarray:
    padded = np.pad(x, half, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).max(axis=1)


def moving_boxes(before: np.ndarray, after: np.ndarray, *, cell: int | None = None, max_boxes: int = 6) -> list[tuple[int, int, int, int]]:
    """Boxes ``(x, y, w, h)`` in pixels around the regions that changed between two RGB frames
    of the same size: cells (8 px, smaller on tiny pictures) whose mean change stands out from
    the frame's noise, joined into connected regions (the larger first)."""
    if before.shape != after.shape:
        raise ValueError("frames must have the same size")
    diff = np.abs(after.astype(np.int16) - before.astype(np.int16)).mean(axis=2)
    h, w = diff.shape
    cell = max(1, min(cell or 8, min(h, w) // 12 or 1))
    gh, gw = h // cell, w // cell
    cells = diff[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).mean(axis=(1, 3))
    noise = float(np.median(cells))
    mad = float(np.median(np.abs(cells - noise)))
    mask = cells > max(8.0, noise + 6.0 * 1.4826 * mad)
    labels, n = _label(mask)
    boxes = []
    for k in range(1, n + 1):
        ys, xs = np.nonzero(labels == k)
        weight = float(cells[ys, xs].sum())
        boxes.append((weight, (int(xs.min() * cell), int(ys.min() * cell), int((xs.max() - xs.min() + 1) * cell), int((ys.max() - ys.min() + 1) * cell))))
    boxes.sort(key=lambda b: -b[0])
    return [b for _, b in boxes[:max_boxes]]


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected regions (8-neighbourhood) of a small boolean grid, numbered from 1."""
    labels = np.zeros(mask.shape, np.int32)
    n = 0
    h, w = mask.shape
    for y0, x0 in zip(*np.nonzero(mask)):
        if labels[y0, x0]:
            continue
        n += 1
        stack = [(y0, x0)]
        labels[y0, x0] = n
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    yy, xx = y + dy, x + dx
                    if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                        labels[yy, xx] = n
                        stack.append((yy, xx))
    return labels, n
