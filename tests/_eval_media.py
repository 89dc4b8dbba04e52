"""Tiny generated originals for the evaluation tests (imported by tests/test_evaluation_*.py)."""

from __future__ import annotations

from pathlib import Path


def make_tiny_original(folder: Path, name: str = "tiny.mp4", seed: int = 11, duration_s: float = 6.0) -> Path:
    """A 6 s generated scene (160x90, 25 fps, AAC 48 kHz) with motion and sound events."""
    from avsync.media.synthetic import Camera, make_scene, record

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        scene = make_scene(duration_s, seed, events_per_s=2.0)
        record(scene, Camera(size=(160, 90), crf=20), path)
    return path
