"""The result of a multi-camera sync, and its JSON form (see INTERFACE.md).

Sign convention: a video's ``offset_s`` is the number of seconds to prepend to it (negative: to
trim from its start) so that it lines up with the reference; the video started recording
``offset_s`` seconds after the reference. An event at time ``T`` in the reference appears at
``T - offset_s`` in the video. ``drift_ppm``: 1 s of the reference lasts
``1 + drift_ppm * 1e-6`` s in the video; with drift, ``offset_s`` holds at the video's start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATUSES = ("ok", "low_confidence", "no_match", "error")


@dataclass
class VideoSync:
    """One input file's place on the reference timeline."""

    path: str
    offset_s: float | None = 0.0
    confidence: float = 0.0
    drift_ppm: float = 0.0
    status: str = "ok"
    method: str = "audio"
    error: str | None = None
    # With method "both": each method's own answer and their disagreement (audio - visual).
    audio_offset_s: float | None = None
    visual_offset_s: float | None = None
    audio_video_diff: float | None = None
    duration_s: float | None = None
    has_audio: bool | None = None
    has_video: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # The contract's fields always; the optional ones only when they say something.
        core = {k: d[k] for k in ("path", "offset_s", "confidence", "drift_ppm", "status", "method")}
        core["offset_s"] = None if self.offset_s is None else round(float(self.offset_s), 6)
        core["confidence"] = round(float(self.confidence), 4)
        core["drift_ppm"] = round(float(self.drift_ppm), 2)
        for key in ("error", "audio_offset_s", "visual_offset_s", "audio_video_diff", "duration_s", "has_audio", "has_video"):
            value = d[key]
            if value is not None:
                core[key] = round(value, 6) if isinstance(value, float) else value
        return core


@dataclass
class PairMeasurement:
    """One estimated pair: ``offset_s`` of ``b`` relative to ``a`` (b started offset_s after a)."""

    a: str
    b: str
    method: str
    offset_s: float | None
    confidence: float
    drift_ppm: float = 0.0
    status: str = "ok"
    used: bool = False  # part of the solved set
    residual_s: float | None = None  # measured minus solved, when used or checked
    windows: int = 0  # windows behind the drift estimate
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("offset_s", "residual_s"):
            if d[k] is not None:
                d[k] = round(d[k], 6)
        d["confidence"] = round(self.confidence, 4)
        d["drift_ppm"] = round(self.drift_ppm, 2)
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class SyncResult:
    """Offsets of every video against the reference. ``to_dict()`` gives the documented JSON."""

    reference: str
    method: str
    max_offset_s: float
    videos: list[VideoSync]
    pairs: list[PairMeasurement] = field(default_factory=list)
    inconsistent_pairs: list[PairMeasurement] = field(default_factory=list)
    request_id: str | None = None
    # Written by avsync.review: indicator images, shared transients and their measured residuals.
    review: dict[str, Any] | None = None

    def __getitem__(self, path: str) -> VideoSync:
        for v in self.videos:
            if v.path == path:
                return v
        raise KeyError(path)

    @property
    def ok(self) -> bool:
        return all(v.status == "ok" for v in self.videos)

    def offsets(self) -> dict[str, float]:
        """``{path: offset_s}`` for the videos that synced."""
        return {v.path: float(v.offset_s) for v in self.videos if v.status == "ok" and v.offset_s is not None}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "reference": self.reference,
            "method": self.method,
            "max_offset_s": self.max_offset_s,
            "videos": [v.to_dict() for v in self.videos],
        }
        if self.pairs:
            d["pairs"] = [p.to_dict() for p in self.pairs]
        if self.inconsistent_pairs:
            d["inconsistent_pairs"] = [p.to_dict() for p in self.inconsistent_pairs]
        if self.request_id:
            d["request_id"] = self.request_id
        if self.review:
            d["review"] = self.review
        return d

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SyncResult:
        known = set(VideoSync.__dataclass_fields__)
        videos = [VideoSync(**{k: v for k, v in item.items() if k in known}) for item in d["videos"]]
        pair_fields = set(PairMeasurement.__dataclass_fields__)
        pairs = [PairMeasurement(**{k: v for k, v in p.items() if k in pair_fields}) for p in d.get("pairs", [])]
        bad = [PairMeasurement(**{k: v for k, v in p.items() if k in pair_fields}) for p in d.get("inconsistent_pairs", [])]
        return cls(
            reference=d["reference"],
            method=d.get("method", "audio"),
            max_offset_s=float(d.get("max_offset_s", 20.0)),
            videos=videos,
            pairs=pairs,
            inconsistent_pairs=bad,
            request_id=d.get("request_id"),
            review=d.get("review"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SyncResult:
        """Reads a result JSON written by ``avsync sync --json`` or :meth:`save`."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValueError(f"'{path}': no such result file") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"'{path}': not a sync result (invalid JSON: {exc.msg} at line {exc.lineno})") from exc
        if not isinstance(data, dict) or "videos" not in data or "reference" not in data:
            raise ValueError(f"'{path}': not a sync result (needs 'reference' and 'videos')")
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike[str]) -> Path:
        from avsync.media.ffmpeg import write_text_atomic

        return write_text_atomic(path, self.to_json() + "\n")
