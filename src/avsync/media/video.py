"""Video decoding to small frames, and motion energy, through avsync._core."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avsync import _core
from avsync.progress import progress_bar

DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 90
_CHUNK_FRAMES = 256
# Values per call into the motion reader: a few seconds of 1080p decoding, so the progress bar
# moves and Ctrl-C is honoured between calls.
_MOTION_CHUNK = 512
# A chunk of frames never needs more than this (large RGB frames get fewer per chunk).
_CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class MotionSignal:
    """Motion energy of a video: how much the picture changes from one frame to the next.

    ``energy[i]`` is the mean absolute change of luma (0-255 scale, on the ``width`` x ``height``
    box-averaged grid, inside the region of interest) between decoded frames ``i`` and ``i+1``;
    ``times_s[i]`` is the midpoint of their presentation times, in seconds from the file's start.
    Variable frame rate stays true: times are the decoder's, not ``i / fps``.
    """

    times_s: np.ndarray  # float64
    energy: np.ndarray  # float32
    mean_luma: np.ndarray  # float32, of the later frame of each pair
    fps: float  # the stream's average frame rate
    frames: int  # frames decoded
    source_size: tuple[int, int]
    grid_size: tuple[int, int]
    path: str = field(default="")

    @property
    def duration_s(self) -> float:
        return float(self.times_s[-1] - self.times_s[0]) if self.times_s.size > 1 else 0.0

    def __len__(self) -> int:
        return int(self.energy.size)


def motion_energy(
    path: str | os.PathLike[str],
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    roi: Sequence[float] | None = None,
    *,
    threads: int = 0,
    progress: bool = False,
) -> MotionSignal:
    """Motion energy of the video stream of ``path`` (see :class:`MotionSignal`).

    Frames are decoded with frame threading on all cores (``threads=0``), their Y plane is
    box-averaged to ``width`` x ``height`` without colour conversion, and each frame is compared
    with the previous one in the same pass: memory does not grow with the video's length.

    ``roi`` is ``(x, y, w, h)`` in source pixels (as in OpenCV); ``None`` uses the whole frame.
    ``progress=True`` shows a progress bar on stderr.
    """
    _check_size(width, height)
    roi_list = _check_roi(roi)
    reader = _core.MotionReader(os.fspath(path), int(width), int(height), roi_list, int(threads))
    info = reader.info
    expected = _expected_frames(info)
    times, energy, luma = [], [], []
    with progress_bar(total=expected, unit="frame", desc=os.path.basename(os.fspath(path)), enabled=progress) as bar:
        while True:
            t, e, lum = reader.read(_MOTION_CHUNK)
            if t.size == 0:
                break
            times.append(t)
            energy.append(e)
            luma.append(lum)
            bar.update(t.size)
    join = lambda parts, dtype: np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)  # noqa: E731
    return MotionSignal(
        times_s=join(times, np.float64),
        energy=join(energy, np.float32),
        mean_luma=join(luma, np.float32),
        fps=float(info["average_fps"]),
        frames=int(reader.frames),
        source_size=(int(info["source_width"]), int(info["source_height"])),
        grid_size=(int(width), int(height)),
        path=os.fspath(path),
    )


def iter_frames(
    path: str | os.PathLike[str],
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    *,
    rgb: bool = False,
    start_s: float | None = None,
    chunk: int = _CHUNK_FRAMES,
    threads: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields ``(frames, times_s)`` chunks of at most ``chunk`` frames.

    Luma (default): ``frames`` is float32 ``(n, height, width)`` on the 0-255 scale, box-averaged
    from the decoded Y plane. ``rgb=True``: uint8 ``(n, height, width, 3)`` through swscale (area
    filter when shrinking, the source's colour matrix and range honoured). ``start_s`` skips
    frames before that time (seeking to the keyframe before it first). A chunk holds at most
    64 MB of frames, so large RGB frames come in smaller chunks than ``chunk``.
    """
    _check_size(width, height)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of frames, got {chunk}")
    frame_bytes = width * height * (3 if rgb else 4)
    chunk = max(1, min(int(chunk), _CHUNK_BYTES // frame_bytes))
    if start_s is not None and not np.isfinite(start_s):
        raise ValueError(f"start_s must be a finite number of seconds, got {start_s!r}")
    decoder = _core.VideoDecoder(os.fspath(path), int(width), int(height), bool(rgb), int(threads))
    if start_s is not None and start_s > 0:
        decoder.seek(float(start_s))
    while True:
        frames, times = decoder.read(chunk)
        if times.size == 0:
            return
        yield frames, times


def video_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Source size, average fps, start and duration of the video stream, without decoding it."""
    return dict(_core.VideoDecoder(os.fspath(path), 16, 16, False, 1).info)


def _expected_frames(info: Mapping[str, Any]) -> int | None:
    fps, duration = info.get("average_fps") or 0.0, info.get("duration_s") or -1.0
    return int(round(fps * duration)) if fps > 0 and duration > 0 else None


def _check_size(width: int, height: int) -> None:
    for name, value in (("width", width), ("height", height)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{name} must be an integer number of pixels, got {value!r}")
        if not 1 <= value <= 8192:
            raise ValueError(f"{name} must be between 1 and 8192 pixels, got {value}")


def _check_roi(roi: Sequence[float] | None) -> list[float]:
    if roi is None:
        return []
    values = [float(v) for v in roi]
    if len(values) != 4:
        raise ValueError(f"roi must be (x, y, width, height) in source pixels, got {roi!r}")
    if not all(np.isfinite(values)):
        raise ValueError(f"roi values must be finite numbers, got {roi!r}")
    if values[2] <= 0 or values[3] <= 0:
        raise ValueError(f"roi width and height must be positive, got {roi!r}")
    return values
