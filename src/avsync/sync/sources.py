"""The input files of a sync and their signals, each decoded once and only when needed."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from avsync.errors import AvsyncError, MediaError, NoStreamError
from avsync.media.audio import read_audio_with_start
from avsync.media.probe import probe
from avsync.media.video import MotionSignal, motion_energy
from avsync.sync.audio import AudioTrack

log = logging.getLogger("avsync.sync")

SILENT_RMS = 1e-4  # about -80 dBFS: a track this quiet is treated as having no usable audio


@dataclass
class Source:
    """One input: its path as given, what it holds, and its decoded signals."""

    path: str
    info: dict[str, Any] | None = None
    error: str | None = None
    audio: AudioTrack | None = None
    motion: MotionSignal | None = None
    audio_error: str | None = None
    motion_error: str | None = None
    duplicate_of: str | None = field(default=None)

    @property
    def has_audio(self) -> bool:
        return bool(self.info and self.info.get("has_audio"))

    @property
    def has_video(self) -> bool:
        return bool(self.info and self.info.get("has_video"))

    @property
    def duration_s(self) -> float | None:
        return self.info.get("duration_s") if self.info else None

    def usable_audio(self) -> bool:
        return self.audio is not None and self.audio.rms > SILENT_RMS

    def load_audio(self, sample_rate: int) -> None:
        if self.audio is not None or self.audio_error or self.error:
            return
        try:
            samples, start = read_audio_with_start(self.path, sample_rate)
            self.audio = AudioTrack(samples, sample_rate, start)
            if self.audio.rms <= SILENT_RMS:
                self.audio_error = f"'{self.path}': audio track is silent"
        except (MediaError, ValueError) as exc:
            self.audio_error = str(exc)
        log.info("audio %s: %s", self.path, self.audio_error or (self.audio and f"{self.audio.duration_s:.2f} s"))

    def load_motion(self) -> None:
        if self.motion is not None or self.motion_error or self.error:
            return
        try:
            self.motion = motion_energy(self.path)
            if self.motion.frames < 3:
                self.motion_error = f"'{self.path}': too few video frames ({self.motion.frames})"
        except (MediaError, ValueError) as exc:
            self.motion_error = str(exc)
        log.info("motion %s: %s", self.path, self.motion_error or (self.motion and f"{self.motion.frames} frames"))


def open_sources(paths: Sequence[str]) -> list[Source]:
    """Probes every path; unreadable files and repeats get an error instead of stopping the run."""
    sources: list[Source] = []
    seen: dict[str, str] = {}
    for p in paths:
        src = Source(path=p)
        try:
            key = os.path.realpath(p)
            if key in seen:
                src.error = f"'{p}': the same file as '{seen[key]}' was given twice"
                src.duplicate_of = seen[key]
            else:
                if not Path(p).exists():
                    raise MediaError(f"'{p}': no such file")
                src.info = probe(p)
                if not src.has_audio and not src.has_video:
                    raise NoStreamError(f"'{p}': no audio or video stream")
                seen[key] = p
        except (AvsyncError, OSError, ValueError) as exc:
            src.error = src.error or str(exc)
        if src.error:
            log.info("%s", src.error)
        sources.append(src)
    return sources
