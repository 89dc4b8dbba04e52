"""Lip sync over many files: workers that keep SyncNet loaded, resumable runs, the batch summary.

:func:`analyse_videos` is the engine under ``avsync batch``, ``avsync filter`` and ``avsync
long-video``: every file is hashed, files already analysed with the same settings and weights
(found in the journal) are reused, the others go to the executor, and each result is appended
to the journal as soon as it arrives.

>>> from avsync.curate.batch import batch_lipsync
>>> summary = batch_lipsync("chunks", "out", weights="syncnet_v2.model", max_workers=2)   # doctest: +SKIP
>>> summary["counts"]                                                                      # doctest: +SKIP
{'total': 12, 'ok': 11, 'no_faces': 1, 'failed': 0, 'analysed': 12, 'resumed': 0}
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avsync.curate.journal import ContentHashes, Journal, record_key, settings_key

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")
STATUS_ERROR = "error"


@dataclass(frozen=True)
class LipSyncSettings:
    """The lip-sync options a batch runs with (see :class:`avsync.lipsync.pipeline.LipSyncOptions`).
    All but ``batch_size`` and ``device`` change results, so they are part of the resume key."""

    detector: str = "centerface"
    s3fd_weights: str | None = None
    min_track: int = 50
    min_face_size: float = 50.0
    facedet_scale: float | None = None
    crop_scale: float = 0.4
    vshift: int = 15
    cropped: bool = False
    batch_size: int = 20
    device: str = "cpu"

    def options(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def identity(self) -> dict[str, Any]:
        d = self.options()
        for name in ("batch_size", "device"):
            d.pop(name)
        if self.s3fd_weights:
            from avsync.lipsync.model import git_blob_id

            d["s3fd_weights"] = git_blob_id(self.s3fd_weights)
        return d


def weights_identity(weights: Any) -> dict[str, Any]:
    """Where the SyncNet weights come from: a file (path, git blob id, official or not), or a
    network object (its class and a hash of its parameters)."""
    if isinstance(weights, (str, os.PathLike)):
        from avsync.lipsync.model import OFFICIAL_SYNCNET_BLOB, git_blob_id

        if not Path(weights).is_file():
            raise FileNotFoundError(f"'{weights}': SyncNet weights not found (the official file is syncnet_v2.model; avsync downloads nothing)")
        blob = git_blob_id(weights)
        return {"path": os.fspath(weights), "git_blob_id": blob, "official": blob == OFFICIAL_SYNCNET_BLOB}
    import hashlib

    digest = hashlib.sha256(type(weights).__qualname__.encode())
    for name, tensor in sorted(weights.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return {"path": None, "network": type(weights).__qualname__, "sha256": digest.hexdigest(), "official": False}


@dataclass
class VideoTask:
    """One file for a worker. ``data_dir`` + ``reference``: the worker also writes the SyncNet
    layout there, with ``draw_video`` the annotated ``pyavi/REF/video_out.avi`` (workers must
    then see the same filesystem as the driver)."""

    path: str
    name: str
    key: str
    data_dir: str | None = None
    reference: str | None = None
    draw_video: bool = False


@dataclass
class LipSyncSetup:
    """The worker setup for lip sync (see :mod:`avsync.curate.executors`): each worker loads the
    weights once and measures one :class:`VideoTask` after another."""

    weights: Any  # a path, or a SyncNet-like torch module
    settings: LipSyncSettings = field(default_factory=LipSyncSettings)
    threads: int = 1
    weights_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.weights_info:
            self.weights_info = weights_identity(self.weights)
        if self.threads < 1:
            raise ValueError(f"threads per worker must be at least 1, got {self.threads}")

    @property
    def settings_hash(self) -> str:
        """What a result depends on: the settings and the weights' content."""
        ident = {k: v for k, v in self.weights_info.items() if k != "path"}
        return settings_key({"lipsync": self.settings.identity(), "weights": ident})

    @property
    def key(self) -> str:
        return f"{self.settings_hash}-{self.threads}"

    def make(self) -> Callable[[VideoTask], dict]:
        from avsync.lipsync import LipSync

        runner = LipSync(self.weights, **self.settings.options(), progress=False)
        return lambda task: measure(runner, task)


def measure(runner, task: VideoTask) -> dict[str, Any]:  # noqa: ANN001 - a LipSync
    """Lip sync of one file as an outcome dict: ``status`` (``ok``, ``no_faces`` or ``error``),
    ``lipsync`` (the result JSON without the weights), ``best`` (the most confident track),
    ``error``, ``processing_time_s``."""
    from avsync.cli import one_line

    started = time.perf_counter()
    try:
        result = runner.run(task.path, data_dir=task.data_dir, reference=task.reference, draw_video=task.draw_video)
    except Exception as exc:  # noqa: BLE001 - recorded per file
        return {"status": STATUS_ERROR, "error": one_line(exc), "processing_time_s": round(time.perf_counter() - started, 3)}
    d = result.to_dict()
    d.pop("weights", None)
    best = result.best
    return {
        "status": result.status,
        "lipsync": d,
        "best": None if best is None else best.to_dict(),
        "offsets_txt": result.offsets_txt(),
        "processing_time_s": round(time.perf_counter() - started, 3),
    }


