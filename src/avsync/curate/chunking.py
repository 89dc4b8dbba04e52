"""Cutting long videos into chunks: at fixed times (with overlap) or in the middle of silences.

>>> from avsync.curate.chunking import plan_time_chunks
>>> [(c.start_s, c.end_s) for c in plan_time_chunks(70.0, duration_s=30, overlap_s=5)]
[(0.0, 30.0), (25.0, 55.0), (50.0, 70.0)]

Chunks start and end exactly where planned. A chunk is stream-copied (fast, lossless) only when
both of its ends fall on video keyframes, where a copy cuts at the right place; any other chunk
is re-encoded (H.264 CRF 18 + AAC), since a copy would start at the keyframe before the cut.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avsync.errors import MediaError

log = logging.getLogger(__name__)

# containers that take the streams of any input and H.264 + AAC; other inputs give .mkv chunks
_KEEP_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv"}
_SILENCE_FRAME_S = 0.01  # silence detection resolution (RMS over 10 ms frames)
_SILENCE_RATE = 16000


@dataclass
class Chunk:
    """One planned chunk: ``index``, ``start_s`` and ``end_s`` in the source's timeline, and
    after cutting the ``path`` written and ``method`` (``copy`` or ``reencode``)."""

    index: int
    start_s: float
    end_s: float
    path: str | None = None
    method: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        d = asdict(self)
        d["start_s"], d["end_s"] = round(self.start_s, 3), round(self.end_s, 3)
        d["duration_s"] = round(self.duration_s, 3)
        return d


# ---------------------------------------------------------------------------------------------
# plans


def plan_time_chunks(total_s: float, *, duration_s: float = 30.0, overlap_s: float = 5.0) -> list[Chunk]:
    """Chunks of ``duration_s`` starting every ``duration_s - overlap_s`` seconds; the last one
    ends at ``total_s`` (it may be shorter). A chunk that would add nothing past the previous
    one's end is not made."""
    if not duration_s > 0:
        raise ValueError(f"chunk duration must be positive, got {duration_s}")
    if not 0 <= overlap_s < duration_s:
        raise ValueError(f"overlap must be at least 0 and shorter than the chunk duration ({duration_s:g} s), got {overlap_s}")
    if not total_s > 0:
        raise ValueError("the video has no duration")
    step = duration_s - overlap_s
    chunks: list[Chunk] = []
    start = 0.0
    while True:
        end = min(total_s, start + duration_s)
        chunks.append(Chunk(len(chunks), round(start, 6), round(end, 6)))
        if end >= total_s - 1e-6:
            return chunks
        start = len(chunks) * step


