"""How much an original moves and how loud it is: the numbers behind motion_level and
audio_energy_level (thresholds in :mod:`evaluation.common`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from evaluation.common import AUDIO_THRESHOLDS_DBFS, MOTION_THRESHOLDS, level

SILENCE_DBFS = -120.0


@dataclass(frozen=True)
class ContentLevels:
    motion_energy: float  # mean motion energy (0-255 luma scale), NaN without video
    audio_rms_dbfs: float  # whole-track RMS, SILENCE_DBFS without audio

    @property
    def motion_level(self) -> str:
        return level(self.motion_energy, MOTION_THRESHOLDS)

    @property
    def audio_energy_level(self) -> str:
        return level(self.audio_rms_dbfs, AUDIO_THRESHOLDS_DBFS)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS of float samples (full scale 1.0) in dBFS."""
    if samples.size == 0:
        return SILENCE_DBFS
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(SILENCE_DBFS, 20.0 * np.log10(rms)) if rms > 0 else SILENCE_DBFS


def measure(path: str | os.PathLike[str], has_video: bool = True, has_audio: bool = True) -> ContentLevels:
    """Motion energy and audio RMS of ``path`` (each decoded once, in chunks)."""
    import avsync

    motion = float("nan")
    if has_video:
        signal = avsync.motion_energy(path)
        if signal.energy.size:
            motion = float(np.mean(signal.energy))
    loudness = rms_dbfs(avsync.read_audio(path)) if has_audio else SILENCE_DBFS
    return ContentLevels(motion_energy=motion, audio_rms_dbfs=loudness)
