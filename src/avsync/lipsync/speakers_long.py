"""Who is speaking in a video of any length (``avsync speakers``): one pass, or chunk by chunk.

A video no longer than ``chunk_duration_s`` is measured in one pass. A longer one goes through
the long-video machinery (:mod:`avsync.curate`): it is cut into overlapping chunks, each chunk's
face tracks are scored by a worker (speaking scores per frame and boxes, appended to a journal
as each chunk finishes, so a run with the same ``work_dir`` resumes), and the chunks are stitched:

- each overlap is cut in its middle; a chunk's scores are used only between its cuts, far from
  its own ends where tracks are cut short and the median filter sees half its window;
- a track of one chunk and a track of the next are the same face when their boxes overlap
  (mean IoU >= 0.5 over the frames both see in the overlap); linked tracks become one, whose
  scores run on across the cut, so a segment that crosses it comes out whole.

Memory holds the per-frame scores (a few floats per face per frame), never the video or its
embeddings: an hour at 25 fps with two faces is a few megabytes.

>>> report = find_speakers("meeting.mp4", "syncnet_v2.model", chunk_duration_s=300)   # doctest: +SKIP
>>> report.speakers.timeline[0]                                                       # doctest: +SKIP
Turn(start_frame=0, end_frame=41, track=None)
>>> open("meeting.rttm", "w").write(report.speakers.to_rttm("meeting"))              # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avsync.curate.batch import STATUS_ERROR, LipSyncSettings, LipSyncSetup, VideoInput, VideoTask
from avsync.curate.chunking import Chunk
from avsync.curate.journal import settings_key
from avsync.lipsync.speakers import FPS, SpeakerOptions, SpeakerResult, SpeakerTrack, decide_speakers

DEFAULT_CHUNK_S = 300.0
DEFAULT_OVERLAP_S = 10.0
LINK_IOU = 0.5  # tracks of neighbouring chunks whose boxes overlap this much are one face
LINK_MIN_FRAMES = 10  # ...over at least this many frames seen by both


# ---------------------------------------------------------------------------------------------
# the worker: one chunk's tracks, scores and boxes


@dataclass
class SpeakerSetup(LipSyncSetup):
    """Workers that measure lip sync and read speaking scores (see :class:`LipSyncSetup`)."""

    speaker_options: SpeakerOptions = field(default_factory=SpeakerOptions)

    @property
    def settings_hash(self) -> str:
        # what a chunk's record depends on; thresholds are applied after stitching, so they are not part of it
        return settings_key({"lipsync": super().settings_hash, "speaker_scores": self.speaker_options.scoring()})

    def make(self) -> Callable[[VideoTask], dict]:
        from avsync.lipsync import LipSync

        runner = LipSync(self.weights, **self.settings.options(), progress=False)
        return lambda task: measure_chunk(runner, task, self.speaker_options)


def measure_chunk(runner, task: VideoTask, options: SpeakerOptions) -> dict[str, Any]:  # noqa: ANN001 - a LipSync
    """A chunk's record: ``status``, ``frames``, ``lipsync`` (the result JSON) and ``pieces``,
    each track's per-frame ``scores`` and ``boxes`` (x1, y1, x2, y2) from its ``start_frame``."""
    from avsync.cli import one_line

    started = time.perf_counter()
    try:
        result = runner.run(task.path, draw_video=False, speakers=options)
    except Exception as exc:  # noqa: BLE001 - recorded per chunk
        return {"status": STATUS_ERROR, "error": one_line(exc), "processing_time_s": round(time.perf_counter() - started, 3)}
    found, result.speakers = result.speakers, None
    lipsync = result.to_dict()
    lipsync.pop("weights", None)
    pieces = [
        {
            "track": t.track, "start_frame": t.start_frame, "offset_frames": s.offset_frames, "confidence": round(t.confidence, 3),
            "scores": [None if np.isnan(v) else round(float(v), 4) for v in s.scores], "boxes": np.round(t.boxes, 1).tolist(),
        }  # fmt: skip
        for t, s in zip(result.tracks, found.tracks)
    ]
    return {"status": result.status, "frames": result.frames, "lipsync": lipsync, "pieces": pieces, "processing_time_s": round(time.perf_counter() - started, 3)}


# ---------------------------------------------------------------------------------------------
# stitching chunks


@dataclass
class _Piece:
    chunk: int
    track: int
    start: int  # global frame of scores[0]
    scores: np.ndarray
    boxes: np.ndarray
    offset_frames: int
    confidence: float
    face: int = -1  # the stitched track it belongs to

    @property
    def stop(self) -> int:
        return self.start + len(self.scores)


def _pieces(record: dict[str, Any] | None, chunk: int, first_frame: int) -> list[_Piece]:
    if not record or record.get("status") != "ok":
        return []
    return [
        _Piece(chunk, p["track"], first_frame + p["start_frame"], np.array([np.nan if v is None else v for v in p["scores"]], np.float32),
               np.asarray(p["boxes"], np.float64).reshape(-1, 4), int(p["offset_frames"]), float(p["confidence"]))  # fmt: skip
        for p in record.get("pieces", [])
    ]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of matching rows of two ``(n, 4)`` arrays of x1, y1, x2, y2."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = w * h
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.where(area > 0, inter / np.where(area > 0, area, 1), 0.0)


