"""What a media file holds: streams, duration, frame rate, sample rate (libavformat, no decoding)."""

from __future__ import annotations

import os
from typing import Any

from avsync import _core


def probe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Streams and a summary of ``path`` as a JSON-ready dict.

    Top-level summary keys: ``duration_s``, ``has_video``, ``has_audio``, and for the best video
    stream ``width``, ``height``, ``fps``; for the best audio stream ``sample_rate``, ``channels``.
    ``streams`` lists every stream (cover images are marked ``attached_pic`` and do not count as
    video). Raises :class:`avsync.MediaError` for missing or unreadable files.
    """
    info = _core.probe(os.fspath(path))
    streams = info["streams"]
    video = streams[info["best_video"]] if info["best_video"] >= 0 else None
    audio = streams[info["best_audio"]] if info["best_audio"] >= 0 else None
    summary: dict[str, Any] = {
        "path": os.fspath(path),
        "format": info["format"],
        "duration_s": info["duration_s"],
        "start_s": info["start_s"],
        "bit_rate": info["bit_rate"],
        "has_video": video is not None,
        "has_audio": audio is not None,
    }
    if video is not None:
        summary.update(width=video["width"], height=video["height"], fps=video["fps"], video_codec=video["codec"])
    if audio is not None:
        summary.update(sample_rate=audio["sample_rate"], channels=audio["channels"], audio_codec=audio["codec"])
    summary["streams"] = streams
    return summary
