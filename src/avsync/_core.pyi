"""Type stubs for avsync._core, the private compiled module (cpp/bindings/module.cpp).

Checked against the built module by tests/test_core_stubs.py (mypy's stubtest and a comparison
with the signatures pybind11 records). Public wrappers with validation and documentation live
in avsync.media.audio, avsync.media.video, avsync.media.probe and avsync.phat.
"""

from collections.abc import Sequence
from typing import Any, SupportsFloat, SupportsIndex, SupportsInt, TypedDict

import numpy as np
import numpy.typing as npt

_Int = SupportsInt | SupportsIndex
_Float = SupportsFloat | SupportsIndex

__version__: str
CONFIDENCE_EXCESS_FLOOR: float
CONFIDENCE_EXCESS_SCALE: float

class _FFmpegVersions(TypedDict):
    libavformat: str
    libavcodec: str
    libavutil: str
    libswresample: str
    libswscale: str
    runtime_libavcodec: int

class _StreamInfo(TypedDict, total=False):
    index: int
    type: str  # "audio", "video", "subtitle", "data", "attachment" or "unknown"
    codec: str
    start_s: float
    duration_s: float | None
    bit_rate: int
    # video streams
    width: int
    height: int
    fps: float
    real_fps: float
    frames: int
    pix_fmt: str
    attached_pic: bool
    # audio streams
    sample_rate: int
    channels: int
    sample_fmt: str

class _MediaInfo(TypedDict):
    path: str
    format: str
    duration_s: float | None
    start_s: float
    bit_rate: int
    best_audio: int  # index into streams, -1 when there is none
    best_video: int  # cover art does not count as video
    streams: list[_StreamInfo]

class _VideoInfo(TypedDict):
    source_width: int
    source_height: int
    average_fps: float
    start_s: float
    duration_s: float  # -1 when unknown
    luma_from_plane: bool  # False: the pixel format needed swscale to make gray
    decode_errors: int

class _PhatPeak(TypedDict):
    delay: float  # samples, sub-sample refined: b(t) ≈ a(t - delay)
    lag: int
    peak: float
    second_peak: float
    noise_mean: float
    noise_std: float
    lags_searched: int
    confidence: float

class _WindowedPeaks(TypedDict):
    centers: npt.NDArray[np.float64]  # centre of each window in b, samples
    delay: npt.NDArray[np.float64]  # samples
    peak: npt.NDArray[np.float64]
    second_peak: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]

def set_ffmpeg_log_level(level: _Int) -> None: ...
def ffmpeg_versions() -> _FFmpegVersions: ...
def probe(path: str) -> _MediaInfo: ...
def read_audio(
    path: str, sample_rate: _Int, chunk: _Int = 65536
) -> tuple[npt.NDArray[np.float32], float]: ...

class AudioDecoder:
    def __init__(self, path: str, sample_rate: _Int) -> None: ...
    def read(self, max_samples: _Int) -> npt.NDArray[np.float32]: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def source_sample_rate(self) -> int: ...
    @property
    def source_channels(self) -> int: ...
    @property
    def start_s(self) -> float: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def decode_errors(self) -> int: ...

class VideoDecoder:
    def __init__(self, path: str, width: _Int, height: _Int, rgb: bool = False, threads: _Int = 0) -> None: ...
    # (frames, times_s): float32 (n, height, width) luma, or uint8 (n, height, width, 3) RGB.
    def read(self, max_frames: _Int) -> tuple[npt.NDArray[np.float32] | npt.NDArray[np.uint8], npt.NDArray[np.float64]]: ...
    def seek(self, seconds: _Float) -> None: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def info(self) -> _VideoInfo: ...

class MotionReader:
    def __init__(
        self, path: str, width: _Int, height: _Int, roi: Sequence[_Float] = ..., threads: _Int = 0
    ) -> None: ...
    # (times_s, energy, mean_luma)
    def read(
        self, max_values: _Int
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...
    @property
    def frames(self) -> int: ...
    @property
    def roi(self) -> tuple[int, int, int, int]: ...
    @property
    def info(self) -> _VideoInfo: ...

def gcc_phat(
    a: npt.NDArray[Any],
    b: npt.NDArray[Any],
    max_lag: _Int = -1,
    guard: _Int = 16,
    threads: _Int = 0,
    taper: _Int = 0,
) -> _PhatPeak: ...
def gcc_phat_correlation(
    a: npt.NDArray[Any], b: npt.NDArray[Any], max_lag: _Int = -1, taper: _Int = 0
) -> tuple[int, npt.NDArray[np.float32]]: ...
def gcc_phat_windowed(
    a: npt.NDArray[Any],
    b: npt.NDArray[Any],
    window: _Int,
    hop: _Int,
    max_lag: _Int,
    center_lag: _Int = 0,
    guard: _Int = 16,
    threads: _Int = 0,
    taper: _Int = 0,
) -> _WindowedPeaks: ...
def phat_confidence(peak: _Float, second_peak: _Float, noise_mean: _Float, noise_std: _Float) -> float: ...

# Test hook: share `failing` of `shares` threads throws; raises RuntimeError("share N failed").
def _check_worker_exception(shares: _Int, failing: _Int) -> None: ...
