"""Lip-sync results: one :class:`TrackResult` per face track, in a :class:`LipSyncResult` whose
``to_dict()`` is the JSON of ``avsync lipsync`` (see INTERFACE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FPS = 25.0

#: a result's ``status``: tracks were scored / no face track was long and large enough
STATUS_OK, STATUS_NO_FACES = "ok", "no_faces"


@dataclass
class TrackResult:
    """SyncNet's scores for one face track.

    ``offset_frames`` follows SyncNet: positive when the audio comes before the video (at 25 fps).
    ``start_frame``/``end_frame`` are inclusive indices at 25 fps; ``mean_box`` is ``[x, y, w, h]``
    in source pixels; ``framewise_confidence[i]`` belongs to the 5-frame window starting at frame
    ``start_frame + i``; ``boxes`` ``(frames, 4)`` are the track's per-frame boxes (x1, y1, x2,
    y2, source pixels, gaps interpolated) for drawing and for speaker detection; ``distances``
    ``(windows, 2·vshift + 1)`` are SyncNet's distances behind the scores (see
    :class:`~avsync.lipsync.scoring.SyncScore`), for speaking scores at any offset.
    """

    track: int
    offset_frames: int
    confidence: float
    min_dist: float
    start_frame: int
    end_frame: int
    mean_box: list[float]
    framewise_confidence: np.ndarray = field(repr=False)
    boxes: np.ndarray = field(repr=False)
    detections: int = 0
    distances: np.ndarray | None = field(default=None, repr=False)

    @property
    def offset_s(self) -> float:
        return self.offset_frames / FPS

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "track": self.track,
            "offset_frames": self.offset_frames,
            "confidence": round(self.confidence, 3),
            "min_dist": round(self.min_dist, 3),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "mean_box": [round(float(v), 1) for v in self.mean_box],
            "offset_s": round(self.offset_s, 3),
            "frames": self.frames,
        }


@dataclass
class LipSyncResult:
    """The lip-sync measurement of one video. ``tracks`` are ordered by start frame."""

    video: str
    tracks: list[TrackResult]
    fps: float = FPS
    detector: str = "centerface"
    weights: dict[str, Any] = field(default_factory=dict)
    source_fps: float | None = None
    frames: int = 0
    cropped: bool = False
    speakers: Any = None  # a SpeakerResult, when speaker detection was asked for (avsync.lipsync.speakers)

    @property
    def status(self) -> str:
        return STATUS_OK if self.tracks else STATUS_NO_FACES

    @property
    def best(self) -> TrackResult | None:
        """The most confident track, or None."""
        return max(self.tracks, key=lambda t: t.confidence, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "fps": self.fps,
            "status": self.status,
            "tracks": [t.to_dict() for t in self.tracks],
            "frames": self.frames,
            "source_fps": None if self.source_fps is None else round(self.source_fps, 3),
            "detector": "none (--cropped)" if self.cropped else self.detector,
            "weights": self.weights,
            **({"speakers": self.speakers.to_dict()} if self.speakers is not None else {}),
        }

    def offsets_txt(self) -> str:
        """``pywork/NAME/offsets.txt`` of the SyncNet layout: ``TRACK 0: OFFSET 3, CONF 10.021``."""
        return "".join(f"TRACK {t.track}: OFFSET {t.offset_frames}, CONF {t.confidence:.3f}\n" for t in self.tracks)
