"""``avsync apply --lossless``: synced copies that keep the original streams where the shift can
be expressed exactly without re-encoding, and say what was done for each file.

Black frames and silence cannot be added in front of a compressed stream without encoding
them, and a delay written only as a container start time is dropped by most players (and by
FFmpeg itself, which starts every file at zero). So lossless outputs cover the span that every
file records: from the latest start to the earliest end on the reference's timeline. Each
file then only loses its start, and that trim is done in one of these ways:

- nothing to trim (the file that starts last): the streams are copied unchanged;
- MP4/MOV/M4A: the packets are copied from the keyframe before the cut, and an edit list
  starts playback exactly at the cut (players and FFmpeg honour it; audio is exact to the
  sample, video shows the frame at or right after the cut);
- PCM or FLAC audio (WAV, AIFF, FLAC): cut at the exact sample; the samples are unchanged;
- otherwise (Matroska/WebM, AVI, MPEG-TS, MP3, Ogg, ... with a cut to make, or drift to
  correct): re-encoded as ``avsync apply`` does, and the note says why.

Every copy is checked: a few seconds of its decoded audio are compared with the input's from
the cut (GCC-PHAT). A container whose priming or gapless information does not survive the copy
(an MP3 given a new LAME header, say) would play shifted: such a file is re-encoded instead.

Every output is cut to the shared span's length (copied streams at a packet boundary there).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from avsync.errors import MediaError
from avsync.media.ffmpeg import atomic_output, check_not_input, run_ffmpeg
from avsync.sync.apply import OffsetsLike, Placement, _placements, _write_synced, apply_offsets, synced_name, write_zip

log = logging.getLogger("avsync.sync")

EDIT_LIST_SUFFIXES = {".mp4", ".m4v", ".mov", ".m4a", ".3gp"}
EXACT_AUDIO_CODECS = {"flac"}  # decoded and re-encoded, their samples come out unchanged (and PCM)
MIN_SPAN_S = 0.5
NO_TRIM_S = 1e-6
DRIFT_TOLERANCE_S = 0.0005  # drift that moves the end by less than this needs no retiming
COPY_TOLERANCE_S = 0.0001  # a copy whose decoded audio is further than this from the input's is not exact
CHECK_S, CHECK_RATE = 5.0, 16000


def apply_lossless(
    result_or_offsets: OffsetsLike,
    output_dir: str | os.PathLike[str],
    zip_path: str | os.PathLike[str] | None = None,
    *,
    correct_drift: bool = False,
    paths: list[str] | None = None,
) -> tuple[list[Path], list[str]]:
    """Writes ``{stem}_synced{ext}`` for every file that synced, keeping streams copied where the
    shift allows it (see the module doc). Returns the outputs (the ZIP last, when asked) and one
    note per file saying what was done, after a first note on the span the outputs cover.

    >>> outputs, notes = apply_lossless("result.json", "synced/")   # doctest: +SKIP
    >>> print(*notes, sep="\\n")                                     # doctest: +SKIP
    """
    placements = _placements(result_or_offsets, paths)
    if not placements:
        raise ValueError("nothing to apply: no file has an offset with status 'ok'")
    start = max(p.offset_s for p in placements)
    end = min(p.offset_s + p.length_on_timeline(correct_drift) for p in placements)
    if end - start < MIN_SPAN_S:
        notes = [f"no span of {MIN_SPAN_S} s that every file records (latest start {start:+.3f} s, earliest end {end:+.3f} s): "
                 "lossless outputs need one, since black and silence cannot be added without encoding; every file was "
                 "re-encoded on the reference's timeline instead"]
        outputs = apply_offsets(result_or_offsets, output_dir, zip_path, correct_drift=correct_drift, paths=paths)
        notes += [f"'{p.path}': re-encoded (no shared span)" for p in placements]
        return outputs, notes

    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = [p.path for p in placements]
    names = [synced_name(p.path) for p in placements]
    if len(set(names)) != len(names):
        raise ValueError("two inputs share a file name; their synced copies would collide in one folder")
    span = end - start
    notes = [f"outputs cover the {span:.3f} s that every file records: {start:+.6f} s to {end:+.6f} s on the reference's timeline"]
    outputs = []
    for place, name in zip(placements, names):
        out = out_dir / name
        check_not_input(out, inputs)
        notes.append(_write_one(place, out, start, span, correct_drift))
        log.info("%s", notes[-1])
        outputs.append(out)
    if zip_path is not None:
        outputs.append(write_zip(outputs, zip_path, inputs))
    return outputs, notes


def _write_one(place: Placement, out: Path, start: float, span: float, correct_drift: bool) -> str:
    speed = 1.0 + place.drift_ppm * 1e-6 if correct_drift else 1.0
    trim = (start - place.offset_s) * speed  # seconds of the file to drop
    keep = span * speed
    label = f"'{place.path}' -> {out.name}"
    if correct_drift and abs(place.drift_ppm) * 1e-6 * span > DRIFT_TOLERANCE_S:
        _reencode(place, out, start, span, correct_drift)
        return f"{label}: re-encoded: correcting {place.drift_ppm:+.1f} ppm of drift needs retiming, which copied streams cannot do"
    suffix = out.suffix.lower()
    if trim < NO_TRIM_S or suffix in EDIT_LIST_SUFFIXES:
        trim = max(trim, 0.0)
        try:
            shift = _copy_checked(place, out, trim, keep)
        except MediaError as exc:  # e.g. a codec this container takes only when encoded by FFmpeg itself
            _reencode(place, out, start, span, correct_drift)
            return f"{label}: re-encoded: the stream copy failed ({exc})"
        if shift is None or abs(shift) <= COPY_TOLERANCE_S:
            checked = "" if shift is None else f"; decoded audio checked against the input: {abs(shift) * 1e6:.0f} us apart"
            if trim == 0.0:
                return f"{label}: streams copied unchanged (it starts the shared span); cut after {keep:.3f} s at a packet boundary{checked}"
            video = "; video shows the frame at or right after the cut" if place.info.get("has_video") else ""
            return (f"{label}: streams copied; trimmed {trim:.6f} s with an edit list: packets start at the keyframe before "
                    f"the cut and playback starts exactly at it (audio to the sample{video}); cut after {keep:.3f} s at a "
                    f"packet boundary{checked}")
        _reencode(place, out, start, span, correct_drift)
        return (f"{label}: re-encoded: a stream copy decoded {shift * 1e3:+.2f} ms away from the input (the container's "
                f"priming or gapless information did not survive)")
    codec = _exact_audio_codec(place)
    if codec is not None:
        rate = int(next(s["sample_rate"] for s in place.info["streams"] if s["type"] == "audio"))
        first = round(trim * rate)
        _cut_samples(place, out, codec, first, first + round(keep * rate))
        return f"{label}: {codec} samples copied unchanged; cut at sample {first} ({first / rate:.6f} s) and after {round(keep * rate)} samples"
    _reencode(place, out, start, span, correct_drift)
    return (f"{label}: re-encoded: trimming {trim:.6f} s exactly without re-encoding needs an edit list, which "
            f"{suffix or 'these'} files do not have")


def _copy_checked(place: Placement, out: Path, trim: float, keep: float) -> float | None:
    """Copies the streams (see :func:`_copy`) and measures how far the output's decoded audio
    lies from the input's at the cut (None: no audio to compare). MP3 copies are also tried
    without a new Xing/LAME header, whose gapless fields move the decoded start."""
    variants = [[], ["-write_xing", "0"]] if out.suffix.lower() == ".mp3" else [[]]
    best: float | None = None
    for extra in variants:
        _copy(place, out, trim, keep, extra)
        shift = _decoded_shift(place, out, trim)
        if shift is None or abs(shift) <= COPY_TOLERANCE_S:
            return shift
        best = shift if best is None else min(best, shift, key=abs)
    return best


def _copy(place: Placement, out: Path, trim: float, keep: float, extra: list[str] = ()) -> None:
    """Stream copy of the first video (not cover art) and every audio stream. With ``trim``,
    FFmpeg seeks to the keyframe before it and writes an edit list that hides the packets
    before the cut."""
    seek = ["-ss", f"{trim:.6f}"] if trim > 0 else []
    with atomic_output(out) as tmp:
        run_ffmpeg([*seek, "-i", place.path, "-map", "0:V:0?", "-map", "0:a?", "-c", "copy", *extra, "-t", f"{keep:.6f}", tmp],
                   what=f"'{place.path}': copying to {out.name}")


def _decoded_shift(place: Placement, out: Path, trim: float) -> float | None:
    """Seconds by which the output's audio comes later than the input's from ``trim`` on,
    measured by GCC-PHAT over a few seconds after the cut; None without audio or a clear match."""
    if not place.info.get("has_audio"):
        return None
    from avsync.phat import gcc_phat
    from avsync.review.waveforms import read_windows

    length = min(CHECK_S, max(0.0, place.duration_s - trim - 0.2))
    if length < 0.5:
        return None
    n = round(length * CHECK_RATE)
    (src,), _, _ = read_windows(place.path, CHECK_RATE, [trim], n)
    (dst,), _, _ = read_windows(out, CHECK_RATE, [0.0], n)
    if src.size < CHECK_RATE // 2 or dst.size < CHECK_RATE // 2:
        return None
    r = gcc_phat(src, dst, CHECK_RATE, 0.1)
    return float(r.delay_s) if r.confidence >= 0.5 else None


def _exact_audio_codec(place: Placement) -> str | None:
    """The audio codec of an audio-only file whose samples survive decoding and encoding."""
    if place.info.get("has_video"):
        return None
    codecs = [s["codec"] for s in place.info.get("streams", []) if s["type"] == "audio"]
    if len(codecs) == 1 and (codecs[0].startswith("pcm_") or codecs[0] in EXACT_AUDIO_CODECS):
        return codecs[0]
    return None


def _cut_samples(place: Placement, out: Path, codec: str, first: int, last: int) -> None:
    with atomic_output(out) as tmp:
        run_ffmpeg(["-i", place.path, "-map", "0:a:0", "-af", f"atrim=start_sample={first}:end_sample={last}", "-c:a", codec, tmp],
                   what=f"'{place.path}': cutting {out.name}")


def _reencode(place: Placement, out: Path, start: float, span: float, correct_drift: bool) -> None:
    """As ``avsync apply`` does, on the shared span's timeline."""
    _write_synced(replace(place, offset_s=place.offset_s - start), out, span, correct_drift)