def link_pieces(before: Sequence[_Piece], after: Sequence[_Piece]) -> dict[int, int]:
    """Which track of the next chunk (index in ``after``) continues which of this one (index in
    ``before``): pairs whose boxes overlap most over the frames both see, one to one."""
    pairs = []
    for i, p in enumerate(before):
        for j, q in enumerate(after):
            lo, hi = max(p.start, q.start), min(p.stop, q.stop)
            if hi - lo < LINK_MIN_FRAMES:
                continue
            iou = float(box_iou(p.boxes[lo - p.start : hi - p.start], q.boxes[lo - q.start : hi - q.start]).mean())
            if iou >= LINK_IOU:
                pairs.append((iou, i, j))
    links: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used and j not in links:
            links[j] = i
            used.add(i)
    return links


def stitch_chunks(chunks: Sequence[Chunk], records: Sequence[dict[str, Any] | None], *, fps: float = FPS) -> tuple[list[SpeakerTrack], int]:
    """One :class:`SpeakerTrack` per face across the chunks, and the video's length in frames."""
    firsts = [int(round(c.start_s * fps)) for c in chunks]
    ends = [f + int((r or {}).get("frames") or round(c.duration_s * fps)) for f, c, r in zip(firsts, chunks, records)]
    total = max(ends, default=0)
    cuts = [(firsts[k + 1] + ends[k]) // 2 for k in range(len(chunks) - 1)]
    own = list(zip([0, *cuts], [*cuts, total]))  # the frames each chunk's scores are used for
    faces: dict[int, dict[str, Any]] = {}
    before: list[_Piece] = []
    for k, record in enumerate(records):
        pieces = _pieces(record, k, firsts[k])
        links = link_pieces(before, pieces)
        for j, p in enumerate(pieces):
            p.face = before[links[j]].face if j in links else len(faces)
            face = faces.setdefault(p.face, {"parts": [], "box_sum": np.zeros(4), "frames": 0, "pieces": []})
            lo, hi = max(p.start, own[k][0]), min(p.stop, own[k][1])
            if hi <= lo:
                continue
            face["parts"].append((lo, p.scores[lo - p.start : hi - p.start]))
            face["box_sum"] += p.boxes[lo - p.start : hi - p.start].sum(axis=0)
            face["frames"] += hi - lo
            face["pieces"].append({"chunk": k, "lipsync_track": p.track, "start_frame": lo, "end_frame": hi - 1,
                                   "offset_frames": p.offset_frames, "confidence": round(p.confidence, 3)})  # fmt: skip
        before = pieces
    tracks = []
    for face in faces.values():
        if not face["parts"]:
            continue
        first = face["parts"][0][0]
        scores = np.full(face["parts"][-1][0] + len(face["parts"][-1][1]) - first, np.nan, np.float32)  # its own span only
        for lo, part in face["parts"]:
            scores[lo - first : lo - first + len(part)] = part
        seen = np.flatnonzero(~np.isnan(scores))
        if not seen.size:
            continue
        x1, y1, x2, y2 = face["box_sum"] / face["frames"]
        main = max(face["pieces"], key=lambda p: p["end_frame"] - p["start_frame"])
        weights = np.array([p["end_frame"] - p["start_frame"] + 1 for p in face["pieces"]], float)
        confidence = float(np.average([p["confidence"] for p in face["pieces"]], weights=weights))
        tracks.append(SpeakerTrack(0, first + int(seen[0]), scores[seen[0] : seen[-1] + 1], main["offset_frames"], confidence,
                                   [float(x1), float(y1), float(x2 - x1), float(y2 - y1)], face["pieces"]))  # fmt: skip
    tracks.sort(key=lambda t: (t.start_frame, t.mean_box[0]))
    for i, t in enumerate(tracks):
        t.track = i
    return tracks, total


# ---------------------------------------------------------------------------------------------
# the whole video


@dataclass
class SpeakerReport:
    """The result of :func:`find_speakers`; ``to_dict()`` is the JSON of ``avsync speakers``."""

    video: str
    speakers: SpeakerResult
    weights: dict[str, Any]
    chunking: dict[str, Any] | None = None  # None: one pass

    @property
    def failed_chunks(self) -> list[dict[str, Any]]:
        return [c for c in (self.chunking or {}).get("chunks", []) if c["status"] == STATUS_ERROR]

    @property
    def status(self) -> str:
        return "ok" if self.speakers.tracks else "no_faces"

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "fps": self.speakers.fps,
            "frames": self.speakers.frames,
            "status": self.status,
            "weights": self.weights,
            "chunking": self.chunking,
            "speakers": self.speakers.to_dict(),
        }


