"""Audio decoding: any file FFmpeg can read, to mono float32 at a chosen sample rate."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from avsync import _core

DEFAULT_SAMPLE_RATE = 16000
DEFAULT_CHUNK = 1 << 16


def read_audio(path: str | os.PathLike[str], sample_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
    """Decodes the best audio stream of ``path`` to mono float32 samples at ``sample_rate``.

    The samples are those of ``ffmpeg -i PATH -ac 1 -ar RATE -f f32le -``: the same count and the
    same values (FFmpeg's own resampler and down-mix). Decoding runs in fixed-size chunks in C++
    with the GIL released; only the result is held in memory.

    Raises :class:`avsync.MediaError` (missing or unreadable file), :class:`avsync.NoStreamError`
    (no audio stream) or :class:`avsync.InvalidDataError` (empty or corrupt file).
    """
    samples, _start = read_audio_with_start(path, sample_rate)
    return samples


def read_audio_with_start(path: str | os.PathLike[str], sample_rate: int = DEFAULT_SAMPLE_RATE) -> tuple[np.ndarray, float]:
    """Like :func:`read_audio`, and also the audio stream's start time (seconds) relative to the
    file's start: the first sample plays at that time, which matters when audio and video of a
    file do not start together."""
    _check_rate(sample_rate)
    return _core.read_audio(os.fspath(path), int(sample_rate))


def iter_audio(
    path: str | os.PathLike[str], sample_rate: int = DEFAULT_SAMPLE_RATE, chunk: int = DEFAULT_CHUNK
) -> Iterator[np.ndarray]:
    """Yields the same samples as :func:`read_audio` in chunks of ``chunk`` samples (the last may be
    shorter), so memory stays bounded whatever the file's length."""
    _check_rate(sample_rate)
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of samples, got {chunk}")
    decoder = _core.AudioDecoder(os.fspath(path), int(sample_rate))
    while True:
        block = decoder.read(chunk)
        if block.size == 0:
            return
        yield block


def _check_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool):
        raise TypeError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    if not 1000 <= sample_rate <= 768000:
        raise ValueError(f"sample_rate must be between 1000 and 768000 Hz, got {sample_rate}")
