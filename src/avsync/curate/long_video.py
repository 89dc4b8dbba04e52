"""Lip sync of a long video, chunk by chunk, with the offset over time (``avsync long-video``).

One SyncNet offset for an hour of video hides what matters: sync that drifts (a clock) or jumps
(an edit, a dropped stretch of audio). The video is cut into overlapping chunks, each chunk is
measured on its own, and the summary gives every chunk's offset and confidence, the
confidence-weighted offset of the whole, a line fitted through the offsets over time (drift, in
frames per minute) and the jumps between neighbouring chunks.

Layout of ``OUTPUT``::

    chunks/chunk_0000.mp4 ...     the chunks (chunks.json: their times and how they were cut)
    audio/chunk_0000.wav ...      each chunk's audio, 16 kHz mono
    syncnet_data/pywork/chunk_0000/offsets.txt, result.json   the SyncNet layout per chunk
    lipsync_results.jsonl         each chunk's result as it finished (for resuming)
    processing_summary.json       every chunk and the whole
    offset_over_time.png          offset and confidence against time

A re-run with the same video and chunking reuses the chunks, audio files and chunk results that
are there and does only what is missing.

>>> from avsync.curate.long_video import process_long_video
>>> s = process_long_video("talk.mp4", "out", weights="syncnet_v2.model")   # doctest: +SKIP
>>> s["overall"]["weighted_offset_frames"], s["overall"]["jumps"]           # doctest: +SKIP
(1.02, [])
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from avsync.curate.batch import STATUS_ERROR, LipSyncSettings, LipSyncSetup, VideoInput, write_layout_files, analyse_videos
from avsync.curate.chunking import Chunk, cut_chunks, plan_time_chunks
from avsync.curate.journal import ContentHashes, Journal
from avsync.errors import MediaError

log = logging.getLogger(__name__)

FPS = 25.0
JUMP_FRAMES = 2  # neighbouring reliable chunks whose offsets differ by this much: a jump
RELIABLE_CONFIDENCE = 3.0  # SyncNet confidence below this is too weak to read an offset from


def process_long_video(
    video: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    weights: Any,
    chunk_duration_s: float = 30.0,
    overlap_s: float = 5.0,
    settings: LipSyncSettings | None = None,
    max_workers: int = 1,
    executor: str = "local",
    ray_address: str | None = None,
    threads_per_worker: int = 1,
    reliable_confidence: float = RELIABLE_CONFIDENCE,
    video_out: bool = False,
    plot: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Chunks ``video``, measures lip sync per chunk and writes ``processing_summary.json``
    (returned) and the plot. See the module docstring for the layout."""
    from avsync.media.ffmpeg import check_not_input, extract_audio, write_text_atomic
    from avsync.media.probe import probe_streams

    out = Path(output_dir)
    check_not_input(out / "processing_summary.json", [video])
    info = probe_streams(video, video=True, audio=True)
    total = float(info.get("duration_s") or 0.0)
    plan = plan_time_chunks(total, duration_s=chunk_duration_s, overlap_s=overlap_s)
    source = ContentHashes().identify(video)
    chunk_dir = out / "chunks"
    _check_earlier_plan(chunk_dir / "chunks.json", source, chunk_duration_s, overlap_s, out)

    chunks = cut_chunks(video, plan, chunk_dir, prefix="chunk", skip_existing=True, progress=progress)
    manifest = {"video": os.fspath(video), "sha256": source["sha256"], "mode": "time", "duration_s": chunk_duration_s, "overlap_s": overlap_s,
                "chunks": [c.to_dict() for c in chunks]}  # fmt: skip
    write_text_atomic(chunk_dir / "chunks.json", json.dumps(manifest, indent=2) + "\n")
    audio: dict[int, str | None] = {}
    for c in chunks:
        wav = out / "audio" / f"chunk_{c.index:04d}.wav"
        try:
            if not wav.is_file():
                extract_audio(c.path, wav)
            audio[c.index] = os.fspath(wav)
        except MediaError as exc:
            log.warning("%s", exc)
            audio[c.index] = None

    setup = LipSyncSetup(weights, settings or LipSyncSettings(), threads=threads_per_worker)
    data_dir = out / "syncnet_data"
    inputs = [VideoInput(c.path, Path(c.path).name, Path(c.path).stem) for c in chunks]

    def write_layout(record: dict[str, Any]) -> None:
        if record.get("status") in ("ok", "no_faces") and not record.get("resumed"):
            write_layout_files(data_dir, Path(record["name"]).stem, record)

    run = analyse_videos(
        inputs, setup, Journal(out / "lipsync_results.jsonl"), executor=executor, max_workers=max_workers, ray_address=ray_address,
        data_dir=data_dir, draw_video=video_out, on_record=write_layout, progress=progress, desc="chunks",
    )  # fmt: skip
    by_name = {r["name"]: r for r in run.records}
    rows = [chunk_row(c, by_name.get(Path(c.path).name), audio.get(c.index)) for c in chunks]
    summary = {
        "video": os.fspath(video),
        "duration_s": round(total, 3),
        "chunk_duration_s": chunk_duration_s,
        "overlap_s": overlap_s,
        "complete": not run.interrupted,
        "settings": {**setup.settings.options(), "weights": setup.weights_info},
        "executor": executor,
        "max_workers": max_workers,
        "timings": {"wall_s": run.wall_s, "analysed_chunks": run.analysed, "resumed_chunks": run.resumed},
        "chunks": rows,
        "overall": overall(rows, reliable_confidence=reliable_confidence),
    }
    if plot and rows:
        try:
            summary["plot"] = os.fspath(plot_offsets(rows, summary["overall"], out / "offset_over_time.png", title=Path(video).name))
        except ImportError:
            log.warning("matplotlib is not installed: no plot (pip install 'avsync[plots]')")
    write_text_atomic(out / "processing_summary.json", json.dumps(summary, indent=2) + "\n")
    if run.interrupted:
        raise KeyboardInterrupt
    return summary