def find_speakers(
    video: str | os.PathLike[str],
    weights: Any,
    *,
    settings: LipSyncSettings | None = None,
    options: SpeakerOptions | None = None,
    chunk_duration_s: float = DEFAULT_CHUNK_S,
    overlap_s: float = DEFAULT_OVERLAP_S,
    work_dir: str | os.PathLike[str] | None = None,
    max_workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    threads_per_worker: int = 1,
    progress: bool = True,
) -> SpeakerReport:
    """Who speaks when in ``video`` (see the module docstring). ``weights``: a SyncNet file or a
    loaded network; ``settings``: the lip-sync options; ``options``: speaker detection's.
    ``work_dir`` keeps the chunks and the journal of a long video (a re-run resumes); by default
    they go to a temporary folder that is removed at the end."""
    from avsync.media.probe import probe_streams

    settings = settings or LipSyncSettings()
    options = options or SpeakerOptions()
    if overlap_s < 2.0:
        raise ValueError(f"the chunk overlap must be at least 2 s, so that tracks of neighbouring chunks can be linked, got {overlap_s:g}")
    info = probe_streams(video, video=True, audio=True)
    total_s = float(info.get("duration_s") or 0.0)
    if total_s <= chunk_duration_s:
        from avsync.lipsync import LipSync

        runner = LipSync(weights, **settings.options(), progress=progress)
        result = runner.run(video, speakers=options)
        return SpeakerReport(os.fspath(video), result.speakers, runner.weights)
    with _folder(work_dir) as out:
        return _chunked(video, weights, settings, options, out, chunk_duration_s, overlap_s, total_s,
                        dict(executor=executor, max_workers=max_workers, ray_address=ray_address, progress=progress), threads_per_worker)  # fmt: skip


@contextlib.contextmanager
def _folder(work_dir: str | os.PathLike[str] | None) -> Iterator[Path]:
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        yield Path(work_dir)
        return
    with tempfile.TemporaryDirectory(prefix="avsync-speakers-") as tmp:
        yield Path(tmp)


def _chunked(video, weights, settings, options, out: Path, chunk_s: float, overlap_s: float, total_s: float, run_options: dict, threads: int) -> SpeakerReport:  # noqa: ANN001
    from avsync.curate.batch import analyse_videos
    from avsync.curate.chunking import cut_chunks, plan_time_chunks
    from avsync.curate.journal import ContentHashes, Journal
    from avsync.media.ffmpeg import check_not_input, write_text_atomic

    journal = out / "speakers_results.jsonl"
    check_not_input(journal, [video])
    source = ContentHashes().identify(video)
    manifest_path = out / "chunks" / "chunks.json"
    manifest = {"video": os.fspath(video), "sha256": source["sha256"], "duration_s": chunk_s, "overlap_s": overlap_s}
    _check_same_plan(manifest_path, manifest, out)
    plan = plan_time_chunks(total_s, duration_s=chunk_s, overlap_s=overlap_s)
    chunks = cut_chunks(video, plan, out / "chunks", prefix="chunk", skip_existing=True, progress=run_options["progress"])
    write_text_atomic(manifest_path, json.dumps({**manifest, "chunks": [c.to_dict() for c in chunks]}, indent=2) + "\n")

    setup = SpeakerSetup(weights, settings, threads=threads, speaker_options=options)
    inputs = [VideoInput(c.path, Path(c.path).name) for c in chunks]
    run = analyse_videos(inputs, setup, Journal(journal), desc="chunks", **run_options)
    by_name = {r["name"]: r for r in run.records}
    records = [by_name.get(v.name) for v in inputs]
    if run.interrupted:
        raise KeyboardInterrupt  # the chunks finished are in the journal: a re-run with this work folder resumes
    tracks, frames = stitch_chunks(chunks, records)
    summary = []
    for c, r in zip(chunks, records):
        row = {"index": c.index, "start_s": round(c.start_s, 3), "end_s": round(c.end_s, 3), "status": (r or {}).get("status", "not_analysed"),
               "tracks": len((r or {}).get("pieces", [])), "processing_time_s": (r or {}).get("processing_time_s"), "resumed": bool((r or {}).get("resumed"))}  # fmt: skip
        if row["status"] == STATUS_ERROR:
            row["error"] = r.get("error")
        summary.append(row)
    chunking = {"chunk_duration_s": chunk_s, "overlap_s": overlap_s, "chunks": summary}
    return SpeakerReport(os.fspath(video), decide_speakers(tracks, frames, options), setup.weights_info, chunking)


def _check_same_plan(path: Path, manifest: dict[str, Any], out: Path) -> None:
    """Chunk files are reused by name: refuse a work folder holding another video's or another
    chunking's chunks."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if any(old.get(k) != manifest[k] for k in ("sha256", "duration_s", "overlap_s")):
        raise ValueError(
            f"'{out}': it holds the chunks of another video or another chunking ({old.get('video')}, {old.get('duration_s')} s chunks, "
            f"{old.get('overlap_s')} s overlap); use another --work-dir or empty it"
        )


__all__ = ["find_speakers", "SpeakerReport", "SpeakerSetup", "stitch_chunks", "link_pieces", "box_iou", "measure_chunk"]
