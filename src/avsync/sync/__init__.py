"""Multi-camera sync: the offset of every file against a reference, by audio or by motion.

>>> import avsync
>>> result = avsync.sync(["cam1.mp4", "cam2.mp4", "recorder.wav"])     # doctest: +SKIP
>>> for v in result.videos:                                               # doctest: +SKIP
...     print(v.path, v.offset_s, v.confidence, v.drift_ppm, v.status)

``avsync.sync`` is both this package and its main function (``avsync.sync(...)`` calls
:func:`sync`). Sign conventions and JSON fields: :mod:`avsync.sync.result`.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations

from avsync._callable import make_module_callable
from avsync.progress import progress_bar
from avsync.sync.audio import estimate_audio_offset
from avsync.sync.estimate import NO_MATCH_CONFIDENCE, PairEstimate
from avsync.sync.result import PairMeasurement, SyncResult, VideoSync
from avsync.sync.solve import Edge, solve
from avsync.sync.sources import Source, open_sources
from avsync.sync.visual import estimate_visual_offset

log = logging.getLogger("avsync.sync")

ProgressCallback = Callable[[str, int, int], None]

METHODS = ("audio", "visual", "auto", "both")
ALL_PAIRS_UP_TO = 8  # with more files, only the pairs needed to place each one are estimated
AUDIO_TOLERANCE_S = 0.005
VISUAL_TOLERANCE_FRAMES = 2.0


def sync(
    paths: Sequence[str | os.PathLike[str]],
    method: str = "audio",
    reference: str | os.PathLike[str] | None = None,
    max_offset_s: float = 20.0,
    min_confidence: float = 0.2,
    *,
    sample_rate: int = 16000,
    estimate_drift: bool = True,
    progress: bool = False,
    debug_dir: str | os.PathLike[str] | None = None,
    request_id: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncResult:
    """Finds every file's offset against the reference.

    ``method``: ``audio`` (GCC-PHAT at ``sample_rate``), ``visual`` (motion energy), ``auto``
    (audio where both files of a pair have usable audio, motion otherwise) or ``both`` (each,
    reported side by side with their disagreement ``audio_video_diff``). ``reference``: the
    first path unless given. ``max_offset_s``: the search range (0 searches the whole overlap).
    Files that cannot be read, lack the stream the method needs, or repeat another file get
    status ``error`` while the rest still sync; a pair below ``min_confidence`` is
    ``low_confidence`` (below 0.2: ``no_match``, with ``offset_s`` null).

    ``progress=True`` shows progress bars on an interactive stderr; ``on_progress(stage, done,
    total)`` is called as work advances (stages ``decoding``, ``audio pairs``, ``visual pairs``,
    ``auto pairs``, ``done``), for user interfaces.
    """
    files: list[str] = [os.fspath(p) for p in paths]
    if len(files) < 2:
        raise ValueError("sync needs at least two files")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if max_offset_s is None or max_offset_s < 0:
        raise ValueError(f"max_offset_s must be >= 0 (0: the whole overlap), got {max_offset_s!r}")
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence must be within [0, 1], got {min_confidence}")
    ref_index = _reference_index(files, reference)
    request_id = request_id or uuid.uuid4().hex[:12]
    log.info("sync request %s: %d files, method %s, reference %s, max offset %s s", request_id, len(files), method, files[ref_index], max_offset_s)

    report = on_progress or (lambda stage, done, total: None)
    sources = open_sources(files)
    _load_signals(sources, method, sample_rate, progress, report)
    methods = ("audio", "visual") if method == "both" else (method,)
    measurements: list[PairMeasurement] = []
    estimates: dict[int, PairEstimate] = {}
    solutions = {}
    for m in methods:
        edges = _measure_pairs(sources, ref_index, m, max_offset_s or None, estimate_drift, measurements, estimates, progress, report)
        solutions[m] = solve(len(sources), ref_index, edges)

    result = _assemble(sources, ref_index, method, max_offset_s, min_confidence, solutions, measurements)
    result.request_id = request_id
    for v in result.videos:
        log.info("sync %s: %s offset %s s, confidence %.3f, drift %.1f ppm, %s via %s%s", request_id, v.path,
                 "n/a" if v.offset_s is None else f"{v.offset_s:+.4f}", v.confidence, v.drift_ppm, v.status, v.method,
                 f" ({v.error})" if v.error else "")
    if debug_dir is not None:
        from avsync.sync.debug import write_debug

        write_debug(result, sources, estimates, measurements, debug_dir)
    report("done", 1, 1)
    return result


def _reference_index(paths: Sequence[str], reference: str | os.PathLike[str] | None) -> int:
    if reference is None:
        return 0
    ref = os.fspath(reference)
    if ref in paths:
        return paths.index(ref)
    real = os.path.realpath(ref)
    for i, p in enumerate(paths):
        if os.path.realpath(p) == real:
            return i
    raise ValueError(f"reference '{ref}' is not one of the files to sync")


def _uses_audio(method: str) -> bool:
    return method in ("audio", "auto", "both")


def _load_signals(sources: list[Source], method: str, sample_rate: int, progress: bool, report: ProgressCallback) -> None:
    """Decodes each file once: audio for the audio methods, motion where it is needed."""
    readable = [s for s in sources if s.error is None]
    report("decoding", 0, len(readable))
    with progress_bar(total=len(readable), desc="decoding", unit="file", enabled=progress) as bar:
        if _uses_audio(method):
            with_audio = [s for s in readable if s.has_audio]
            # Audio decoding is single-threaded inside FFmpeg: decode files side by side.
            workers = max(1, min(len(with_audio), os.cpu_count() or 1))
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(lambda s: s.load_audio(sample_rate), with_audio))
            for s in readable:
                if not s.has_audio:
                    s.audio_error = f"'{s.path}': no audio stream"
        for done, s in enumerate(readable, 1):
            needs_motion = method in ("visual", "both") or (method == "auto" and not s.usable_audio())
            if needs_motion and s.has_video:
                s.load_motion()  # frame-threaded already: one file at a time
            elif needs_motion:
                s.motion_error = f"'{s.path}': no video stream"
            bar.update(1)
            report("decoding", done, len(readable))
    if method == "auto":
        # A file with video whose audio is unusable is compared by motion; its partners need motion too.
        if any(s.motion is not None for s in readable):
            for s in readable:
                if s.has_video:
                    s.load_motion()


def _pair_method(a: Source, b: Source, method: str) -> str | None:
    if method == "audio":
        return "audio"
    if method == "visual":
        return "visual"
    # auto
    if a.usable_audio() and b.usable_audio():
        return "audio"
    if a.motion is not None and b.motion is not None:
        return "visual"
    return None


def _pairs_to_measure(sources: list[Source], ref: int) -> list[tuple[int, int]]:
    n = len(sources)
    ok = [k for k in range(n) if sources[k].error is None]
    star = [(ref, k) for k in ok if k != ref]
    if ref not in ok:
        return []
    if len(ok) <= ALL_PAIRS_UP_TO:
        return star + [(i, j) for i, j in combinations(ok, 2) if ref not in (i, j)]
    return star


def _measure_pairs(
    sources: list[Source],
    ref: int,
    method: str,
    max_offset_s: float | None,
    drift: bool,
    measurements: list[PairMeasurement],
    estimates: dict[int, PairEstimate],
    progress: bool,
    report: ProgressCallback,
) -> list[Edge]:
    pairs = _pairs_to_measure(sources, ref)
    edges: list[Edge] = []
    with progress_bar(total=len(pairs), desc=f"{method} pairs", unit="pair", enabled=progress) as bar:
        for done, (i, j) in enumerate(pairs, 1):
            a, b = sources[i], sources[j]
            pm = _pair_method(a, b, method)
            # Two files each within ±M of the reference can be up to 2M apart.
            bound = max_offset_s if (max_offset_s is None or ref in (i, j)) else 2 * max_offset_s
            est = _estimate(a, b, pm, bound, drift)
            bar.update(1)
            report(f"{method} pairs", done, len(pairs))
            key = len(measurements)
            status = "ok" if est.matched else "no_match"
            measurements.append(PairMeasurement(a=a.path, b=b.path, method=est.method, offset_s=est.offset_s, confidence=est.confidence,
                                                drift_ppm=est.drift_ppm, status=status, windows=int(est.window_inliers.sum()), note=est.note))
            estimates[key] = est
            if est.matched and est.offset_s is not None:
                tol = AUDIO_TOLERANCE_S if est.method == "audio" else VISUAL_TOLERANCE_FRAMES / _fps(a, b)
                edges.append(Edge(i, j, float(est.offset_s), est.confidence, est.drift_ppm, tol, key))
    return edges


def _fps(a: Source, b: Source) -> float:
    rates = [s.motion.fps for s in (a, b) if s.motion is not None and s.motion.fps > 0]
    return min(rates) if rates else 25.0


def _estimate(a: Source, b: Source, pm: str | None, max_offset_s: float | None, drift: bool) -> PairEstimate:
    if pm == "audio":
        if a.audio is None or b.audio is None or not a.usable_audio() or not b.usable_audio():
            return PairEstimate(method="audio", offset_s=None, confidence=0.0, note=b.audio_error or a.audio_error or "no usable audio")
        return estimate_audio_offset(a.audio, b.audio, max_offset_s, drift=drift)
    if pm == "visual":
        if a.motion is None or b.motion is None:
            return PairEstimate(method="visual", offset_s=None, confidence=0.0, note=b.motion_error or a.motion_error or "no video")
        return estimate_visual_offset(a.motion, b.motion, max_offset_s, drift=drift)
    return PairEstimate(method="auto", offset_s=None, confidence=0.0, note="neither usable audio nor video in both files")


def _file_error(src: Source, method: str) -> str | None:
    """Why a file cannot take part at all with this method."""
    if src.error:
        return src.error
    if method == "audio" and src.audio_error:
        return src.audio_error
    if method == "visual" and src.motion_error:
        return src.motion_error
    if method in ("auto", "both") and (src.audio is None or not src.usable_audio()) and src.motion is None:
        return src.audio_error or src.motion_error or f"'{src.path}': nothing usable to compare"
    return None


def _assemble(sources, ref, method, max_offset_s, min_confidence, solutions, measurements) -> SyncResult:
    videos: list[VideoSync] = []
    ref_error = _file_error(sources[ref], "audio" if method == "audio" else "visual" if method == "visual" else "auto")
    primary = "audio" if method in ("audio", "auto", "both") else "visual"
    for k, src in enumerate(sources):
        v = VideoSync(path=src.path, method=primary, duration_s=src.duration_s,
                      has_audio=src.has_audio if src.info else None, has_video=src.has_video if src.info else None)
        err = _file_error(src, method if method != "both" else "auto")
        if err is None and k != ref and ref_error is not None:
            err = f"reference '{sources[ref].path}' cannot be used: {ref_error}"
        if err is not None:
            v.status, v.error, v.offset_s, v.confidence = "error", err, None, 0.0
            videos.append(v)
            continue
        candidates = [("audio", solutions["audio"]), ("visual", solutions["visual"])] if method == "both" else [(method, solutions[method])]
        chosen = next(((m, sol) for m, sol in candidates if sol.offsets[k] is not None), None)
        if chosen and chosen[0] == "auto":
            chosen = (_edge_method(chosen[1], k, measurements) or "audio", chosen[1])
        if k == ref:
            v.offset_s, v.confidence, v.drift_ppm, v.status = 0.0, 1.0, 0.0, "ok"
            v.method = chosen[0] if chosen else primary
        elif chosen is None:
            v.status, v.offset_s, v.confidence = "no_match", None, _best_confidence(src.path, measurements)
            v.error = _best_note(src.path, measurements)
        else:
            m, sol = chosen
            v.method = m
            v.offset_s, v.drift_ppm, v.confidence = sol.offsets[k], sol.drift_ppm[k], sol.confidence[k]
            v.status = "ok" if v.confidence >= min_confidence else ("low_confidence" if v.confidence >= NO_MATCH_CONFIDENCE else "no_match")
        if method == "both":
            a, vis = solutions["audio"].offsets[k], solutions["visual"].offsets[k]
            v.audio_offset_s, v.visual_offset_s = a, vis
            if a is not None and vis is not None:
                v.audio_video_diff = a - vis
        videos.append(v)

    used_keys = set()
    bad = []
    for sol in solutions.values():
        used_keys |= {e.key for e in sol.used}
        for e, resid in sol.rejected:
            pm = measurements[e.key]
            pm.residual_s = resid
            pm.status = "inconsistent"
            bad.append(pm)
        for key, resid in sol.residuals.items():
            measurements[key].residual_s = resid
    for key, pm in enumerate(measurements):
        pm.used = key in used_keys
    return SyncResult(reference=sources[ref].path, method=method, max_offset_s=float(max_offset_s), videos=videos,
                      pairs=measurements, inconsistent_pairs=bad)


def _edge_method(sol, k, measurements) -> str | None:
    for e in sol.used:
        if k in (e.i, e.j):
            return measurements[e.key].method
    return None


def _best_confidence(path: str, measurements: list[PairMeasurement]) -> float:
    return max((p.confidence for p in measurements if path in (p.a, p.b)), default=0.0)


def _best_note(path: str, measurements: list[PairMeasurement]) -> str | None:
    notes = [p.note for p in measurements if path in (p.a, p.b) and p.note]
    return notes[0] if notes else "no overlapping content found within the search range"


make_module_callable(__name__, "sync")
