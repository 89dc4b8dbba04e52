"""The built-in example: three devices record one generated scene, avsync finds their offsets
and writes synced copies.

- ``cam1.mp4``: the reference, 25 fps, 48 kHz.
- ``cam2.mp4``: starts 2.4 s later, framed tighter, brighter, noisier, 30 fps, 44.1 kHz.
- ``recorder.wav``: an audio-only recorder that started 1.15 s *before* the reference.
"""

from __future__ import annotations

import os
from pathlib import Path

from avsync.media.synthetic import Camera, make_cameras
from avsync.sync.result import SyncResult

TRUE_OFFSETS = {"cam1.mp4": 0.0, "cam2.mp4": 2.4, "recorder.wav": -1.15}


def make_demo_media(folder: str | os.PathLike[str], duration_s: float = 20.0) -> list[Path]:
    cams = [
        Camera(),
        Camera(crop=(0.12, 0.1, 0.88, 0.85), gain=1.2, pixel_noise=3.0, fps=30.0, sample_rate=44100, audio_noise=0.005),
        Camera(video=False, channels=2, audio_noise=0.01),
    ]
    return make_cameras(folder, list(TRUE_OFFSETS.values()), duration_s=duration_s, seed=2024, cameras=cams, names=list(TRUE_OFFSETS))


def run_demo(output_dir: str | os.PathLike[str], *, method: str = "auto", progress: bool = True) -> tuple[SyncResult, list[Path]]:
    import avsync

    out = Path(output_dir)
    inputs = make_demo_media(out / "inputs")
    result = avsync.sync(inputs, method=method, progress=progress, debug_dir=out / "debug")
    result.save(out / "result.json")
    outputs = avsync.apply_offsets(result, out / "synced", zip_path=out / "synced.zip")
    return result, outputs
