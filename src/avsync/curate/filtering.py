"""Sorting a talking-head dataset by lip-sync quality (``avsync filter``).

A video is **good** when its most confident face track has SyncNet confidence ≥
``min_confidence`` and offset ``|offset_frames|`` ≤ ``max_abs_offset``; otherwise **poor**.
Videos without a usable face track are ``no_faces`` and those that could not be analysed
``failed`` (with the reason). Presets:

=========  ==============  ===============
preset     min_confidence  max_abs_offset
=========  ==============  ===============
strict     8               2
high       6               3
(default)  5               3
medium     4               5
relaxed    2               8
=========  ==============  ===============

Good videos go to ``OUTPUT/good_quality/``, poor and face-less ones to ``OUTPUT/poor_quality/``
(same relative paths as in the input folder): copies by default, symbolic links with
``link``, moved with ``move``; ``keep-all`` only analyses. Inputs are never modified (except
moved, when asked). Failed videos are not placed anywhere.

Every result is appended to ``sync_filter_results.jsonl`` as the file finishes, keyed by the
file's content hash and the analysis settings and weights; ``sync_filter_results.json`` (the
summary) is rewritten from them. A re-run skips the analysis of files done before — so trying
another preset on an analysed dataset takes seconds — and only fixes the placement.

>>> from avsync.curate.filtering import filter_videos
>>> summary = filter_videos("clips", "sorted", weights="syncnet_v2.model", preset="high")   # doctest: +SKIP
>>> summary["good_quality"], summary["poor_quality"]                                        # doctest: +SKIP
(812, 95)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avsync.curate.batch import STATUS_ERROR, LipSyncSettings, LipSyncSetup, analyse_videos, find_videos
from avsync.curate.journal import Journal

log = logging.getLogger(__name__)

PRESETS: dict[str, tuple[float, int]] = {"strict": (8.0, 2), "high": (6.0, 3), "medium": (4.0, 5), "relaxed": (2.0, 8)}
DEFAULT_MIN_CONFIDENCE, DEFAULT_MAX_ABS_OFFSET = 5.0, 3
MODES = ("copy", "link", "move", "keep-all")
GOOD, POOR, NO_FACES, FAILED = "good", "poor", "no_faces", "failed"
FOLDERS = {GOOD: "good_quality", POOR: "poor_quality", NO_FACES: "poor_quality"}
RESULTS_JSON, RESULTS_JOURNAL = "sync_filter_results.json", "sync_filter_results.jsonl"
SUMMARY_EVERY_S = 60.0


@dataclass(frozen=True)
class Thresholds:
    """What makes a video good: ``confidence >= min_confidence`` and ``|offset| <= max_abs_offset``."""

    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    max_abs_offset: int = DEFAULT_MAX_ABS_OFFSET
    preset: str | None = None

    @classmethod
    def resolve(cls, preset: str | None = None, min_confidence: float | None = None, max_abs_offset: int | None = None) -> Thresholds:
        """A preset's thresholds (or the defaults), with any value given explicitly taking over.

        >>> Thresholds.resolve("high")
        Thresholds(min_confidence=6.0, max_abs_offset=3, preset='high')
        >>> Thresholds.resolve("high", max_abs_offset=1)
        Thresholds(min_confidence=6.0, max_abs_offset=1, preset='high+custom')
        """
        if preset is not None and preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}: choose {', '.join(PRESETS)}")
        conf, off = PRESETS[preset] if preset else (DEFAULT_MIN_CONFIDENCE, DEFAULT_MAX_ABS_OFFSET)
        custom = min_confidence is not None or max_abs_offset is not None
        if max_abs_offset is not None and max_abs_offset < 0:
            raise ValueError(f"max_abs_offset must be >= 0 frames, got {max_abs_offset}")
        name = f"{preset}+custom" if preset and custom else (preset or ("custom" if custom else "default"))
        return cls(float(conf if min_confidence is None else min_confidence), int(off if max_abs_offset is None else max_abs_offset), name)

    def judge(self, record: dict[str, Any]) -> tuple[str, str]:
        """``(quality, why)`` for a lip-sync record."""
        status = record.get("status")
        if status == STATUS_ERROR:
            return FAILED, record.get("error") or "analysis failed"
        if status == "no_faces":
            return NO_FACES, "no face track long and large enough (see min_track, min_face_size)"
        best = record.get("best") or {}
        conf, off = float(best["confidence"]), int(best["offset_frames"])
        problems = []
        if conf < self.min_confidence:
            problems.append(f"confidence {conf:.3f} < {self.min_confidence:g}")
        if abs(off) > self.max_abs_offset:
            problems.append(f"|offset| {abs(off)} > {self.max_abs_offset} frames")
        if problems:
            return POOR, " and ".join(problems)
        return GOOD, f"confidence {conf:.3f} >= {self.min_confidence:g} and |offset| {abs(off)} <= {self.max_abs_offset} frames"


# ---------------------------------------------------------------------------------------------
# placing files


def place(source: str | os.PathLike[str], quality: str, name: str, output_dir: str | os.PathLike[str], mode: str) -> str | None:
    """Puts ``source`` into its quality folder under ``output_dir`` (as ``name``, a relative
    path) by ``mode``; removes a copy or link left in the other folder by an earlier run with
    other thresholds. Returns the destination, or None when nothing is placed. Idempotent."""
    folder = FOLDERS.get(quality)
    if mode == "keep-all" or folder is None:
        return None
    out = Path(output_dir)
    dest = out / folder / name
    for other in set(FOLDERS.values()) - {folder}:
        _remove_stale(out / other / name, source)
    src = Path(source)
    if mode == "copy":
        _copy(src, dest)
    elif mode == "link":
        _link(src, dest)
    elif mode == "move":
        _move(src, dest)
    else:
        raise ValueError(f"unknown mode {mode!r}: choose {', '.join(MODES)}")
    return os.fspath(dest)


def _same_copy(src: Path, dest: Path) -> bool:
    try:
        a, b = src.stat(), dest.stat()
    except OSError:
        return False
    return not dest.is_symlink() and a.st_size == b.st_size and abs(a.st_mtime - b.st_mtime) < 1e-3


def _copy(src: Path, dest: Path) -> None:
    from avsync.media.ffmpeg import atomic_output, check_not_input

    if _same_copy(src, dest):
        return
    check_not_input(dest, [src])
    with atomic_output(dest) as tmp:
        shutil.copy2(src, tmp)


def _link(src: Path, dest: Path) -> None:
    from avsync.media.ffmpeg import atomic_output, check_not_input

    target = src.resolve()
    if dest.is_symlink() and Path(os.readlink(dest)) == target:
        return
    check_not_input(dest, [src])
    with atomic_output(dest) as tmp:
        tmp.unlink()
        tmp.symlink_to(target)


def _move(src: Path, dest: Path) -> None:
    from avsync.media.ffmpeg import atomic_output, check_not_input

    if not src.exists() and dest.exists():
        return  # moved by an earlier run
    check_not_input(dest, [src])
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
        return
    except OSError:
        pass  # another filesystem: copy under a temporary name, then remove the source
    with atomic_output(dest) as tmp:
        shutil.copy2(src, tmp)
    src.unlink()


def _remove_stale(path: Path, source: str | os.PathLike[str]) -> None:
    """Removes ``path`` if it is our copy or link of ``source`` (same size, or a link to it)."""
    with contextlib.suppress(OSError):
        if path.is_symlink():
            if Path(os.readlink(path)) == Path(source).resolve():
                path.unlink()
        elif path.is_file() and Path(source).exists() and _same_copy(Path(source), path):
            path.unlink()


# ---------------------------------------------------------------------------------------------
# the run


def filter_videos(
    input_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    weights: Any,
    preset: str | None = None,
    min_confidence: float | None = None,
    max_abs_offset: int | None = None,
    settings: LipSyncSettings | None = None,
    mode: str = "copy",
    max_workers: int = 2,
    executor: str = "local",
    ray_address: str | None = None,
    threads_per_worker: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Analyses every video under ``input_dir`` and sorts it by lip-sync quality (see the module
    docstring). Returns the summary written to ``output_dir/sync_filter_results.json``. On
    Ctrl-C, the summary of the files finished so far is written (``"complete": false``) and
    KeyboardInterrupt is raised again."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose {', '.join(MODES)}")
    thresholds = Thresholds.resolve(preset, min_confidence, max_abs_offset)
    out = Path(output_dir)
    if Path(input_dir).resolve() == out.resolve():
        raise ValueError(f"'{output_dir}': the output folder must not be the input folder")
    videos = find_videos(input_dir, exclude=[out])
    setup = LipSyncSetup(weights, settings or LipSyncSettings(), threads=threads_per_worker)
    out.mkdir(parents=True, exist_ok=True)
    journal = Journal(out / RESULTS_JOURNAL)
    placed: dict[str, str | None] = {}
    state = {"last_summary": time.monotonic()}

    def summary(run_records: list[dict[str, Any]], *, complete: bool, analysed: int, resumed: int, wall_s: float) -> dict[str, Any]:
        return filter_summary(
            run_records, thresholds=thresholds, setup=setup, mode=mode, executor=executor, max_workers=max_workers,
            input_dir=input_dir, output_dir=out, placed=placed, complete=complete, analysed=analysed, resumed=resumed, wall_s=wall_s,
        )  # fmt: skip

    settled: list[dict[str, Any]] = []

    def on_record(record: dict[str, Any]) -> None:
        quality, _ = thresholds.judge(record)
        if quality != FAILED:
            placed[record["name"]] = place(record["path"], quality, record["name"], out, mode)
            if mode == "move" and placed[record["name"]] and record.get("moved_to") != placed[record["name"]]:
                journal.append({**record, "moved_to": placed[record["name"]]})
        settled.append(record)
        if time.monotonic() - state["last_summary"] > SUMMARY_EVERY_S:  # a recent summary even if the driver is killed
            _write(out, summary(settled, complete=False, analysed=0, resumed=0, wall_s=0.0))
            state["last_summary"] = time.monotonic()

    run = analyse_videos(
        videos, setup, journal, executor=executor, max_workers=max_workers, ray_address=ray_address,
        on_record=on_record, progress=progress, desc="filter",
    )  # fmt: skip
    records = run.records + _moved_earlier(journal, setup.settings_hash, {v.name for v in videos})
    result = summary(records, complete=not run.interrupted, analysed=run.analysed, resumed=run.resumed, wall_s=run.wall_s)
    _write(out, result)
    if run.interrupted:
        raise KeyboardInterrupt
    return result


def _moved_earlier(journal: Journal, settings_hash: str, present: set[str]) -> list[dict[str, Any]]:
    """Records of files an earlier ``move`` run took out of the input folder (still where it put them)."""
    out = []
    for rec in journal.load().values():
        moved = rec.get("moved_to")
        if moved and rec.get("settings_hash") == settings_hash and rec["name"] not in present and Path(moved).exists():
            out.append({**rec, "path": moved, "resumed": True})
    return sorted(out, key=lambda r: r["name"])


def _write(out: Path, summary: dict[str, Any]) -> None:
    from avsync.media.ffmpeg import write_text_atomic

    write_text_atomic(out / RESULTS_JSON, json.dumps(summary, indent=2) + "\n")


def filter_summary(
    records: list[dict[str, Any]],
    *,
    thresholds: Thresholds,
    setup: LipSyncSetup,
    mode: str,
    executor: str,
    max_workers: int,
    input_dir,  # noqa: ANN001
    output_dir,  # noqa: ANN001
    placed: dict[str, str | None],
    complete: bool,
    analysed: int,
    resumed: int,
    wall_s: float,
) -> dict[str, Any]:
    results = []
    for rec in records:
        quality, why = thresholds.judge(rec)
        best = rec.get("best") or {}
        entry = {
            "video": rec["name"],
            "path": rec["path"],
            "quality": quality,
            "reason": why,
            "confidence": best.get("confidence"),
            "offset": best.get("offset_frames"),
            "min_dist": best.get("min_dist"),
            "tracks": len((rec.get("lipsync") or {}).get("tracks", [])),
            "processing_time_s": rec.get("processing_time_s"),
            "destination": placed.get(rec["name"], rec.get("moved_to")),
            "resumed": bool(rec.get("resumed")),
            "sha256": (rec.get("file") or {}).get("sha256"),
        }
        if rec.get("error"):
            entry["error"] = rec["error"]
        results.append(entry)
    qualities = [r["quality"] for r in results]
    return {
        "filter_settings": {
            "preset": thresholds.preset,
            "min_confidence": thresholds.min_confidence,
            "max_abs_offset": thresholds.max_abs_offset,
            **{k: v for k, v in setup.settings.options().items() if k not in ("batch_size", "device")},
            "weights": setup.weights_info,
            "mode": mode,
            "executor": executor,
            "max_workers": max_workers,
        },
        "input_dir": os.fspath(input_dir),
        "output_dir": os.fspath(output_dir),
        "complete": complete,
        "total_videos": len(results),
        "good_quality": qualities.count(GOOD),
        "poor_quality": qualities.count(POOR),
        "no_faces_detected": qualities.count(NO_FACES),
        "processing_failed": qualities.count(FAILED),
        "analysed": analysed,
        "resumed": resumed,
        "timings": {"wall_s": wall_s, "files_per_minute": round(60.0 * analysed / wall_s, 3) if analysed and wall_s > 0 else None},
        "results": results,
    }