# ---------------------------------------------------------------------------------------------
# the engine


@dataclass
class VideoInput:
    """A file to analyse: ``path`` (as given), ``name`` (how results and outputs call it)."""

    path: str
    name: str
    reference: str | None = None  # its name in a SyncNet layout written by the worker


@dataclass
class AnalysisRun:
    records: list[dict[str, Any]]  # one per input, in input order
    analysed: int
    resumed: int
    wall_s: float
    interrupted: bool = False


def find_videos(folder: str | os.PathLike[str], *, exclude: Sequence[str | os.PathLike[str]] = ()) -> list[VideoInput]:
    """Video files under ``folder`` (recursively, sorted, hidden files skipped), named by their
    path relative to ``folder``; folders in ``exclude`` (e.g. an output folder inside the input
    folder) are left out."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"'{folder}': no such folder")
    skip = [Path(e).resolve() for e in exclude]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skip)
        for f in sorted(filenames):
            if not f.startswith(".") and f.lower().endswith(VIDEO_EXTENSIONS):
                found.append(VideoInput(os.fspath(here / f), (here / f).relative_to(root).as_posix()))
    return found


def layout_names(videos: Sequence[VideoInput]) -> dict[str, str]:
    """A plain name per video for the SyncNet layout: its stem, made unique with the extension
    and the folder when two files share it."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    stems = [Path(v.name).stem for v in videos]
    for v, stem in zip(videos, stems):
        ref = stem if stems.count(stem) == 1 else Path(v.name).as_posix().replace("/", "__").replace(".", "_")
        while ref in taken:
            ref += "_"
        taken.add(ref)
        names[v.name] = ref
    return names


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C (SIGINT) during the block is raised when the block ends, not in the middle of it.
    Only the main thread can set signal handlers; elsewhere the block runs unguarded."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def analyse_videos(
    videos: Sequence[VideoInput],
    setup: LipSyncSetup,
    journal: Journal,
    *,
    executor: str = "local",
    max_workers: int = 2,
    ray_address: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    draw_video: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    desc: str = "lip sync",
) -> AnalysisRun:
    """Lip sync of every video, reusing the journal's results for files already analysed with
    the same settings and weights (failed files are tried again). ``on_record`` is called with
    each record as it is settled (reused ones first). On Ctrl-C the work in flight is stopped and
    the run returns with ``interrupted=True``: every finished file is in the journal."""
    from avsync.cli import one_line
    from avsync.curate.executors import run_tasks
    from avsync.progress import progress_bar

    started = time.perf_counter()
    known = journal.load()
    hashes = ContentHashes(known)
    settings_hash = setup.settings_hash
    by_name: dict[str, dict[str, Any]] = {}
    counts = {"analysed": 0, "resumed": 0}

    with progress_bar(total=len(videos), enabled=progress, unit="file", desc=desc) as bar:

        def settle(record: dict[str, Any], *, new: bool) -> None:
            with interrupts_deferred():  # a journal line and its bookkeeping go together
                if new:
                    journal.append(record)
                by_name[record["name"]] = record
                counts["resumed" if record.get("resumed") else "analysed"] += 1
                if on_record is not None:
                    on_record(record)
            bar.update(1)

        idents: dict[str, dict[str, Any]] = {}

        def tasks() -> Iterator[VideoTask]:
            for v in videos:
                base = {"name": v.name, "path": v.path, "settings_hash": settings_hash}
                try:
                    ident = hashes.identify(v.path)
                except OSError as exc:
                    settle({**base, "key": f"unreadable:{v.path}", "status": STATUS_ERROR, "error": f"'{v.path}': {one_line(exc)}", "resumed": False}, new=False)
                    continue
                key = record_key(ident["sha256"], settings_hash)
                old = known.get(key)
                if old is not None and old.get("status") != STATUS_ERROR:
                    settle({**old, **base, "file": ident, "resumed": True}, new=False)
                    continue
                idents[v.name] = ident
                ref = v.reference if data_dir is not None and draw_video else None
                yield VideoTask(v.path, v.name, key, os.fspath(data_dir) if ref else None, ref, draw_video and ref is not None)

        interrupted = False
        try:
            for task, outcome in run_tasks(setup, tasks(), executor=executor, max_workers=max_workers, ray_address=ray_address):
                ident = idents.pop(task.name)
                settle({"key": task.key, "name": task.name, "path": task.path, "settings_hash": settings_hash, "file": ident, **outcome, "resumed": False}, new=True)
        except KeyboardInterrupt:
            interrupted = True
    records = [by_name[v.name] for v in videos if v.name in by_name]
    return AnalysisRun(records, counts["analysed"], counts["resumed"], round(time.perf_counter() - started, 3), interrupted)


