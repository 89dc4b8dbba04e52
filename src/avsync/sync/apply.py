"""Applying offsets with FFmpeg: synced copies that all start together and last the same.

Each input becomes ``{stem}_synced{ext}`` in the output folder: a positive offset prepends that
many seconds of black frames and silence (``tpad``/``adelay``), a negative one trims them from
the start (``trim``/``atrim``), and the end is padded so that every output lasts as long as the
whole synced timeline (from the reference's start to the end of the last recording). With
``correct_drift`` a drifting file is retimed onto the reference's clock. Inputs are never
modified; every output is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from avsync.errors import MediaError
from avsync.media.ffmpeg import atomic_output, check_not_input, run_ffmpeg
from avsync.media.probe import probe
from avsync.sync.result import SyncResult

log = logging.getLogger("avsync.sync")

OffsetsLike = Union[SyncResult, Mapping[str, Any], str, os.PathLike]

# Output encoders by container; audio-only files keep an audio-only container.
_VIDEO_CODECS = {
    ".webm": ["-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0", "-c:a", "libopus"],
    ".avi": ["-c:v", "mpeg4", "-q:v", "2", "-c:a", "pcm_s16le"],
    ".mkv": ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-c:a", "flac"],
}
_DEFAULT_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k"]
_AUDIO_CODECS = {
    ".wav": ["-c:a", "pcm_s16le"],
    ".flac": ["-c:a", "flac"],
    ".mp3": ["-c:a", "libmp3lame", "-q:a", "2"],
    ".ogg": ["-c:a", "libvorbis", "-q:a", "6"],
    ".opus": ["-c:a", "libopus", "-b:a", "160k"],
    ".m4a": ["-c:a", "aac", "-b:a", "192k"],
    ".aac": ["-c:a", "aac", "-b:a", "192k"],
}


@dataclass
class Placement:
    """Where one file goes on the synced timeline."""

    path: str
    offset_s: float
    drift_ppm: float
    duration_s: float  # of the file, in its own seconds
    info: dict[str, Any]

    def length_on_timeline(self, correct_drift: bool) -> float:
        return self.duration_s / (1.0 + self.drift_ppm * 1e-6) if correct_drift else self.duration_s


def synced_name(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    return f"{p.stem}_synced{p.suffix}"


def apply_offsets(
    result_or_offsets: OffsetsLike,
    output_dir: str | os.PathLike[str],
    zip_path: str | os.PathLike[str] | None = None,
    *,
    correct_drift: bool = False,
    paths: list[str] | None = None,
) -> list[Path]:
    """Writes the synced copy of every file that synced (status ``ok``) and, with ``zip_path``,
    a ZIP of those outputs only. Returns the written files (the ZIP last).

    ``result_or_offsets``: a :class:`SyncResult`, its JSON dict, the path of a result JSON, or
    a mapping ``{path: offset_s}``. ``paths`` restricts the work to those inputs (matched by
    path, real path or file name).
    """
    placements = _placements(result_or_offsets, paths)
    if not placements:
        raise ValueError("nothing to apply: no file has an offset with status 'ok'")
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [p.path for p in placements]
    names = [synced_name(p.path) for p in placements]
    if len(set(names)) != len(names):
        raise ValueError("two inputs share a file name; their synced copies would collide in one folder")
    total = max(p.offset_s + p.length_on_timeline(correct_drift) for p in placements)
    outputs = []
    for place, name in zip(placements, names):
        out = out_dir / name
        check_not_input(out, inputs)
        _write_synced(place, out, total, correct_drift)
        log.info("wrote %s (offset %+.4f s, drift %.1f ppm, %.3f s long)", out, place.offset_s, place.drift_ppm, total)
        outputs.append(out)
    if zip_path is not None:
        outputs.append(write_zip(outputs, zip_path, inputs))
    return outputs


def write_zip(files: list[Path], zip_path: str | os.PathLike[str], inputs: Sequence[str] = ()) -> Path:
    """A ZIP of ``files`` (stored, not recompressed: video is compressed already), atomically."""
    check_not_input(zip_path, inputs)
    with atomic_output(zip_path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for f in files:
                zf.write(f, arcname=Path(f).name)
    return Path(zip_path)


def _placements(source: OffsetsLike, only: list[str] | None) -> list[Placement]:
    entries: list[tuple[str, float, float]] = []
    if isinstance(source, (str, os.PathLike)) and not isinstance(source, SyncResult):
        source = SyncResult.load(source)
    if isinstance(source, Mapping) and "videos" in source:
        source = SyncResult.from_dict(dict(source))
    if isinstance(source, SyncResult):
        for v in source.videos:
            if v.status == "ok" and v.offset_s is not None:
                entries.append((v.path, float(v.offset_s), float(v.drift_ppm or 0.0)))
            else:
                log.info("skipping %s: status %s%s", v.path, v.status, f" ({v.error})" if v.error else "")
    elif isinstance(source, Mapping):
        for path, off in source.items():
            entries.append((os.fspath(path), float(off), 0.0))
    else:
        raise TypeError("expected a SyncResult, its JSON dict or path, or a {path: offset_s} mapping")
    if only is not None:
        entries = [_match(p, entries) for p in only]
    placements = []
    for path, off, drift in entries:
        info = probe(path)
        duration = _duration(info)
        if duration is None or duration <= 0:
            raise MediaError(f"'{path}': cannot tell its duration")
        placements.append(Placement(path, off, drift, duration, info))
    return placements


def _match(path: str, entries: list[tuple[str, float, float]]) -> tuple[str, float, float]:
    """The result entry for a path the user gave: the same string, file, or file name."""
    for test in (lambda e: e[0] == path,
                 lambda e: os.path.realpath(e[0]) == os.path.realpath(path),
                 lambda e: Path(e[0]).name == Path(path).name):
        found = [e for e in entries if test(e)]
        if len(found) == 1:
            return (path, found[0][1], found[0][2])
    raise ValueError(f"'{path}': not in the sync result with status 'ok'")


def _duration(info: dict[str, Any]) -> float | None:
    streams = info.get("streams", [])
    video = [s for s in streams if s["type"] == "video" and not s.get("attached_pic")]
    audio = [s for s in streams if s["type"] == "audio"]
    for group in (video, audio):
        if group and group[0].get("duration_s"):
            return float(group[0]["duration_s"])
    return info.get("duration_s")


def _write_synced(place: Placement, out: Path, total_s: float, correct_drift: bool) -> None:
    info = place.info
    has_video = bool(info.get("has_video"))
    has_audio = bool(info.get("has_audio"))
    speed = 1.0 + place.drift_ppm * 1e-6 if correct_drift else 1.0
    off = place.offset_s
    lead = max(off, 0.0)
    cut = max(-off, 0.0) * speed  # seconds of the file itself to drop
    tail = max(0.0, total_s - (off + place.length_on_timeline(correct_drift))) + 1.0  # cut to length by -t
    filters: list[str] = []
    maps: list[str] = []
    if has_video:
        chain = [f"trim=start={cut:.6f}" if cut > 0 else None, "setpts=PTS-STARTPTS",
                 f"setpts=PTS/{speed:.12f}" if speed != 1.0 else None,
                 f"tpad=start_duration={lead:.6f}:start_mode=add:color=black" if lead > 0 else None,
                 f"tpad=stop_duration={tail:.6f}:stop_mode=add:color=black"]
        filters.append("[0:v:0]" + ",".join(c for c in chain if c) + "[v]")
        maps += ["-map", "[v]"]
    if has_audio:
        rate = int(next(s["sample_rate"] for s in info["streams"] if s["type"] == "audio"))
        chain = [f"atrim=start={cut:.6f}" if cut > 0 else None, "asetpts=PTS-STARTPTS",
                 _retime_audio(rate, speed) if speed != 1.0 else None,
                 f"adelay=delays={round(lead * rate)}S:all=1" if lead > 0 else None,
                 f"apad=whole_dur={total_s + 1.0:.6f}"]
        filters.append("[0:a:0]" + ",".join(c for c in chain if c) + "[a]")
        maps += ["-map", "[a]"]
    ext = out.suffix.lower()
    codecs = (_VIDEO_CODECS.get(ext, _DEFAULT_VIDEO) if has_video else _AUDIO_CODECS.get(ext, ["-c:a", "pcm_s16le"]))
    if not has_audio:
        codecs = _without_audio_options(codecs)
    with atomic_output(out) as tmp:
        run_ffmpeg(["-i", place.path, "-filter_complex", ";".join(filters), *maps, *codecs, "-t", f"{total_s:.6f}", tmp],
                   what=f"'{place.path}': writing {out.name}", progress_s=total_s, progress_desc=out.name)


def _retime_audio(rate: int, speed: float) -> str:
    """Plays audio ``1/speed`` times longer at the same rate. ``asetrate`` takes whole rates, so
    the audio goes up to a rate of at least 400 kHz first: the ratio is then exact to 1.25 ppm."""
    up = rate * -(-400_000 // rate)
    return f"aresample={up},asetrate={round(up * speed)},aresample={rate}"


def _without_audio_options(args: list[str]) -> list[str]:
    """Drops the audio encoder options from a list of ``-option value`` pairs."""
    kept: list[str] = []
    for key, value in zip(args[::2], args[1::2]):
        if not key.startswith(("-c:a", "-b:a", "-q:a")):
            kept += [key, value]
    return kept

