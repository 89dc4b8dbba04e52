"""Files placed on the synced timeline: from a sync result (offsets and drift applied) or from a
list of synced outputs (already aligned: offset 0).

Synced time ``T`` is the reference's timeline. A file with ``offset_s`` and ``drift_ppm`` shows
the moment ``T`` at its own time ``t = (T - offset_s) * (1 + drift_ppm * 1e-6)`` (see
:mod:`avsync.sync.result` for the sign conventions).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

import numpy as np

from avsync.errors import AvsyncError, MediaError
from avsync.media.probe import probe
from avsync.sync.apply import _duration
from avsync.sync.result import SyncResult

TimeT = TypeVar("TimeT", float, np.ndarray)  # one time or an array of times

ResultOrOutputs = Union[SyncResult, Mapping[str, Any], str, os.PathLike, Sequence[Union[str, os.PathLike]]]


@dataclass
class Placed:
    """One file on the synced timeline."""

    path: str  # as the result names it
    file: Path  # where it was found
    offset_s: float
    drift_ppm: float = 0.0
    duration_s: float = 0.0  # in the file's own seconds
    has_video: bool = False
    has_audio: bool = False
    fps: float = 0.0
    size: tuple[int, int] = (0, 0)
    info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def speed(self) -> float:
        return 1.0 + self.drift_ppm * 1e-6

    def file_time(self, synced_s: TimeT) -> TimeT:
        """The file's own time that shows synced time ``synced_s``."""
        return (synced_s - self.offset_s) * self.speed

    def synced_time(self, file_s: TimeT) -> TimeT:
        return self.offset_s + file_s / self.speed

    @property
    def start_s(self) -> float:
        """Where the file starts on the synced timeline."""
        return self.offset_s

    @property
    def end_s(self) -> float:
        return self.synced_time(self.duration_s)

    def covers(self, synced_s: float) -> bool:
        return 0.0 <= self.file_time(synced_s) < self.duration_s


def load_result(source: SyncResult | Mapping[str, Any] | str | os.PathLike[str]) -> tuple[SyncResult, Path | None]:
    """A SyncResult from an object, its JSON dict or a JSON path; and the folder relative paths
    in it may be relative to (the result file's own folder)."""
    if isinstance(source, SyncResult):
        return source, None
    if isinstance(source, Mapping):
        return SyncResult.from_dict(dict(source)), None
    return SyncResult.load(source), Path(source).resolve().parent


def find_file(path: str, base: Path | None) -> Path:
    """``path`` as given, else relative to ``base`` (the result file's folder)."""
    p = Path(path)
    if p.exists():
        return p
    if base is not None and not p.is_absolute() and (base / p).exists():
        return base / p
    raise MediaError(f"'{path}': no such file" + (f" (looked here and in {base})" if base else ""))


def placed_files(source: ResultOrOutputs, *, notes: list[str] | None = None, base: Path | None = None) -> list[Placed]:
    """The files of a result that synced (status ``ok``), or of a list of synced outputs.

    A ``str``/path ending in ``.json`` is read as a result; a list of paths is taken as outputs
    that are already aligned. Files that cannot be opened are left out with a line in ``notes``
    (when given); when none is left, :class:`ValueError` says why. Relative paths are looked
    up as given, then in ``base`` (default: the result file's folder).
    """
    notes = notes if notes is not None else []
    entries: list[tuple[str, float, float]] = []
    if isinstance(source, (str, os.PathLike)) and not str(source).lower().endswith(".json"):
        source = [source]
    if isinstance(source, (SyncResult, Mapping, str, os.PathLike)):
        result, folder = load_result(source)
        base = base or folder
        for v in result.videos:
            if v.status == "ok" and v.offset_s is not None:
                entries.append((v.path, float(v.offset_s), float(v.drift_ppm or 0.0)))
            else:
                notes.append(f"'{v.path}': left out (status {v.status})")
    else:
        entries = [(os.fspath(p), 0.0, 0.0) for p in source]
    placed = []
    for path, offset, drift in entries:
        try:
            placed.append(_place(path, offset, drift, base))
        except (AvsyncError, OSError, ValueError) as exc:
            notes.append(str(exc))
    if not placed:
        raise ValueError("no file to review: " + ("; ".join(notes) if notes else "the result lists none"))
    return placed


def _place(path: str, offset: float, drift: float, base: Path | None) -> Placed:
    file = find_file(path, base)
    info = probe(file)
    streams = info.get("streams", [])
    video = next((s for s in streams if s["type"] == "video" and not s.get("attached_pic")), None)
    audio = next((s for s in streams if s["type"] == "audio"), None)
    duration = _duration(info)
    if not duration or duration <= 0:
        raise MediaError(f"'{path}': cannot tell its duration")
    return Placed(
        path=path, file=file, offset_s=offset, drift_ppm=drift, duration_s=float(duration),
        has_video=video is not None, has_audio=audio is not None,
        fps=float(info.get("fps") or 0.0), size=(int(info.get("width") or 0), int(info.get("height") or 0)), info=info,
    )
