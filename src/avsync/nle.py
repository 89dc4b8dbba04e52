"""A sync result as an editor's timeline: OpenTimelineIO, and through its adapters Final Cut
Pro X (FCPXML) and Final Cut Pro 7 XML (read by Premiere Pro, Resolve and others).

One track per camera (video) and per audio-only recorder (audio). Each file's clip sits where
its first frame belongs on the reference's timeline: a gap before a file that started late
(positive ``offset_s``), a trimmed source range for one that started early (negative). Positions
are whole frames of the timeline's rate (the reference's frame rate unless given), rounded to
the nearest frame. Offset, confidence, drift and the rounding are kept in each clip's
``metadata["avsync"]``. Editors play every clip on its own clock: with clock drift the clip
slowly slides, by ``drift_ppm`` microseconds per second (the metadata says how far by its end).

Needs the ``nle`` extra: ``pip install 'avsync[nle]'``.

>>> from avsync.nle import export_timeline
>>> export_timeline("result.json", otio="sync.otio", fcpxml="sync.fcpxml")   # doctest: +SKIP
[PosixPath('sync.otio'), PosixPath('sync.fcpxml')]
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from avsync.media.ffmpeg import atomic_output, check_not_input
from avsync.review.placed import find_file, load_result
from avsync.sync.result import SyncResult, VideoSync

# Rates editors know by name; a measured rate within 0.05% of one is taken to be it.
STANDARD_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0)
DEFAULT_RATE = 25.0
FCPX_RATES = (24.0, 25.0, 30.0, 50.0, 60.0)
ADAPTERS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "fcp7_xml": "fcp_xml"}
_ADAPTER_PACKAGES = {"fcpx_xml": "otio-fcpx-xml-adapter", "fcp_xml": "otio-fcp-adapter"}


def _otio():
    try:
        import opentimelineio as otio
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("editor timelines need OpenTimelineIO: pip install 'avsync[nle]'") from exc
    return otio


def snap_rate(fps: float | None) -> float:
    if not fps or fps <= 0 or not math.isfinite(fps):
        return DEFAULT_RATE
    for r in STANDARD_RATES:
        if abs(fps - r) <= r * 5e-4:
            return r
    return float(fps)


def build_timeline(result: SyncResult | dict | str | os.PathLike[str], *, rate: float | None = None, name: str | None = None):
    """The :class:`opentimelineio.schema.Timeline` of a sync result (see the module doc).
    Files whose status is not ``ok`` are left out and listed in the timeline's metadata."""
    otio = _otio()
    sync_result, base = load_result(result)
    files = [v for v in sync_result.videos if v.status == "ok" and v.offset_s is not None]
    if not files:
        raise ValueError("nothing to export: no file has an offset with status 'ok'")
    facts = {v.path: _facts(v, base) for v in files}
    rate = snap_rate(rate) if rate else _timeline_rate(sync_result, facts)
    RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
    timeline = otio.schema.Timeline(name=name or f"avsync {Path(sync_result.reference).stem}")
    timeline.global_start_time = RT(0, rate)
    timeline.metadata["avsync"] = {
        "reference": sync_result.reference, "method": sync_result.method, "rate": rate,
        "left_out": [{"path": v.path, "status": v.status} for v in sync_result.videos if v not in files],
    }
    names = _clip_names([v.path for v in files])
    for v in files:
        f = facts[v.path]
        start = round(float(v.offset_s) * rate)  # the frame where the file's own time 0 lands
        lead, trim = max(start, 0), max(-start, 0)
        available = math.floor(f["duration_s"] * rate + 1e-6)
        if available - trim < 1:
            timeline.metadata["avsync"]["left_out"].append({"path": v.path, "status": "ends before the timeline starts"})
            continue
        kind = otio.schema.TrackKind.Video if f["has_video"] else otio.schema.TrackKind.Audio
        track = otio.schema.Track(name=names[v.path], kind=kind)
        if lead:
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(lead, rate))))
        media = otio.schema.ExternalReference(target_url=f["url"], available_range=TR(RT(0, rate), RT(available, rate)))
        clip = otio.schema.Clip(name=names[v.path], media_reference=media, source_range=TR(RT(trim, rate), RT(available - trim, rate)))
        drift_end_ms = float(v.drift_ppm or 0.0) * 1e-6 * f["duration_s"] * 1e3
        clip.metadata["avsync"] = {
            "path": v.path, "offset_s": float(v.offset_s), "confidence": float(v.confidence), "drift_ppm": float(v.drift_ppm or 0.0),
            "status": v.status, "method": v.method, "offset_frames": start, "rate": rate,
            "rounding_s": round(start / rate - float(v.offset_s), 9),
            "drift_at_end_ms": round(drift_end_ms, 3),
        }
        track.append(clip)
        timeline.tracks.append(track)
    return timeline


