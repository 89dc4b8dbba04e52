"""The built-in demo set: generated originals (avsync.media.synthetic) with motion and sound, used
when no real footage is given. Each scene differs in how busy it is and how loud, so the metrics'
breakdowns by motion and audio level have something in them."""

from __future__ import annotations

from pathlib import Path

# (events per second, audio gain, duration) per scene, cycling when more are asked for.
_VARIANTS = ((0.4, 0.35, 12.0), (1.2, 1.0, 12.0), (2.5, 2.5, 12.0))


def make_demo_originals(folder: str | Path, count: int = 3, *, seed: int = 0, duration_s: float | None = None) -> list[Path]:
    """Writes ``count`` generated videos (320x180, 25 fps, AAC 48 kHz) to ``folder``; existing ones
    with the same name are kept (the scenes are deterministic for a seed).

    >>> paths = make_demo_originals("demo-originals", 3)     # doctest: +SKIP
    """
    from avsync.media.synthetic import Camera, make_scene, record

    if count < 1:
        raise ValueError(f"the demo set needs at least one video, got {count}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        events, gain, length = _VARIANTS[i % len(_VARIANTS)]
        path = out / f"demo_scene{i + 1:02d}.mp4"
        if not path.exists():
            scene = make_scene(duration_s or length, seed + i, events_per_s=events)
            record(scene, Camera(audio_gain=gain, crf=20), path)
        paths.append(path)
    return paths
