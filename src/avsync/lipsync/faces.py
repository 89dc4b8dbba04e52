"""Face crops as the SyncNet reference pipeline makes them.

For a smoothed box with centre ``(cx, cy)`` and half size ``bs`` (half its larger side) and
``crop_scale`` ``cs`` (0.4 by default), the crop spans ``bs * (1 + cs)`` either side of the
centre horizontally and from ``bs`` above the centre to ``bs * (1 + 2 cs)`` below it (the mouth
sits in the lower half), on the frame padded with grey (110) by ``bs * (1 + 2 cs)`` pixels. It is
resized to 224x224 with bilinear interpolation. Only the crop's own region is padded here, not
the whole frame; the pixels are the same.

>>> import numpy as np
>>> frame = np.zeros((360, 640, 3), np.uint8)
>>> crop_face(frame, 320.0, 180.0, 50.0).shape
(224, 224, 3)
"""

from __future__ import annotations

import numpy as np

CROP_SIZE = 224
PAD_VALUE = 110
DEFAULT_CROP_SCALE = 0.40


def crop_window(cx: float, cy: float, half: float, crop_scale: float = DEFAULT_CROP_SCALE) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` of the crop in frame pixels (may reach outside the frame), rounded as
    the reference rounds them in its padded frame."""
    pad = int(half * (1 + 2 * crop_scale))
    my, mx = cy + pad, cx + pad
    y1, y2 = int(my - half), int(my + half * (1 + 2 * crop_scale))
    x1, x2 = int(mx - half * (1 + crop_scale)), int(mx + half * (1 + crop_scale))
    return x1 - pad, y1 - pad, x2 - pad, y2 - pad


def crop_face(frame: np.ndarray, cx: float, cy: float, half: float, crop_scale: float = DEFAULT_CROP_SCALE, size: int = CROP_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``frame`` (H, W, 3) for one smoothed box."""
    import cv2

    h, w = frame.shape[:2]
    x1, y1, x2, y2 = crop_window(cx, cy, half, crop_scale)
    if x2 <= x1 or y2 <= y1:
        return np.full((size, size, 3), PAD_VALUE, np.uint8)
    region = np.full((y2 - y1, x2 - x1, 3), PAD_VALUE, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        region[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = frame[sy1:sy2, sx1:sx2]
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR)
