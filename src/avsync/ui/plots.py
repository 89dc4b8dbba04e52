"""Data for the page's plots, drawn by the browser from JSON (no images to render or send).

- Motion energy of every video on the reference timeline (each shifted by its offset), so
  aligned recordings show their movements at the same moments.
- For every file but the reference, the correlation curve behind its offset (GCC-PHAT for audio,
  normalised cross-correlation of motion energy for video), with the chosen offset marked.

Curves are reduced to at most ``MAX_POINTS`` points, keeping each bucket's extreme so peaks
survive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from avsync.errors import AvsyncError
from avsync.sync.result import SyncResult

log = logging.getLogger("avsync.ui")

MAX_POINTS = 1200
SAMPLE_RATE = 16000
ZOOM_S = {"audio": 0.05, "visual": 1.0}  # half-width of the close-up around the chosen offset


def reduce_curve(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[list[float], list[float]]:
    """At most ``max_points`` points of ``(x, y)``: in each bucket the point furthest from zero.

    >>> reduce_curve(np.arange(6.0), np.array([0, 5, 0, 0, -7, 0.0]), 2)
    ([1.0, 4.0], [5.0, -7.0])
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if y.size <= max_points:
        return _round(x), _round(y)
    edges = np.linspace(0, y.size, max_points + 1).astype(int)
    picks = np.array([lo + int(np.argmax(np.abs(y[lo:hi]))) for lo, hi in zip(edges[:-1], edges[1:]) if hi > lo])
    return _round(x[picks]), _round(y[picks])


def _round(a: np.ndarray) -> list[float]:
    return [round(float(v), 5) for v in a]


def plot_data(result: SyncResult, names: dict[str, str], report: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """``{"motion": [...], "correlation": [...]}`` for a finished sync; ``names`` maps each path to
    the name the page shows. Files that cannot be plotted are listed with a note instead."""
    report = report or (lambda done, total: None)
    ref = result.reference
    usable = [v for v in result.videos if v.status != "error"]
    total = len(usable) + max(0, len(usable) - 1)
    done = 0
    motion: list[dict[str, Any]] = []
    signals: dict[str, Any] = {}
    for v in usable:
        entry: dict[str, Any] = {"name": names[v.path], "offset_s": v.offset_s}
        if v.has_video is False:
            entry["note"] = "audio only"
        else:
            try:
                from avsync.media.video import motion_energy

                sig = motion_energy(v.path)
                signals[v.path] = sig
                times, energy = reduce_curve(sig.times_s, sig.energy)
                entry.update(times_s=times, energy=energy)
            except (AvsyncError, ValueError) as exc:
                entry["note"] = _short(exc, v.path)
        motion.append(entry)
        done += 1
        report(done, total)

    correlation: list[dict[str, Any]] = []
    audio: dict[str, Any] = {}
    for v in usable:
        if v.path == ref:
            continue
        # Each method only where both files have the stream it compares.
        methods = [m for m in _methods_for(result.method, v.method) if _has_stream(m, result[ref]) and _has_stream(m, v)]
        for m in methods:
            entry = {"name": names[v.path], "method": m, "offset_s": _offset_for(v, m, result.method)}
            try:
                if m == "audio":
                    lags, vals = _audio_curve(ref, v.path, result.max_offset_s, audio)
                else:
                    lags, vals = _visual_curve(ref, v.path, result.max_offset_s, signals)
                entry["lags_s"], entry["values"] = reduce_curve(lags, vals)
                entry["zoom"] = _zoom(lags, vals, entry["offset_s"], ZOOM_S[m])
            except (AvsyncError, ValueError) as exc:
                entry["note"] = _short(exc, v.path)
            correlation.append(entry)
        done += 1
        report(done, total)
    return {"reference": names[ref], "motion": motion, "correlation": correlation}


def _zoom(lags: np.ndarray, vals: np.ndarray, offset: float | None, half_width: float) -> dict[str, list[float]] | None:
    """The curve close to the chosen offset at full resolution: how sharp and how alone the peak is."""
    if offset is None:
        return None
    near = np.abs(lags - offset) <= half_width
    if near.sum() < 3:
        return None
    x, y = reduce_curve(lags[near], vals[near])
    return {"lags_s": x, "values": y}


def _has_stream(method: str, v) -> bool:
    return (v.has_audio if method == "audio" else v.has_video) is not False


def _methods_for(run_method: str, file_method: str) -> list[str]:
    if run_method == "both":
        return ["audio", "visual"]
    if run_method == "auto":
        return [file_method if file_method in ("audio", "visual") else "audio"]
    return [run_method]


def _offset_for(v, m: str, run_method: str) -> float | None:
    if run_method == "both":
        return v.audio_offset_s if m == "audio" else v.visual_offset_s
    return v.offset_s


def _audio_curve(ref: str, path: str, max_offset_s: float, cache: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """GCC-PHAT of the file against the reference, lags in the offset convention."""
    from avsync.media.audio import read_audio_with_start
    from avsync.phat import phat_correlation

    for p in (ref, path):
        if p not in cache:
            cache[p] = read_audio_with_start(p, SAMPLE_RATE)
    (ra, r_start), (va, v_start) = cache[ref], cache[path]
    # As in the estimator: correlating the reference against the file gives the offset directly.
    lags, vals = phat_correlation(va, ra, SAMPLE_RATE, max_offset_s or None)
    return lags + (r_start - v_start), vals


def _visual_curve(ref: str, path: str, max_offset_s: float, signals: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    from avsync.sync.visual import estimate_visual_offset

    if ref not in signals or path not in signals:
        raise ValueError("no motion signal")
    est = estimate_visual_offset(signals[ref], signals[path], max_offset_s or None, drift=False, keep_curve=True)
    if est.curve is None:
        raise ValueError(est.note or "no correlation")
    lags, vals = est.curve
    keep = vals > -1.0  # lags with too little overlap carry no value
    return lags[keep], vals[keep]


def _short(exc: BaseException, path: str) -> str:
    return " ".join(str(exc).replace(f"'{path}'", "").split()).strip(" :") or type(exc).__name__
