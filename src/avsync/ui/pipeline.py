"""What a job does in the background: sync, plot data, synced copies and their ZIP.

The result is published as soon as the sync finishes, so the page shows the table and the review
while the plots and the synced files are still being made.
"""

from __future__ import annotations

import json
import logging
import shutil
from typing import Any

from avsync.ui.jobs import Job, confidence_band

log = logging.getLogger("avsync.ui")

ZIP_NAME = "synced.zip"


def run_job(job: Job) -> None:
    import avsync
    from avsync.sync.apply import apply_offsets
    from avsync.ui.plots import plot_data

    with job.lock:
        settings = dict(job.settings)
        names = {str(job.upload_dir / n): n for n, u in job.uploads.items() if u.ready}
        job.state, job.stage = "syncing", "starting"
    by_name = {n: p for p, n in names.items()}
    paths = list(names)
    log.info("sync of %d files: method %s, reference %s, max offset %g s, min confidence %g", len(paths), settings["method"],
             settings["reference"], settings["max_offset_s"], settings["min_confidence"])

    def on_progress(stage: str, done: int, total: int) -> None:
        with job.lock:
            job.stage, job.done, job.total = stage, done, total

    result = avsync.sync(paths, method=settings["method"], reference=by_name[settings["reference"]],
                         max_offset_s=settings["max_offset_s"], min_confidence=settings["min_confidence"],
                         request_id=job.id, on_progress=on_progress)
    view = result_view(result.to_dict(), names, settings["min_confidence"])
    with job.lock:
        job.result = view
        job.state, job.stage, job.done, job.total = "plots", "plots", 0, 1
    _write_json(job, "result.json", view)

    def on_plot(done: int, total: int) -> None:
        with job.lock:
            job.done, job.total = done, total

    try:
        plots = plot_data(result, names, on_plot)
    except Exception as exc:  # noqa: BLE001 - plots are a bonus: the sync result stands without them
        log.warning("plots failed: %s", exc)
        plots = {"reference": settings["reference"], "motion": [], "correlation": [], "error": str(exc)}
    with job.lock:
        job.plots = plots

    synced = [v for v in result.videos if v.status == "ok" and v.offset_s is not None]
    with job.lock:
        job.state, job.stage, job.done, job.total = "writing", "writing synced files", 0, len(synced)
    if job.output_dir.exists():
        shutil.rmtree(job.output_dir)
    try:
        if len(synced) < 2:
            raise ValueError("no file besides the reference synced: there is nothing to download")
        written = apply_offsets(result, job.output_dir, job.output_dir / ZIP_NAME)
        with job.lock:
            job.outputs = [p.name for p in written[:-1]]
            job.zip_name = ZIP_NAME
    except Exception as exc:  # noqa: BLE001 - the page shows why; the sync result still stands
        message = _clean(str(exc), names)
        log.warning("writing synced files failed: %s", message)
        with job.lock:
            job.output_error = message
    with job.lock:
        job.state, job.stage = "done", "done"
        job.done = job.total
    log.info("request finished: %d synced files", len(job.outputs))


def result_view(d: dict[str, Any], names: dict[str, str], min_confidence: float) -> dict[str, Any]:
    """The result JSON with the names the visitor knows instead of server paths, and for each file
    its confidence band and, when it did not sync, why."""
    videos = []
    for v in d["videos"]:
        v = dict(v)
        v["path"] = names.get(v["path"], v["path"])
        v["band"] = confidence_band(v.get("confidence"))
        if v.get("error"):
            v["error"] = _clean(v["error"], names)
        v["reason"] = _reason(v, min_confidence)
        videos.append(v)
    view = {k: d[k] for k in ("method", "max_offset_s")}
    view["reference"] = names.get(d["reference"], d["reference"])
    view["videos"] = videos
    if "request_id" in d:
        view["request_id"] = d["request_id"]
    view["pairs"] = [{**p, "a": names.get(p["a"], p["a"]), "b": names.get(p["b"], p["b"]),
                      **({"note": _clean(p["note"], names)} if p.get("note") else {})} for p in d.get("pairs", [])]
    return view


def _reason(v: dict[str, Any], min_confidence: float) -> str:
    status = v["status"]
    if status == "ok":
        return ""
    if status == "low_confidence":
        return (f"confidence {v['confidence']:.2f} is below the minimum {min_confidence:g}: check it in the review "
                "before trusting the offset")
    if status == "no_match":
        return v.get("error") or "no overlapping content found within the search range"
    return v.get("error") or "could not be read"


def _clean(text: str, names: dict[str, str]) -> str:
    """Server paths in a message replaced by the file names the visitor uploaded."""
    for path, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(path, name)
    return text


def _write_json(job: Job, name: str, data: Any) -> None:
    from avsync.media.ffmpeg import write_text_atomic

    write_text_atomic(job.folder / name, json.dumps(data, indent=2) + "\n")
