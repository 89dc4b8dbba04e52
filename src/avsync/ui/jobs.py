"""Requests of the web page: one isolated working folder each, the background sync, its log.

A *job* is one visitor's request: the files they upload (``uploads/``), the synced copies and the
ZIP (``outputs/``), the plot data and its log, all in one folder named by an unguessable id under
the server's work folder. The folder is removed when the visitor finishes (``remove``), when the
job has not been touched for ``keep_s`` seconds (``sweep``), and when the server stops.

Syncs run in background threads, one at a time (the machine's cores are better spent on one sync
than shared by several); the others wait in the queue with state ``queued``.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from avsync.ui.files import UploadError, check_media, human_size, inside, safe_name, stream_to_file, unique_name

log = logging.getLogger("avsync.ui")

JOB_ID_CHARS = 24  # hex: 96 random bits
EMPTY_JOBS_PER_JOB = 4
METHODS = ("audio", "visual", "auto", "both")
BUSY = ("queued", "syncing", "plots", "writing")
_LOG_FORMAT = "%(asctime)s %(request_id)s %(levelname)s %(name)s: %(message)s"


@dataclass
class Limits:
    """What one server accepts. Sizes in bytes."""

    max_file_bytes: int = 4 << 30
    max_job_bytes: int = 16 << 30
    max_files: int = 8
    max_jobs: int = 8  # requests with files on disk at once (empty ones, up to 4x as many, cost nothing)
    keep_s: float = 3600.0  # a job untouched this long is removed
    min_free_bytes: int = 512 << 20  # disk space left free after an upload

    def to_dict(self) -> dict[str, Any]:
        return {"max_file_bytes": self.max_file_bytes, "max_job_bytes": self.max_job_bytes, "max_files": self.max_files,
                "keep_s": self.keep_s}


def confidence_band(confidence: float | None) -> str:
    """The page's words for a confidence: excellent (≥ 0.8), good (≥ 0.5), fair (≥ 0.2), poor.

    >>> [confidence_band(c) for c in (0.95, 0.8, 0.5, 0.2, 0.19, None)]
    ['excellent', 'excellent', 'good', 'fair', 'poor', 'poor']
    """
    c = confidence or 0.0
    return "excellent" if c >= 0.8 else "good" if c >= 0.5 else "fair" if c >= 0.2 else "poor"


@dataclass
class Upload:
    name: str  # the safe name, as stored and shown
    original: str  # as the browser sent it
    size: int
    info: dict[str, Any]  # empty while the file is still arriving

    @property
    def ready(self) -> bool:
        return bool(self.info)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "original": self.original, "size": self.size, **self.info}


@dataclass
class Job:
    id: str
    folder: Path
    uploads: dict[str, Upload] = field(default_factory=dict)
    state: str = "open"  # open -> queued -> syncing -> plots -> writing -> done | failed
    stage: str = ""
    done: int = 0
    total: int = 0
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    outputs: list[str] = field(default_factory=list)  # synced file names, when written
    zip_name: str | None = None
    output_error: str | None = None
    plots: dict[str, Any] | None = None
    runs: int = 0
    touched: float = field(default_factory=time.monotonic)
    receiving: int = 0  # uploads in flight
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    handler: logging.Handler | None = field(default=None, repr=False)
    removed: bool = False

    @property
    def upload_dir(self) -> Path:
        return self.folder / "uploads"

    @property
    def output_dir(self) -> Path:
        return self.folder / "outputs"

    @property
    def log_path(self) -> Path:
        return self.folder / "request.log"

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    def touch(self) -> None:
        self.touched = time.monotonic()

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            progress = {"stage": self.stage, "done": self.done, "total": self.total}
            if self.state == "writing" and self.total:
                # apply_offsets writes the files one after the other, each renamed when complete.
                progress["done"] = sum(1 for p in self.output_dir.glob("*_synced*") if not p.name.startswith("."))
            return {
                "id": self.id,
                "state": self.state,
                "run": self.runs,
                "progress": progress,
                "error": self.error,
                "files": [u.to_dict() for u in self.uploads.values() if u.ready],
                "settings": self.settings,
                "result": self.result,
                "outputs": list(self.outputs),
                "zip": self.zip_name,
                "output_error": self.output_error,
                "plots_ready": self.plots is not None,
            }


class _JobLogFilter(logging.Filter):
    """Lets a record into one job's log: records tagged with its id, and untagged ones logged
    while its sync runs (syncs run one at a time, so those are its own)."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        super().__init__()
        self.store, self.job_id = store, job_id

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None)
        if rid is None and self.store.running_id == self.job_id:
            record.request_id = rid = self.job_id
        return rid == self.job_id