# ---------------------------------------------------------------------------------------------
# avsync batch


def batch_lipsync(
    chunks_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    weights: Any,
    settings: LipSyncSettings | None = None,
    max_workers: int = 2,
    executor: str = "local",
    ray_address: str | None = None,
    threads_per_worker: int = 1,
    video_out: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Lip sync of every video in ``chunks_dir``. Writes to ``output_dir``: ``batch_results.jsonl``
    (one record per file as it finishes: a re-run skips files done), ``syncnet_data/pywork/NAME/``
    (``offsets.txt``, ``result.json``; ``video_out`` adds ``pyavi/NAME/video_out.avi``) and
    ``batch_processing_summary.json`` (counts, per-file results, timings, failures with
    reasons), which it also returns. Raises KeyboardInterrupt after writing the summary of the
    files finished when interrupted."""
    out = Path(output_dir)
    videos = find_videos(chunks_dir, exclude=[out])
    names = layout_names(videos)
    for v in videos:
        v.reference = names[v.name]
    setup = LipSyncSetup(weights, settings or LipSyncSettings(), threads=threads_per_worker)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "syncnet_data"

    def write_layout(record: dict[str, Any]) -> None:
        if record.get("status") in ("ok", "no_faces") and not record.get("resumed"):
            write_layout_files(data_dir, names[record["name"]], record)

    run = analyse_videos(
        videos, setup, Journal(out / "batch_results.jsonl"), executor=executor, max_workers=max_workers, ray_address=ray_address,
        data_dir=data_dir, draw_video=video_out, on_record=write_layout, progress=progress, desc="batch",
    )  # fmt: skip
    summary = batch_summary(run, chunks_dir=chunks_dir, output_dir=out, setup=setup, executor=executor, max_workers=max_workers)
    from avsync.media.ffmpeg import write_text_atomic

    write_text_atomic(out / "batch_processing_summary.json", json.dumps(summary, indent=2) + "\n")
    if run.interrupted:
        raise KeyboardInterrupt
    return summary


def write_layout_files(data_dir: Path, reference: str, record: dict[str, Any]) -> None:
    from avsync.media.ffmpeg import write_text_atomic

    work = data_dir / "pywork" / reference
    write_text_atomic(work / "offsets.txt", record.get("offsets_txt") or "")
    write_text_atomic(work / "result.json", json.dumps(record.get("lipsync") or {}, indent=2) + "\n")


def file_result(record: dict[str, Any]) -> dict[str, Any]:
    """One file's entry in a summary: status, the best track's numbers, every track, timing."""
    best = record.get("best") or {}
    lip = record.get("lipsync") or {}
    entry = {
        "name": record["name"],
        "path": record["path"],
        "status": record.get("status"),
        "offset_frames": best.get("offset_frames"),
        "confidence": best.get("confidence"),
        "min_dist": best.get("min_dist"),
        "tracks": lip.get("tracks", []),
        "frames": lip.get("frames"),
        "processing_time_s": record.get("processing_time_s"),
        "resumed": bool(record.get("resumed")),
        "sha256": (record.get("file") or {}).get("sha256"),
    }
    if record.get("error"):
        entry["error"] = record["error"]
    return entry


def batch_summary(run: AnalysisRun, *, chunks_dir, output_dir, setup: LipSyncSetup, executor: str, max_workers: int) -> dict[str, Any]:  # noqa: ANN001
    results = [file_result(r) for r in run.records]
    analysed_time = sum(r.get("processing_time_s") or 0.0 for r in run.records if not r.get("resumed"))
    status = [r["status"] for r in results]
    return {
        "chunks_dir": os.fspath(chunks_dir),
        "output_dir": os.fspath(output_dir),
        "complete": not run.interrupted,
        "settings": {**setup.settings.options(), "weights": setup.weights_info},
        "executor": executor,
        "max_workers": max_workers,
        "counts": {
            "total": len(results),
            "ok": status.count("ok"),
            "no_faces": status.count("no_faces"),
            "failed": status.count(STATUS_ERROR),
            "analysed": run.analysed,
            "resumed": run.resumed,
        },
        "timings": {
            "wall_s": run.wall_s,
            "analysis_s": round(analysed_time, 3),
            "mean_file_s": round(analysed_time / run.analysed, 3) if run.analysed else None,
            "files_per_minute": round(60.0 * run.analysed / run.wall_s, 3) if run.analysed and run.wall_s > 0 else None,
        },
        "results": results,
        "failures": [{"name": r["name"], "path": r["path"], "error": r.get("error")} for r in results if r["status"] == STATUS_ERROR],
    }
