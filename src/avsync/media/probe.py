"""What a media file holds: streams, duration, frame rate, sample rate (libavformat, no decoding)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from avsync import _core
from avsync.errors import MediaError, NoStreamError


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


def probe_streams(path: str | os.PathLike[str], *, video: bool = False, audio: bool = False) -> dict[str, Any]:
    """:func:`probe` of a file that must exist and hold the streams asked for: a
    :class:`avsync.MediaError` (``NoStreamError`` for a missing stream) naming the file otherwise."""
    if not Path(path).is_file():
        raise MediaError(f"'{os.fspath(path)}': no such file")
    info = probe(path)
    if video and not info["has_video"]:
        raise NoStreamError(f"'{os.fspath(path)}': no video stream")
    if audio and not info["has_audio"]:
        raise NoStreamError(f"'{os.fspath(path)}': no audio stream")
    return info