def _check_earlier_plan(path: Path, source: dict[str, Any], duration: float, overlap: float, out: Path) -> None:
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    same = old.get("sha256") == source["sha256"] and old.get("duration_s") == duration and old.get("overlap_s") == overlap
    if not same:
        raise ValueError(
            f"'{out}': it holds the chunks of another video or another chunking ({old.get('video')}, "
            f"{old.get('duration_s')} s chunks, {old.get('overlap_s')} s overlap); use another --output-dir or empty it"
        )


def chunk_row(chunk: Chunk, record: dict[str, Any] | None, audio: str | None) -> dict[str, Any]:
    """A chunk's line in the summary: its times, and its most confident track's numbers."""
    row: dict[str, Any] = {**chunk.to_dict(), "audio": audio}
    if record is None:
        row.update(status="not_analysed", tracks=[], offset_frames=None, offset_s=None, confidence=None, min_dist=None)
        return row
    best = record.get("best") or {}
    tracks = []
    for t in (record.get("lipsync") or {}).get("tracks", []):
        # track times in the source's timeline, so tracks of different chunks can be compared
        tracks.append({**t, "start_s": round(chunk.start_s + t["start_frame"] / FPS, 3), "end_s": round(chunk.start_s + (t["end_frame"] + 1) / FPS, 3)})
    row.update(
        status=record.get("status"),
        tracks=tracks,
        offset_frames=best.get("offset_frames"),
        offset_s=best.get("offset_s"),
        confidence=best.get("confidence"),
        min_dist=best.get("min_dist"),
        processing_time_s=record.get("processing_time_s"),
    )
    if record.get("status") == STATUS_ERROR:
        row["error"] = record.get("error")
    return row