class JobStore:
    """The jobs of one server, their folders under ``root`` and the sync queue."""

    def __init__(self, root: str | Path, limits: Limits | None = None, log_file: str | Path | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.limits = limits or Limits()
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.run_lock = threading.Lock()  # one sync at a time
        self.running_id: str | None = None
        self.threads: list[threading.Thread] = []
        self._shared_handler = _shared_log(log_file, self) if log_file else None
        logger = logging.getLogger("avsync")
        self._previous_level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:  # the request logs want INFO lines
            logger.setLevel(logging.INFO)

    # --- jobs -----------------------------------------------------------------------------
    def create(self) -> Job:
        with self.lock:
            self._sweep_locked()
            if len(self.jobs) >= EMPTY_JOBS_PER_JOB * self.limits.max_jobs:
                raise UploadError(f"the server is busy with {len(self.jobs)} open requests; try again later "
                                  "or finish an open one", 503)
            job_id = secrets.token_hex(JOB_ID_CHARS // 2)
            folder = self.root / job_id
            folder.mkdir(mode=0o700)
            job = Job(id=job_id, folder=folder)
            job.upload_dir.mkdir()
            job.handler = self._attach_log(job)
            self.jobs[job_id] = job
        log.info("new request", extra={"request_id": job_id})
        return job

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is not None:
            job.touch()
        return job

    def remove(self, job_id: str) -> bool:
        """Deletes the job's folder now, or as soon as its sync finishes."""
        with self.lock:
            job = self.jobs.pop(job_id, None)
        if job is None:
            return False
        with job.lock:
            job.removed = True
            running = job.busy
        if not running:
            self._delete(job)
        return True

    def sweep(self, now: float | None = None) -> list[str]:
        """Removes jobs nobody touched for ``keep_s`` (running ones are left to finish)."""
        with self.lock:
            return self._sweep_locked(now)

    def _sweep_locked(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        stale = [j for j in self.jobs.values() if now - j.touched > self.limits.keep_s and not j.busy and not j.receiving]
        for job in stale:
            del self.jobs[job.id]
            log.info("request expired after %.0f s unused; removing its files", self.limits.keep_s, extra={"request_id": job.id})
            self._delete(job)
        return [j.id for j in stale]

    def close(self) -> None:
        """Removes every job's folder (server shutdown); waits for running syncs first."""
        for t in list(self.threads):
            t.join(timeout=60)
        with self.lock:
            jobs = list(self.jobs.values())
            self.jobs.clear()
        for job in jobs:
            self._delete(job)
        if self._shared_handler is not None:
            logging.getLogger("avsync").removeHandler(self._shared_handler)
            self._shared_handler.close()
        logging.getLogger("avsync").setLevel(self._previous_level)

    def _delete(self, job: Job) -> None:
        if job.handler is not None:
            logging.getLogger("avsync").removeHandler(job.handler)
            job.handler.close()
            job.handler = None
        shutil.rmtree(job.folder, ignore_errors=True)

    def _attach_log(self, job: Job) -> logging.Handler:
        handler = logging.FileHandler(job.log_path, encoding="utf-8", delay=True)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        handler.addFilter(_JobLogFilter(self, job.id))
        handler.setLevel(logging.INFO)
        logging.getLogger("avsync").addHandler(handler)
        return handler

    # --- uploads --------------------------------------------------------------------------
    def add_upload(self, job: Job, original: str, stream: IO[bytes], length: int | None) -> Upload:
        lim = self.limits
        if length is None:
            raise UploadError("the upload must say its size (Content-Length)", 411)
        if not job.uploads:
            with self.lock:
                holding = sum(1 for j in self.jobs.values() if j.uploads and j is not job)
            if holding >= lim.max_jobs:
                raise UploadError(f"the server is busy with the files of {holding} other requests; try again later", 503)
        with job.lock:
            if job.busy:
                raise UploadError("a sync is running for these files; wait for it to finish before adding files", 409)
            if len(job.uploads) >= lim.max_files:  # arriving files count: their names are reserved
                raise UploadError(f"at most {lim.max_files} files per request", 413)
            used = sum(u.size for u in job.uploads.values())
            if used + length > lim.max_job_bytes:
                raise UploadError(f"'{original}': the files of one request may not exceed {human_size(lim.max_job_bytes)} together", 413)
            if shutil.disk_usage(self.root).free - length < lim.min_free_bytes:
                raise UploadError(f"'{original}': not enough free disk space on the server for {human_size(length)}", 507)
            name = unique_name(safe_name(original), job.uploads)
            job.uploads[name] = Upload(name, original, length, {})  # reserves the name and the space while it arrives
            job.receiving += 1
        path = inside(job.upload_dir, name)
        try:
            size = stream_to_file(stream, path, length, lim.max_file_bytes)
            info = check_media(path, original)
        except BaseException as exc:
            with job.lock:
                job.uploads.pop(name, None)
                job.receiving -= 1
            path.unlink(missing_ok=True)
            log.info("upload '%s' refused: %s", original, exc, extra={"request_id": job.id})
            raise
        upload = Upload(name, original, size, info)
        with job.lock:
            job.uploads[name] = upload
            job.receiving -= 1
            job.touch()
        log.info("received '%s' as %s (%s, %.2f s%s%s)", original, name, human_size(size), info["duration_s"],
                 ", video" if info["has_video"] else "", ", audio" if info["has_audio"] else "", extra={"request_id": job.id})
        return upload

    def remove_upload(self, job: Job, name: str) -> None:
        with job.lock:
            if job.busy:
                raise UploadError("a sync is running for these files; wait for it to finish", 409)
            upload = job.uploads.get(name)
            if upload is None or not upload.ready:
                raise UploadError(f"'{name}': no such file in this request", 404)
            del job.uploads[name]
        inside(job.upload_dir, name).unlink(missing_ok=True)
        log.info("removed %s", name, extra={"request_id": job.id})

    # --- sync -----------------------------------------------------------------------------
    def start_sync(self, job: Job, settings: dict[str, Any]) -> None:
        """Validates the choices and queues the job's sync in a background thread."""
        clean = validate_settings(settings, job)
        with job.lock:
            if job.busy:
                raise UploadError("a sync is already running for these files", 409)
            if job.receiving:
                raise UploadError("files are still uploading; wait for them to finish", 409)
            job.state, job.stage, job.done, job.total = "queued", "starting", 0, 0
            job.settings, job.error, job.result, job.plots = clean, None, None, None
            job.outputs, job.zip_name, job.output_error = [], None, None
            job.runs += 1
        thread = threading.Thread(target=self._run, args=(job,), name=f"avsync-ui-{job.id[:8]}", daemon=True)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, job: Job) -> None:
        from avsync.ui.pipeline import run_job

        if not self.run_lock.acquire(blocking=False):
            with job.lock:
                job.stage = "waiting for another sync to finish"
            self.run_lock.acquire()
        try:
            self.running_id = job.id
            try:
                run_job(job)
            except Exception as exc:  # noqa: BLE001 - the page shows it; the server lives on
                log.exception("request failed")
                with job.lock:
                    # The visitor knows their files by name, not by where the server keeps them.
                    job.state, job.error = "failed", _one_line(exc).replace(f"{job.upload_dir}/", "")
            finally:
                self.running_id = None
                with job.lock:
                    job.touch()
                    removed = job.removed
                if removed:
                    self._delete(job)
        finally:
            self.run_lock.release()


def validate_settings(settings: dict[str, Any], job: Job) -> dict[str, Any]:
    """The sync choices from the page, checked, with one clear message for the first problem."""
    if not isinstance(settings, dict):
        raise UploadError("expected the sync settings as a JSON object")
    names = [n for n, u in job.uploads.items() if u.ready]
    if len(names) < 2:
        have = "no file" if not names else f"only '{names[0]}'"
        raise UploadError(f"upload at least two recordings to sync ({have} so far): "
                          "offsets are measured between files")
    method = settings.get("method", "audio")
    if method not in METHODS:
        raise UploadError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    reference = settings.get("reference") or names[0]
    if reference not in names:
        raise UploadError(f"reference {reference!r} is not one of the uploaded files")
    try:
        max_offset = float(settings.get("max_offset_s", 20.0))
        min_conf = float(settings.get("min_confidence", 0.2))
    except (TypeError, ValueError):
        raise UploadError("maximum offset and minimum confidence must be numbers") from None
    if not 0 <= max_offset <= 24 * 3600 or max_offset != max_offset:
        raise UploadError("maximum offset must be between 0 (search the whole overlap) and 86400 seconds")
    if not 0 <= min_conf <= 1:
        raise UploadError("minimum confidence must be between 0 and 1")
    if method == "visual":
        no_video = [n for n in names if not job.uploads[n].info.get("has_video")]
        if reference in no_video:
            raise UploadError(f"the visual method needs video, and the reference '{reference}' is audio only; "
                              "choose another reference or the audio method")
    return {"method": method, "reference": reference, "max_offset_s": max_offset, "min_confidence": min_conf}


def _shared_log(path: str | Path, store: JobStore) -> logging.Handler:
    """Every job's lines in one shared log file too, tagged with their request id."""

    class _Tag(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if getattr(record, "request_id", None) is None:
                record.request_id = store.running_id or "-"
            return True

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.addFilter(_Tag())
    handler.setLevel(logging.INFO)
    logging.getLogger("avsync").addHandler(handler)
    return handler


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())
