"""Shot cuts and face tracks, online (one frame at a time), as the lip-sync pipeline streams.

- :class:`ShotCutDetector`: a cut where the mean absolute change of hue, saturation and value
  between consecutive frames exceeds a threshold (PySceneDetect's ContentDetector rule: 27 on
  the 0-255 scale, at least 15 frames between cuts), computed on a small copy of each frame.
- :class:`FaceTracker`: detections are linked frame to frame when their boxes overlap (IoU >
  0.5) within ``max_gap`` frames (the reference's ``num_failed_det``, 25); boxes in the gaps are
  interpolated linearly. A cut ends every track. Several faces give several tracks.
- :func:`smooth_boxes`: the crop geometry the reference uses (centre and half-size of each
  box), median-filtered over 13 frames; at the ends of a track the filter repeats the end values
  (the reference pads with zeros there, which shrinks the first and last crops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

IOU_THRESHOLD = 0.5
DEFAULT_MAX_GAP = 25  # the reference's num_failed_det
SMOOTH_KERNEL = 13


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` ``(..., 4)`` and ``b`` ``(..., 4)`` as x1, y1, x2, y2."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = np.maximum(0.0, np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]))
    h = np.maximum(0.0, np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]))
    inter = w * h
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


class ShotCutDetector:
    """Feed small RGB frames in order; :meth:`push` returns True when a frame starts a new shot."""

    def __init__(self, threshold: float = 27.0, min_shot: int = 15) -> None:
        self.threshold = float(threshold)
        self.min_shot = int(min_shot)
        self._previous: np.ndarray | None = None
        self._since_cut = 0

    def push(self, small_rgb: np.ndarray) -> bool:
        import cv2

        hsv = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2HSV_FULL).astype(np.int16)
        previous, self._previous = self._previous, hsv
        self._since_cut += 1
        if previous is None:
            return False
        score = float(np.abs(hsv - previous).mean())
        if score > self.threshold and self._since_cut >= self.min_shot:
            self._since_cut = 0
            return True
        return False


@dataclass
class Track:
    """One face over consecutive frames: detections at ``frames`` (25 fps indices) with ``boxes``
    ``[x1, y1, x2, y2]`` in source pixels."""

    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ended: bool = False

    @property
    def start(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    @property
    def detections(self) -> int:
        return len(self.frames)

    def boxes_between(self, first: int, stop: int) -> np.ndarray:
        """Boxes for every frame from ``first`` to ``stop`` (inclusive, clipped to the track),
        gaps interpolated linearly, ``(n, 4)``."""
        first, stop = max(first, self.start), min(stop, self.last)
        known = np.asarray(self.frames)
        lo = max(0, int(np.searchsorted(known, first, side="right")) - 1)
        hi = int(np.searchsorted(known, stop, side="left")) + 1
        boxes = np.asarray(self.boxes[lo:hi], np.float64)
        wanted = np.arange(first, stop + 1)
        return np.stack([np.interp(wanted, known[lo:hi], boxes[:, k]) for k in range(4)], axis=1)

    def boxes_until(self, stop: int) -> np.ndarray:
        """Boxes from :attr:`start` to ``stop`` (see :meth:`boxes_between`)."""
        return self.boxes_between(self.start, stop)

    def mean_size(self) -> float:
        """The larger of the mean width and the mean height of the interpolated boxes (the
        reference's measure for ``min_face_size``)."""
        b = self.boxes_until(self.last)
        return float(max(np.mean(b[:, 2] - b[:, 0]), np.mean(b[:, 3] - b[:, 1])))


class FaceTracker:
    """Links per-frame detections into tracks (see the module's notes)."""

    def __init__(self, max_gap: int = DEFAULT_MAX_GAP, iou_threshold: float = IOU_THRESHOLD) -> None:
        self.max_gap = int(max_gap)
        self.iou_threshold = float(iou_threshold)
        self.active: list[Track] = []
        self._next_id = 0

    def end_all(self) -> list[Track]:
        """Ends every active track (a shot cut, or the end of the video); returns them."""
        ended, self.active = self.active, []
        for t in ended:
            t.ended = True
        return ended

    def update(self, frame: int, detections: np.ndarray) -> list[Track]:
        """Adds frame ``frame``'s detections ``(n, >=4)``; returns the tracks that ended (no
        detection for more than ``max_gap`` frames)."""
        dets = np.asarray(detections, np.float64).reshape(-1, detections.shape[-1] if len(detections) else 5)
        unmatched = list(range(len(dets)))
        if self.active and len(dets):
            last = np.stack([t.boxes[-1] for t in self.active])
            overlaps = iou(last[:, None, :], dets[None, :, :4])
            # best overlaps first: each track takes at most one detection and vice versa
            for ti, di in zip(*np.unravel_index(np.argsort(-overlaps, axis=None), overlaps.shape)):
                track = self.active[ti]
                if overlaps[ti, di] <= self.iou_threshold:
                    break
                if di in unmatched and track.last != frame:
                    track.frames.append(frame)
                    track.boxes.append(dets[di, :4].copy())
                    track.scores.append(float(dets[di, 4]) if dets.shape[1] > 4 else 1.0)
                    unmatched.remove(di)
        for di in unmatched:
            track = Track(self._next_id, [frame], [dets[di, :4].copy()], [float(dets[di, 4]) if dets.shape[1] > 4 else 1.0])
            self._next_id += 1
            self.active.append(track)
        ended = [t for t in self.active if frame - t.last > self.max_gap]
        for t in ended:
            t.ended = True
        self.active = [t for t in self.active if not t.ended]
        return ended


def smooth_boxes(boxes: np.ndarray, kernel: int = SMOOTH_KERNEL) -> np.ndarray:
    """``(n, 4)`` boxes -> ``(n, 3)`` ``[centre x, centre y, half size]`` median-filtered over
    ``kernel`` frames; half size is half the larger side of the box."""
    from scipy.ndimage import median_filter

    b = np.asarray(boxes, np.float64)
    geometry = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2], axis=1)
    if len(geometry) < 2:
        return geometry
    return median_filter(geometry, size=(kernel, 1), mode="nearest")
