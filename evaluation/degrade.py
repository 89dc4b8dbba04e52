"""Degradations that make a synthetic copy look and sound like another camera.

A :class:`Degradation` is drawn per case from a seeded generator (the same seed and case give the
same plan), turned into ffmpeg filters by :mod:`evaluation.copies`, and recorded in the metadata's
``degradations`` column as ``key=value`` pairs joined by ``;`` (``none`` for a plain copy).

What a plan holds, and why:
- framing: a crop of 75-95 % of the picture at a random place, scaled to 50-100 % of that size
  but not below 144 pixels (another camera's position and sensor);
- exposure: brightness, contrast and gamma (another camera's exposure and tone curve);
- pixel noise: temporal noise on every frame (a smaller, noisier sensor);
- frame rate: another one of 24, 25, 30, 29.97 and 50 fps (frames resampled to it);
- video bitrate: 0.05-0.15 bits per pixel and frame, at least 150 kb/s (re-encoding at another
  quality);
- audio EQ: high-pass, low-pass and one peaking band (another microphone);
- audio noise: pink noise 10-25 dB below the original's RMS (a noisier room or preamp);
- reverb: two echoes of 20-90 ms in half of the cases (another place in the room);
- sample rate and audio bitrate: another recorder's;
- clock drift (only with ``max_drift_ppm`` > 0): the copy's clock runs fast or slow.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

FRAME_RATES = ((24, 1), (25, 1), (30, 1), (30000, 1001), (50, 1))
SAMPLE_RATES = (16000, 32000, 44100, 48000)
AUDIO_BITRATES_K = (64, 96, 128)
WORK_RATE = 48000  # audio is shifted and stretched at this rate: 1 ms is exactly 48 samples


@dataclass(frozen=True)
class Degradation:
    crop: tuple[float, float, float]  # fraction of width/height kept, x0 and y0 as fractions
    scale: float  # output size relative to the cropped size
    brightness: float
    contrast: float
    gamma: float
    pixel_noise: int  # ffmpeg noise filter strength (0-100)
    fps: tuple[int, int]  # numerator, denominator
    bits_per_pixel: float
    highpass_hz: float
    lowpass_hz: float
    eq_hz: float
    eq_gain_db: float
    noise_snr_db: float
    reverb_ms: tuple[float, ...]  # echo delays; empty: none
    sample_rate: int
    audio_bitrate_k: int
    drift_ppm: float = 0.0  # 0: no drift. Exact: 48000 / stretched_rate - 1

    @property
    def stretched_rate(self) -> int:
        """Sample rate the 48 kHz audio is relabelled to so that it plays ``1 + drift`` longer."""
        return int(round(WORK_RATE / (1.0 + self.drift_ppm * 1e-6)))

    def describe(self) -> str:
        """The ``degradations`` cell."""
        fw, x0, y0 = self.crop
        parts = [
            f"crop={fw:.3f}@{x0:.3f},{y0:.3f}",
            f"scale={self.scale:.2f}",
            f"exposure=b{self.brightness:+.3f}/c{self.contrast:.2f}/g{self.gamma:.2f}",
            f"noise={self.pixel_noise}",
            f"fps={self.fps[0]}/{self.fps[1]}",
            f"bpp={self.bits_per_pixel:.3f}",
            f"eq=hp{self.highpass_hz:.0f}/lp{self.lowpass_hz:.0f}/{self.eq_hz:.0f}Hz{self.eq_gain_db:+.1f}dB",
            f"snr={self.noise_snr_db:.1f}dB",
            "reverb=" + ("/".join(f"{d:.0f}ms" for d in self.reverb_ms) if self.reverb_ms else "none"),
            f"arate={self.sample_rate}",
            f"abitrate={self.audio_bitrate_k}k",
        ]
        if self.drift_ppm:
            parts.append(f"drift={self.drift_ppm:+.2f}ppm")
        return ";".join(parts)


def case_rng(seed: int, case_id: str) -> np.random.Generator:
    """A generator that depends only on the seed and the case (not on the order cases are made)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(case_id.encode("utf-8"))])


def draw(rng: np.random.Generator, source_fps: float, max_drift_ppm: float = 0.0) -> Degradation:
    """A random plan; the frame rate always differs from ``source_fps``."""
    others = [r for r in FRAME_RATES if abs(r[0] / r[1] - source_fps) > 0.05] or list(FRAME_RATES)
    fps = others[int(rng.integers(len(others)))]
    fw = float(rng.uniform(0.75, 0.95))
    reverb: tuple[float, ...] = ()
    if rng.random() < 0.5:
        reverb = tuple(sorted(float(d) for d in rng.uniform(20, 90, 2)))
    drift = 0.0
    if max_drift_ppm > 0:
        target = float(rng.uniform(-max_drift_ppm, max_drift_ppm))
        stretched = int(round(WORK_RATE / (1.0 + target * 1e-6)))
        drift = (WORK_RATE / stretched - 1.0) * 1e6  # exactly what relabelling the rate does
    return Degradation(
        crop=(fw, float(rng.uniform(0, 1 - fw)), float(rng.uniform(0, 1 - fw))),
        scale=float(rng.choice([0.5, 0.75, 1.0])),
        brightness=float(rng.uniform(-0.12, 0.12)),
        contrast=float(rng.uniform(0.75, 1.3)),
        gamma=float(rng.uniform(0.75, 1.3)),
        pixel_noise=int(rng.integers(3, 12)),
        fps=fps,
        bits_per_pixel=float(rng.choice([0.05, 0.08, 0.15])),
        highpass_hz=float(rng.uniform(80, 300)),
        lowpass_hz=float(rng.uniform(3500, 7500)),
        eq_hz=float(rng.uniform(500, 3000)),
        eq_gain_db=float(rng.uniform(-8, 8)),
        noise_snr_db=float(rng.uniform(10, 25)),
        reverb_ms=reverb,
        sample_rate=int(rng.choice(SAMPLE_RATES)),
        audio_bitrate_k=int(rng.choice(AUDIO_BITRATES_K)),
        drift_ppm=drift,
    )
