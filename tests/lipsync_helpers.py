"""Test helpers for lip sync: generated "talking" media with a known audio offset, and a
stand-in network whose embeddings line up flashes with sound bursts (no trained SyncNet needed)."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import torch

from avsync.lipsync.model import SyncNetConfig

SIZE = 224


class EnvelopeNet(torch.nn.Module):
    """Video embedding of a 5-frame window: the standardised brightness of its frames. Audio
    embedding of its 20 MFCC frames: the standardised log energy (c0) per video frame. Distances are
    smallest where flashes and sound bursts line up, as SyncNet's are where lips and speech do."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SyncNetConfig(embed_dim=5)

    @staticmethod
    def _standardise(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1.0)

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self._standardise(x.mean(dim=(1, 3, 4)) / 10.0)

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self._standardise(x[:, 0, 0, :].reshape(x.shape[0], 5, 4).mean(-1))


def make_flash_video(path: Path, *, audio_delay_frames: float, duration_s: float = 8.0, fps: float = 25.0, drop_every: int = 0, seed: int = 0) -> Path:
    """A grey 224x224 video that flashes white at random moments, with a 16 kHz audio track of noise
    bursts at the same moments delayed by ``audio_delay_frames`` / 25 s (positive: the audio comes
    after the video, so SyncNet's offset is negative). ``drop_every``: drop every n-th frame, for a
    variable frame rate with true timestamps."""
    rng = np.random.default_rng(seed)
    # events on a 0.2 s grid: on frame boundaries at both 25 and 30 fps, so flashes start exactly
    # when their sound does
    grid = np.arange(3, int((duration_s - 0.6) / 0.2))
    events = np.sort(rng.choice(grid[::2], size=min(len(grid[::2]), int(duration_s * 1.2)), replace=False)) * 0.2
    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    lit = np.any((t[:, None] >= events[None] - 1e-6) & (t[:, None] < events[None] + 0.12), axis=1)
    frames = np.where(lit[:, None, None, None], 220, 30).astype(np.uint8) * np.ones((1, SIZE, SIZE, 3), np.uint8)
    sr = 16000
    audio = rng.standard_normal(int(duration_s * sr)) * 0.003
    for e in events + audio_delay_frames / 25.0:
        a = int(round(e * sr))
        if 0 <= a < audio.size:
            audio[a : a + int(0.12 * sr)] += rng.standard_normal(min(int(0.12 * sr), audio.size - a)) * 0.3
    wav = path.with_suffix(".wav")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.clip(audio * 32767, -32768, 32767).astype("<i2").tobytes())
    vf = ["-vf", f"select='not(eq(mod(n\\,{drop_every})\\,{drop_every - 1}))'", "-fps_mode", "vfr"] if drop_every else []
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE}x{SIZE}", "-r", str(fps), "-i", "-", "-i", str(wav)]
    cmd += [*vf, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", "-shortest", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True, capture_output=True)
    wav.unlink()
    return path
