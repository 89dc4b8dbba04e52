"""Audio features for SyncNet: MFCCs computed exactly as the reference implementation does.

SyncNet's audio tower was trained on ``python_speech_features.mfcc(signal, 16000)`` with that
package's defaults, applied to 16 kHz mono samples on the int16 scale (as ``scipy.io.wavfile``
reads them). :func:`mfcc` reproduces it with numpy/scipy: pre-emphasis 0.97, 25 ms frames every
10 ms (the last one zero-padded), no window, a 512-point power spectrum, 26 triangular mel filters
from 0 to 8 kHz, log, orthonormal DCT-II, 13 coefficients, a sinusoidal lifter of 22, and the
first coefficient replaced by the log of the frame's total power.

>>> import numpy as np
>>> feats = mfcc(np.ones(16000))
>>> feats.shape            # a frame every 10 ms (the last 25 ms window ends at the last sample)
(99, 13)
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
VIDEO_FPS = 25
MFCC_PER_VIDEO_FRAME = 4  # 100 MFCC frames per second / 25 video frames per second
SAMPLES_PER_VIDEO_FRAME = SAMPLE_RATE // VIDEO_FPS  # 640

_EPS = np.finfo(float).eps


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray | float:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray | float:
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(n_filters: int = 26, n_fft: int = 512, sample_rate: int = SAMPLE_RATE, low_hz: float = 0.0, high_hz: float | None = None) -> np.ndarray:
    """Triangular mel filters, shape ``(n_filters, n_fft // 2 + 1)``, on FFT bins rounded down
    (the python_speech_features construction, not librosa's)."""
    high_hz = high_hz or sample_rate / 2
    mels = np.linspace(_hz_to_mel(low_hz), _hz_to_mel(high_hz), n_filters + 2)
    bins = np.floor((n_fft + 1) * _mel_to_hz(mels) / sample_rate)
    bank = np.zeros((n_filters, n_fft // 2 + 1))
    for j in range(n_filters):
        lo, mid, hi = int(bins[j]), int(bins[j + 1]), int(bins[j + 2])
        k = np.arange(lo, mid)
        bank[j, lo:mid] = (k - bins[j]) / (bins[j + 1] - bins[j])
        k = np.arange(mid, hi)
        bank[j, mid:hi] = (bins[j + 2] - k) / (bins[j + 2] - bins[j + 1])
    bank.setflags(write=False)
    return bank


def _frames(signal: np.ndarray, frame_len: int, step: int) -> np.ndarray:
    """Overlapping frames; the signal is zero-padded so that the last frame is complete."""
    n = signal.size
    count = 1 if n <= frame_len else 1 + int(math.ceil((n - frame_len) / step))
    padded = np.zeros((count - 1) * step + frame_len)
    padded[:n] = signal
    return np.lib.stride_tricks.sliding_window_view(padded, frame_len)[::step][:count]


def mfcc(
    signal: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    *,
    win_s: float = 0.025,
    step_s: float = 0.01,
    n_ceps: int = 13,
    n_filters: int = 26,
    n_fft: int = 512,
    preemph: float = 0.97,
    lifter: int = 22,
) -> np.ndarray:
    """MFCC features ``(frames, n_ceps)`` float64, identical to ``python_speech_features.mfcc``.

    ``signal`` is mono audio on the scale the model expects: SyncNet's is int16 (full scale
    32768), see :func:`int16_scale`.
    """
    from scipy.fft import dct

    x = np.asarray(signal, dtype=np.float64).ravel()
    if x.size == 0:
        return np.zeros((0, n_ceps))
    x = np.concatenate([x[:1], x[1:] - preemph * x[:-1]])
    frames = _frames(x, _round_half_up(win_s * sample_rate), _round_half_up(step_s * sample_rate))
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2 / n_fft
    energy = power.sum(axis=1)
    energy[energy == 0] = _EPS
    bands = power @ mel_filterbank(n_filters, n_fft, sample_rate).T
    bands[bands == 0] = _EPS
    ceps = dct(np.log(bands), type=2, axis=1, norm="ortho")[:, :n_ceps]
    if lifter > 0:
        ceps *= 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(n_ceps) / lifter)
    ceps[:, 0] = np.log(energy)
    return ceps


def int16_scale(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to the values ``ffmpeg -acodec pcm_s16le`` would write (rounded,
    clipped), as float64: the scale SyncNet's audio tower was trained on."""
    return np.clip(np.rint(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)


def audio_windows(features: np.ndarray, count: int, *, window: int = 20, step: int = MFCC_PER_VIDEO_FRAME) -> np.ndarray:
    """``count`` MFCC windows for consecutive video frames: window ``i`` is ``features[4i : 4i+20]``
    transposed to ``(n_ceps, window)``, shape ``(count, 1, n_ceps, window)`` float32 (the audio
    tower's input). Frames past the end of ``features`` are zero."""
    need = (count - 1) * step + window if count > 0 else 0
    feats = np.asarray(features, dtype=np.float32)
    if feats.shape[0] < need:
        feats = np.concatenate([feats, np.zeros((need - feats.shape[0], feats.shape[1]), np.float32)])
    view = np.lib.stride_tricks.sliding_window_view(feats[:need], window, axis=0)[::step][:count]
    return np.ascontiguousarray(view[:, None, :, :])