def detect_silences(
    samples: np.ndarray, sample_rate: int = _SILENCE_RATE, *, threshold_db: float = -30.0, min_silence_s: float = 1.0
) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` of every stretch of at least ``min_silence_s`` whose level (RMS over
    10 ms frames, dB relative to full scale) stays below ``threshold_db``."""
    if min_silence_s <= 0:
        raise ValueError(f"minimum silence must be positive, got {min_silence_s}")
    hop = max(1, int(round(sample_rate * _SILENCE_FRAME_S)))
    n = len(samples) // hop
    if n == 0:
        return []
    frames = np.asarray(samples[: n * hop], np.float64).reshape(n, hop)
    level = 10.0 * np.log10(np.mean(frames * frames, axis=1) + 1e-20)
    quiet = np.concatenate([[False], level < threshold_db, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    frame_s = hop / sample_rate
    out = []
    for a, b in zip(starts, ends):
        if (b - a) * frame_s >= min_silence_s - 1e-9:
            out.append((round(a * frame_s, 3), round(min(b * frame_s, len(samples) / sample_rate), 3)))
    return out


def plan_silence_chunks(total_s: float, silences: Sequence[tuple[float, float]], *, min_chunk_s: float = 5.0) -> list[Chunk]:
    """Chunks cut in the middle of ``silences``; a cut is skipped when it would leave a chunk
    (before it, or the rest of the video after it) shorter than ``min_chunk_s``."""
    if min_chunk_s < 0:
        raise ValueError(f"minimum chunk length must be >= 0, got {min_chunk_s}")
    if not total_s > 0:
        raise ValueError("the video has no duration")
    cuts: list[float] = []
    last = 0.0
    for a, b in silences:
        mid = round((a + b) / 2, 3)
        if mid - last >= min_chunk_s and total_s - mid >= min_chunk_s and 0 < mid < total_s:
            cuts.append(mid)
            last = mid
    bounds = [0.0, *cuts, total_s]
    return [Chunk(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


# ---------------------------------------------------------------------------------------------
# cutting


def video_packets(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Presentation times (s, from the file's start, sorted) of the first video stream's
    packets and which are keyframes, from the packets' flags (demuxing only, no decoding)."""
    cmd = [
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
        "-of", "csv=p=0", os.fspath(path),
    ]  # fmt: skip
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    except FileNotFoundError:
        raise MediaError("ffprobe was not found on PATH: install ffmpeg") from None
    except subprocess.CalledProcessError as exc:
        lines = exc.stderr.strip().splitlines()
        raise MediaError(f"'{path}': could not list video packets ({lines[-1] if lines else 'ffprobe failed'})") from None
    rows = []
    for line in out.splitlines():
        pts, _, flags = line.partition(",")
        if pts not in ("", "N/A"):
            rows.append((float(pts), "K" in flags))
    rows.sort()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows], bool)


def keyframe_times(path: str | os.PathLike[str]) -> np.ndarray:
    """Presentation times (s, from the file's start) of the first video stream's keyframes."""
    pts, key = video_packets(path)
    return pts[key]


def chunk_extension(path: str | os.PathLike[str]) -> str:
    ext = Path(path).suffix.lower()
    return ext if ext in _KEEP_EXTENSIONS else ".mkv"


def cut_chunks(
    video: str | os.PathLike[str],
    chunks: Sequence[Chunk],
    output_dir: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    skip_existing: bool = False,
    progress: bool = True,
) -> list[Chunk]:
    """Writes each chunk of ``video`` to ``output_dir/{prefix}_{index:04d}{ext}`` (``prefix``:
    the video's stem + ``_chunk`` by default) and fills in ``path`` and ``method``. Outputs are
    written atomically; ``skip_existing`` keeps chunk files already there (a resumed run)."""
    from avsync.media.ffmpeg import atomic_output, check_not_input, run_ffmpeg
    from avsync.media.probe import probe_streams
    from avsync.progress import progress_bar

    info = probe_streams(video, video=True)
    start_offset = float(info.get("start_s") or 0.0)
    fps = float(info.get("fps") or 25.0)
    pts, key = video_packets(video)
    pts = pts - start_offset
    keys = pts[key]
    total = float(info["duration_s"] or 0.0)
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ext = chunk_extension(video)
    stem = prefix if prefix is not None else f"{Path(video).stem}_chunk"
    done: list[Chunk] = []
    with progress_bar(total=len(chunks), enabled=progress, unit="chunk", desc=f"cutting {Path(video).name}") as bar:
        for c in chunks:
            out = out_dir / f"{stem}_{c.index:04d}{ext}"
            check_not_input(out, [video])
            at_end = c.end_s >= total - 0.5 / fps
            method = "copy" if _on_keyframe(c.start_s, keys, fps) and (at_end or _on_keyframe(c.end_s, keys, fps)) else "reencode"
            if not (skip_existing and out.is_file() and out.stat().st_size > 0):
                what = f"'{video}': cutting chunk {c.index} ({c.start_s:.3f}-{c.end_s:.3f} s)"
                with atomic_output(out) as tmp:
                    if method == "copy":
                        frames = int(np.count_nonzero((pts >= c.start_s - 0.25 / fps) & (pts < c.end_s - 0.25 / fps)))
                        _copy_cut(video, c, tmp, frames, what)
                    else:
                        run_ffmpeg(_reencode_args(video, c, tmp), what=what)
            done.append(Chunk(c.index, c.start_s, c.end_s, os.fspath(out), method))
            bar.update(1)
    return done


def _on_keyframe(t: float, keys: np.ndarray, fps: float) -> bool:
    return bool(keys.size) and float(np.min(np.abs(keys - t))) < 0.25 / fps


def _copy_cut(video: str | os.PathLike[str], c: Chunk, out: Path, frames: int, what: str) -> None:
    """Video stream-copied from the keyframe at the start, exactly ``frames`` packets (a time
    limit would cut copied video by decoding time, taking frames of the next group), then the
    audio decoded, cut at the exact times and encoded (AAC) beside it."""
    import tempfile

    from avsync.media.ffmpeg import run_ffmpeg

    with tempfile.TemporaryDirectory(prefix=".chunk-", dir=out.parent) as tmp:
        video_only = Path(tmp) / "video.mkv"
        run_ffmpeg(["-ss", f"{c.start_s:.6f}", "-i", os.fspath(video), "-map", "0:v:0", "-c", "copy", "-frames:v", str(frames), video_only], what=what)
        args = ["-i", video_only, "-ss", f"{c.start_s:.6f}", "-i", os.fspath(video), "-t", f"{c.duration_s:.6f}",
                "-map", "0:v:0", "-map", "1:a:0?", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k"]  # fmt: skip
        run_ffmpeg([*args, *_container_args(out), out], what=what)


def _reencode_args(video: str | os.PathLike[str], c: Chunk, out: Path) -> list[str]:
    # -ss before -i seeks; frames before the exact time are decoded and dropped
    args = ["-ss", f"{c.start_s:.6f}", "-i", os.fspath(video), "-t", f"{c.duration_s:.6f}", "-map", "0:v:0", "-map", "0:a:0?",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k",
            "-fps_mode", "passthrough"]  # fmt: skip  (frames keep their times: no CFR resampling of variable-rate input)
    return [*args, *_container_args(out), os.fspath(out)]


def _container_args(out: Path) -> list[str]:
    return ["-movflags", "+faststart"] if out.suffix in (".mp4", ".m4v", ".mov") else []


def chunk_by_time(
    video: str | os.PathLike[str], output_dir: str | os.PathLike[str], *, duration_s: float = 30.0, overlap_s: float = 5.0, progress: bool = True
) -> list[Chunk]:
    """Plans and cuts fixed-length chunks (see :func:`plan_time_chunks`), and writes
    ``chunks.json`` listing them.

    >>> chunk_by_time("talk.mp4", "chunks", duration_s=30, overlap_s=5)   # doctest: +SKIP
    [Chunk(index=0, start_s=0.0, end_s=30.0, path='chunks/talk_chunk_0000.mp4', method='reencode'), ...]
    """
    from avsync.media.probe import probe

    total = _duration(video, probe)
    chunks = cut_chunks(video, plan_time_chunks(total, duration_s=duration_s, overlap_s=overlap_s), output_dir, progress=progress)
    _write_manifest(output_dir, video, chunks, {"mode": "time", "duration_s": duration_s, "overlap_s": overlap_s})
    return chunks


def chunk_by_silence(
    video: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    threshold_db: float = -30.0,
    min_silence_s: float = 1.0,
    min_chunk_s: float = 5.0,
    progress: bool = True,
) -> list[Chunk]:
    """Cuts ``video`` in the middle of its silences (see :func:`detect_silences` and
    :func:`plan_silence_chunks`) and writes ``chunks.json`` with the chunks and the silences."""
    from avsync.media.audio import read_audio_with_start
    from avsync.media.probe import probe

    total = _duration(video, probe)
    samples, audio_start = read_audio_with_start(video, _SILENCE_RATE)
    silences = [(a + audio_start, b + audio_start) for a, b in detect_silences(samples, _SILENCE_RATE, threshold_db=threshold_db, min_silence_s=min_silence_s)]
    plan = plan_silence_chunks(total, silences, min_chunk_s=min_chunk_s)
    chunks = cut_chunks(video, plan, output_dir, progress=progress)
    settings = {"mode": "silence", "threshold_db": threshold_db, "min_silence_s": min_silence_s, "min_chunk_s": min_chunk_s,
                "silences": [[round(a, 3), round(b, 3)] for a, b in silences]}  # fmt: skip
    _write_manifest(output_dir, video, chunks, settings)
    return chunks


def _duration(video: str | os.PathLike[str], probe) -> float:  # noqa: ANN001
    if not Path(video).is_file():
        raise MediaError(f"'{video}': no such file")
    total = float(probe(video).get("duration_s") or 0.0)
    if total <= 0:
        raise MediaError(f"'{video}': the file has no duration (empty or not a video)")
    return total


def _write_manifest(output_dir: str | os.PathLike[str], video: str | os.PathLike[str], chunks: Sequence[Chunk], settings: dict) -> Path:
    from avsync.media.ffmpeg import write_text_atomic

    doc = {"video": os.fspath(video), **settings, "chunks": [c.to_dict() for c in chunks]}
    return write_text_atomic(Path(output_dir) / "chunks.json", json.dumps(doc, indent=2) + "\n")