def overall(rows: list[dict[str, Any]], *, reliable_confidence: float = RELIABLE_CONFIDENCE) -> dict[str, Any]:
    """The whole video: the confidence-weighted offset over chunks with a face track, the
    offset over time (chunk centres), a weighted line through the reliable chunks' offsets
    (drift) and the jumps between neighbouring reliable chunks.

    >>> rows = [{"start_s": 0, "end_s": 30, "status": "ok", "offset_frames": 2, "confidence": 8.0},
    ...         {"start_s": 25, "end_s": 55, "status": "ok", "offset_frames": 6, "confidence": 8.0}]
    >>> o = overall(rows)
    >>> o["weighted_offset_frames"], o["jumps"][0]["from_offset_frames"], o["jumps"][0]["to_offset_frames"]
    (4.0, 2, 6)
    """
    timeline = []
    for r in rows:
        if r.get("status") != "ok" or r.get("confidence") is None:
            continue
        timeline.append({
            "time_s": round((r["start_s"] + r["end_s"]) / 2, 3), "start_s": r["start_s"], "end_s": r["end_s"],
            "offset_frames": r["offset_frames"], "confidence": r["confidence"], "reliable": r["confidence"] >= reliable_confidence,
        })  # fmt: skip
    counts = {s: sum(1 for r in rows if r.get("status") == s) for s in ("ok", "no_faces", STATUS_ERROR, "not_analysed")}
    result: dict[str, Any] = {
        "chunks": len(rows),
        "chunks_with_faces": counts["ok"],
        "chunks_without_faces": counts["no_faces"],
        "chunks_failed": counts[STATUS_ERROR],
        "chunks_not_analysed": counts["not_analysed"],
        "reliable_confidence": reliable_confidence,
        "weighted_offset_frames": None,
        "weighted_offset_s": None,
        "median_offset_frames": None,
        "mean_confidence": None,
        "drift_frames_per_minute": None,
        "offset_range_frames": None,
        "jumps": [],
        "consistent": None,
        "offset_over_time": timeline,
    }
    weights = np.array([max(0.0, p["confidence"]) for p in timeline], float)
    if not timeline or weights.sum() <= 0:
        return result
    offsets = np.array([p["offset_frames"] for p in timeline], float)
    times = np.array([p["time_s"] for p in timeline], float)
    weighted = float(np.sum(weights * offsets) / weights.sum())
    result.update(
        weighted_offset_frames=round(weighted, 3),
        weighted_offset_s=round(weighted / FPS, 4),
        median_offset_frames=float(np.median(offsets)),
        mean_confidence=round(float(np.mean([p["confidence"] for p in timeline])), 3),
    )
    reliable = [p for p in timeline if p["reliable"]]
    if reliable:
        r_off = np.array([p["offset_frames"] for p in reliable], float)
        result["offset_range_frames"] = [int(r_off.min()), int(r_off.max())]
        if len(reliable) >= 3 and np.ptp(times[[timeline.index(p) for p in reliable]]) > 0:
            t = np.array([p["time_s"] for p in reliable]) / 60.0
            w = np.array([p["confidence"] for p in reliable])
            slope = np.polyfit(t, r_off, 1, w=np.sqrt(w))[0]
            result["drift_frames_per_minute"] = round(float(slope), 4)
        for a, b in zip(reliable, reliable[1:]):
            if abs(b["offset_frames"] - a["offset_frames"]) >= JUMP_FRAMES:
                result["jumps"].append({"between_s": [a["time_s"], b["time_s"]], "from_offset_frames": a["offset_frames"], "to_offset_frames": b["offset_frames"]})
        result["consistent"] = not result["jumps"] and int(r_off.max() - r_off.min()) <= 1
    return result


def plot_offsets(rows: list[dict[str, Any]], whole: dict[str, Any], path: str | os.PathLike[str], *, title: str = "") -> Path:
    """Offset (frames) and confidence per chunk against time, the weighted offset as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avsync.media.ffmpeg import atomic_output

    fig, (ax_off, ax_conf) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
    for r in rows:
        if r.get("status") != "ok":
            ax_off.axvspan(r["start_s"], r["end_s"], color="0.9", lw=0)
    pts = whole["offset_over_time"]
    reliable = [p for p in pts if p["reliable"]]
    weak = [p for p in pts if not p["reliable"]]
    for group, style, label in ((reliable, "o-", "reliable chunks"), (weak, "x", "low confidence")):
        if group:
            ax_off.plot([p["time_s"] for p in group], [p["offset_frames"] for p in group], style, label=label)
    if whole.get("weighted_offset_frames") is not None:
        ax_off.axhline(whole["weighted_offset_frames"], color="k", ls="--", lw=1, label=f"weighted {whole['weighted_offset_frames']:+.2f} frames")
    ax_off.set_ylabel("offset (frames, +: audio first)")
    ax_off.legend(loc="best", fontsize=8)
    ax_off.grid(alpha=0.3)
    ax_conf.bar([p["time_s"] for p in pts], [p["confidence"] for p in pts], width=max(1.0, 0.6 * (rows[0]["end_s"] - rows[0]["start_s"])), color="tab:green")
    ax_conf.axhline(whole["reliable_confidence"], color="k", ls=":", lw=1)
    ax_conf.set_ylabel("confidence")
    ax_conf.set_xlabel("time in the video (s, chunk centres)")
    ax_conf.grid(alpha=0.3)
    fig.suptitle(f"lip sync over time: {title}" if title else "lip sync over time")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