def export_timeline(
    result: SyncResult | dict | str | os.PathLike[str],
    *,
    otio: str | os.PathLike[str] | None = None,
    fcpxml: str | os.PathLike[str] | None = None,
    fcp7_xml: str | os.PathLike[str] | None = None,
    rate: float | None = None,
) -> list[Path]:
    """Writes the timeline of ``result`` to each file given (atomically). Returns them."""
    targets = {k: v for k, v in {"otio": otio, "fcpxml": fcpxml, "fcp7_xml": fcp7_xml}.items() if v is not None}
    if not targets:
        raise ValueError("nothing to write: give at least one of otio, fcpxml, fcp7_xml")
    timeline = build_timeline(result, rate=rate)
    lib = _otio()
    inputs = [m["path"] for m in (c.metadata["avsync"] for c in timeline.find_clips())]
    for kind, path in targets.items():  # every check before anything is written
        _check_adapter(lib, ADAPTERS[kind])
        check_not_input(path, inputs)
        if kind == "fcpxml":
            _fcpx_rate_check(timeline.global_start_time.rate)
    written = []
    for kind, path in targets.items():
        adapter = ADAPTERS[kind]
        with atomic_output(path) as tmp:
            lib.adapters.write_to_file(timeline, os.fspath(tmp), adapter_name=adapter)
        written.append(Path(path))
    return written


def _fcpx_rate_check(rate: float) -> None:
    """The FCPXML adapter works in whole frames per second: at 23.976/29.97/59.94 it places
    connected clips off the frame grid. Refuse those rather than write a wrong timeline."""
    if rate not in FCPX_RATES:
        raise ValueError(f"FCPXML export supports {', '.join(f'{r:g}' for r in FCPX_RATES)} fps timelines (the OpenTimelineIO "
                         f"adapter rounds other rates); this one is {rate:.5g} fps: choose one with --rate, or use --otio/--fcp7-xml")


def _check_adapter(lib, adapter: str) -> None:
    try:
        lib.adapters.from_name(adapter)
    except Exception as exc:  # OTIO raises its own NotSupportedError  # noqa: BLE001
        package = _ADAPTER_PACKAGES.get(adapter, "opentimelineio")
        raise ImportError(f"the OpenTimelineIO adapter '{adapter}' is not installed: pip install {package} (or 'avsync[nle]')") from exc


def _facts(v: VideoSync, base: Path | None) -> dict[str, Any]:
    """Duration, streams and a file URL for one file: from the result, probing only if needed."""
    try:
        file = find_file(v.path, base)
    except Exception:  # noqa: BLE001 - the media need not be at hand to write a timeline
        file = None
    duration, has_video, fps = v.duration_s, v.has_video, None
    if file is not None and (duration is None or has_video is None or has_video):
        from avsync.media.probe import probe
        from avsync.sync.apply import _duration

        info = probe(file)
        duration = duration or _duration(info)
        has_video = bool(info.get("has_video")) if has_video is None else has_video
        fps = info.get("fps")
    if not duration:
        raise ValueError(f"'{v.path}': no duration in the result and the file is not at hand")
    where = Path(file) if file is not None else Path(v.path) if Path(v.path).is_absolute() else (base or Path.cwd()) / v.path
    return {"duration_s": float(duration), "has_video": bool(has_video), "fps": fps, "url": where.resolve().as_uri()}


def _timeline_rate(result: SyncResult, facts: dict[str, dict[str, Any]]) -> float:
    order = [result.reference] + [p for p in facts if p != result.reference]
    for p in order:
        f = facts.get(p)
        if f and f["has_video"] and f["fps"]:
            return snap_rate(f["fps"])
    return DEFAULT_RATE


def _clip_names(paths: list[str]) -> dict[str, str]:
    """File names, made unique with their folder where two files share one."""
    names = {p: Path(p).name for p in paths}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {p: (n if counts[n] == 1 else f"{Path(p).parent.name}/{n}") for p, n in names.items()}
