"""Uploaded files: safe names, streaming to disk, and the check that a file is media.

Names from the browser are never trusted as paths: :func:`safe_name` keeps a plain file name
(letters, digits, ``.``, ``-``, ``_``), and every path is built as ``folder / safe_name`` and
checked to stay inside the folder.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from avsync.errors import AvsyncError

CHUNK = 1 << 20  # bytes read from the request per write: memory stays at one chunk per upload
MAX_NAME = 120

# What the review player may be told a file is; anything else is served as a download.
MEDIA_TYPES = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska",
    ".webm": "video/webm", ".avi": "video/x-msvideo", ".mts": "video/mp2t", ".m2ts": "video/mp2t", ".ts": "video/mp2t",
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".aac": "audio/aac", ".flac": "audio/flac",
    ".ogg": "audio/ogg", ".opus": "audio/ogg",
}


class UploadError(ValueError):
    """An upload that cannot be accepted; the message is shown to the user as it is."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def safe_name(name: str) -> str:
    """A plain file name from whatever the browser sent: no folders, no ``..``, no control or
    special characters, no leading dot, at most ``MAX_NAME`` characters, extension kept.

    >>> safe_name("../../etc/passwd")
    'passwd'
    >>> safe_name("C:\\\\clips\\\\Caméra 1 (final).MP4")
    'Camera_1_final.MP4'
    """
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base)
    base = re.sub(r"_*\._*", ".", base)  # "a_.mp4" -> "a.mp4"
    base = re.sub(r"\.{2,}", ".", base).strip("._-")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:12]
    stem = stem.strip("._-")[: MAX_NAME - len(ext) - 1] or "upload"
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"{stem}_"
    return f"{stem}.{ext}" if ext else stem


_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def unique_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``... when it is taken (case-insensitively: two
    cameras often both call their file ``GOPR0001.MP4``)."""
    used = {t.lower() for t in taken}
    if name.lower() not in used:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    k = 2
    while True:
        candidate = f"{stem}-{k}" + (f".{ext}" if ext else "")
        if candidate.lower() not in used:
            return candidate
        k += 1


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing anything that would leave ``folder``."""
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or name != path.name:
        raise UploadError(f"'{name}': not a plain file name", 400)
    return path


def stream_to_file(stream: IO[bytes], dest: Path, expected: int, limit: int) -> int:
    """Copies ``expected`` bytes from ``stream`` to ``dest`` one chunk at a time (written under a
    temporary name, renamed when complete). Refuses more than ``limit`` bytes and a body that ends
    early (an interrupted upload), leaving nothing behind."""
    if expected == 0:
        raise UploadError(f"'{dest.name}' is empty")
    if expected > limit:
        raise UploadError(f"'{dest.name}': {human_size(expected)} is over the limit of {human_size(limit)} per file", 413)
    part = dest.with_name(f".{dest.name}.part")
    written = 0
    try:
        with open(part, "wb") as out:
            while written < expected:
                chunk = stream.read(min(CHUNK, expected - written))
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        if written != expected:
            raise UploadError(f"'{dest.name}': the upload stopped after {human_size(written)} of {human_size(expected)}", 400)
        os.replace(part, dest)
    finally:
        if part.exists():
            part.unlink()
    return written


def check_media(path: Path, name: str) -> dict[str, Any]:
    """What the file holds (duration, streams) or an :class:`UploadError` saying why it is not
    usable media."""
    from avsync.media.probe import probe

    try:
        info = probe(path)
    except (AvsyncError, ValueError, OSError) as exc:
        reason = str(exc).replace(f"'{path}'", "").replace(str(path), "").strip(" :")
        reason = re.sub(r"^not a media file FFmpeg can read\s*", "", reason).strip()
        if reason.startswith("(") and reason.endswith(")"):
            reason = reason[1:-1]
        raise UploadError(f"'{name}' is not a video or audio file FFmpeg can read" + (f" ({reason})" if reason else "")) from exc
    if not info.get("has_video") and not info.get("has_audio"):
        raise UploadError(f"'{name}' has no video or audio stream")
    if info.get("has_video") and not info.get("has_audio") and _is_still_image(info):
        raise UploadError(f"'{name}' is a still image, not a video")
    duration = info.get("duration_s") or 0.0
    if duration <= 0:
        raise UploadError(f"'{name}': cannot tell its duration (empty or truncated file?)")
    return {
        "duration_s": float(duration),
        "has_video": bool(info.get("has_video")),
        "has_audio": bool(info.get("has_audio")),
        "width": info.get("width"),
        "height": info.get("height"),
        "fps": info.get("fps"),
        "sample_rate": info.get("sample_rate"),
    }


def _is_still_image(info: dict[str, Any]) -> bool:
    return str(info.get("format", "")).endswith("_pipe") or str(info.get("format", "")) in ("image2", "png", "gif")


def media_type(name: str) -> str:
    return MEDIA_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover
