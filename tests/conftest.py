"""Shared fixtures: generated media (made with ffmpeg at test time) and the real recordings in
../shared/media (tests marked ``realmedia`` skip when the folder is absent)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = Path(os.environ.get("AVSYNC_MEDIA", ROOT.parent / "shared" / "media"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_MEDIA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real media folder not found: {SHARED_MEDIA} (set AVSYNC_MEDIA)")
    for item in items:
        if "realmedia" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """../shared/media (or $AVSYNC_MEDIA)."""
    if not SHARED_MEDIA.is_dir():
        pytest.skip(f"real media folder not found: {SHARED_MEDIA}")
    return SHARED_MEDIA


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("ffmpeg is required by the test suite (apt-get install ffmpeg)")
    return exe


def run_ffmpeg(*args: str) -> None:
    """Runs ffmpeg for a test's own media; fails the test with ffmpeg's message."""
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"ffmpeg {' '.join(args)}\n{proc.stderr}")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def av_clip(media_dir: Path, ffmpeg: str) -> Path:
    """5 s H.264 320x240 at 25 fps with a 440 Hz + noise AAC track at 44.1 kHz stereo."""
    path = media_dir / "av_clip.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=5",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=5",
        "-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=44100:duration=5:amplitude=0.1",
        "-filter_complex", "[1:a][2:a]amerge=inputs=2[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(path),
    )
    return path


@pytest.fixture(scope="session")
def camera_pair(media_dir: Path) -> tuple[Path, Path, float]:
    """Two generated cameras of one scene; the second started 2.5 s after the first (offset +2.5 s),
    with another framing, exposure, frame rate, sample rate and noise."""
    from avsync.media.synthetic import Camera, make_cameras

    cams = [
        Camera(),
        Camera(crop=(0.1, 0.1, 0.9, 0.85), gain=1.15, pixel_noise=3.0, fps=30.0, sample_rate=44100, audio_noise=0.005),
    ]
    a, b = make_cameras(media_dir / "pair", [0.0, 2.5], duration_s=15.0, seed=3, cameras=cams)
    return a, b, 2.5


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every test marked ``ray`` (started on first use, shut down at
    the end). 2 logical CPUs: plain tasks need no more; Ray Data with actor pools would want
    ``num_cpus=4`` on these 2-core machines (see DESIGN.md). Workers can import ``tests``."""
    import logging

    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})  # fmt: skip
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def learned_syncnet(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a (TrainReport, work folder)
    """The small SyncNet trained for 150 steps on 48 generated talking-face clips (about 1.5
    minutes on 2 quiet cores; seeded: the same weights in every run on one machine), trained
    once for every slow test that needs learned weights. Returns the training report (``.output`` is the checkpoint) and its work folder."""
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    from evaluation.synthetic_syncnet import train_on_generated_faces

    work = tmp_path_factory.mktemp("learn")
    return train_on_generated_faces(work, clips=48, steps=150, seed=0, val_every=50), work
