"""Helpers for the curate tests: a small dataset of generated "talking" clips with known lip-sync
offsets (flashes and sound bursts, see lipsync_helpers), weights files, and a crashing worker."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

from tests.lipsync_helpers import make_flash_video

# file -> audio delay in frames (SyncNet's offset is minus the delay); broken.mp4 is not media
DATASET = {"a_sync.mkv": 0, "b_late2.mkv": 2, "sub/c_late6.mkv": 6}
VSHIFT = 8


def make_dataset(root: Path, *, duration_s: float = 3.0) -> Path:
    for i, (name, delay) in enumerate(DATASET.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        make_flash_video(path, audio_delay_frames=delay, duration_s=duration_s, seed=i)
    (root / "broken.mp4").write_bytes(b"this is not a video" * 100)
    (root / "notes.txt").write_text("not a video, not analysed\n")
    return root


def tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: its content hash and modification time, to prove nothing changed."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def save_small_weights(path: Path, seed: int = 0) -> Path:
    """A seeded random SyncNet of the small size, saved as an avsync checkpoint (fast on a CPU)."""
    from avsync.lipsync.model import SyncNetConfig, random_syncnet, save_syncnet

    return save_syncnet(random_syncnet(seed, SyncNetConfig.small()), path)


class CrashingSetup:
    """A worker setup whose handler kills its own process for items named ``crash*`` (as a
    segfault in native code would) and answers the others with their length."""

    key = "crashing"
    threads = 1

    def make(self):  # noqa: ANN201
        def handle(item: str) -> dict:
            if item.startswith("crash"):
                os.kill(os.getpid(), signal.SIGKILL)
            return {"status": "ok", "value": len(item), "pid": os.getpid()}

        return handle
