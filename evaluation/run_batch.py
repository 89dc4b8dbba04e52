"""Step 2: both sync methods on every case of a metadata CSV -> ``results.csv``.

For each case (an original and its synthetic copy) and each method (``audio``, ``visual``),
``avsync.sync([original, copy], method=...)`` runs under a :class:`~evaluation.monitor.ResourceMonitor`
(peak CPU% and RSS of this process and its children, sampled every ``--interval`` seconds). Each
finished case appends its rows to ``results.csv`` at once (columns exactly as in INTERFACE.md), so
a crash loses nothing; running again skips the cases already there (``--force`` runs them again,
``--retry-failed`` only those without an estimate). Each case works in its own temporary
directory (links to its inputs, and the sync's log, which is kept as ``{video_id}.log`` in the
diagnostics folder); a failing case is logged, recorded with an empty estimate and the run goes
on. Per case, ``{video_id}.npz`` holds the motion signals before and after alignment
(:mod:`evaluation.diagnostics`), and ``cases.jsonl`` in the results folder the details that do
not fit the CSV (status, error, drift, the copy's raw ``offset_s``).

    python -m evaluation.run_batch --metadata evaluation/results/demo/cases/metadata.csv \\
        --results-dir evaluation/results/demo --diagnostics-dir evaluation/results/demo/diagnostics

``estimated_offset_ms`` follows ``true_offset_ms``'s convention: ``-1000 * offset_s`` of the copy.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evaluation.common import DEFAULT_RESULTS, METHODS, RESULT_COLUMNS, fmt_float, read_csv_rows, run_cli, write_csv_atomic

log = logging.getLogger("evaluation.run_batch")


def offset_s_to_ms(offset_s: float | None) -> float | None:
    """The copy's ``offset_s`` against the original -> ``estimated_offset_ms`` (true_offset_ms's sign)."""
    return None if offset_s is None else -1000.0 * float(offset_s)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.run_batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--metadata", type=Path, default=DEFAULT_RESULTS / "cases" / "metadata.csv", help="metadata CSV from offset_generation")
    p.add_argument("--originals", type=Path, help="folder of the originals (default: the one recorded in generation.json)")
    p.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS, help="where results.csv goes")
    p.add_argument("--diagnostics-dir", type=Path, help="per-case NPZ and logs (default: RESULTS_DIR/diagnostics)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated: audio,visual")
    p.add_argument("--interval", type=float, default=0.05, help="resource sampling interval in seconds")
    p.add_argument("--max-offset", type=float, default=20.0, help="search range of the sync in seconds")
    p.add_argument("--min-confidence", type=float, default=0.2)
    p.add_argument("--force", action="store_true", help="run every case again, replacing its rows")
    p.add_argument("--retry-failed", action="store_true", help="run again the cases recorded without an estimate")
    p.add_argument("--no-diagnostics", action="store_true", help="skip the NPZ files (saves decoding each video once more)")
    return p


def _originals_folder(args: argparse.Namespace) -> Path:
    if args.originals is not None:
        return args.originals
    settings = args.metadata.parent / "generation.json"
    if settings.exists():
        return Path(json.loads(settings.read_text(encoding="utf-8"))["originals"])
    raise ValueError(f"'{args.metadata}': no generation.json beside it; pass --originals DIR")


def _done_keys(results: Path, retry_failed: bool) -> set[tuple[str, str]]:
    if not results.exists():
        return set()
    rows = read_csv_rows(results)
    return {(r["video_id"], r["method_type"]) for r in rows if not (retry_failed and r["estimated_offset_ms"] == "")}


def _drop_rows(results: Path, drop: set[tuple[str, str]]) -> None:
    """Rewrites results.csv without the rows about to be run again (and without a torn last line)."""
    if not results.exists():
        return
    rows = [r for r in read_csv_rows(results) if (r["video_id"], r["method_type"]) not in drop]
    write_csv_atomic(results, RESULT_COLUMNS, rows)


def _append(path: Path, columns: Sequence[str], row: dict[str, Any]) -> None:
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)
        fh.flush()
        os.fsync(fh.fileno())


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _link(src: Path, folder: Path, name: str) -> Path:
    target = folder / f"{name}{src.suffix}"
    try:
        target.symlink_to(src.resolve())
    except OSError:  # no symlinks here: the real path does as well
        return src
    return target


def run_case(case: dict[str, str], original: Path, copy: Path, methods: Sequence[str], args: argparse.Namespace,
             work: Path) -> list[dict[str, Any]]:
    """Runs each method on one case inside ``work``; returns one record per method (never raises)."""
    import avsync

    from evaluation.monitor import ResourceMonitor

    records = []
    ref, vid = _link(original, work, "original"), _link(copy, work, "copy")
    for method in methods:
        rec: dict[str, Any] = {"video_id": case["video_id"], "method_type": method, "status": "error", "error": None,
                               "offset_s": None, "confidence": 0.0, "drift_ppm": 0.0}
        mon = ResourceMonitor(args.interval)
        t0 = time.perf_counter()
        try:
            with mon:
                result = avsync.sync([ref, vid], method=method, max_offset_s=args.max_offset, min_confidence=args.min_confidence)
            v = result.videos[1]
            rec.update(status=v.status, error=v.error, offset_s=v.offset_s, confidence=float(v.confidence), drift_ppm=v.drift_ppm)
        except Exception as exc:  # noqa: BLE001 - one failing case must not stop the batch
            rec["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("%s %s failed: %s", case["video_id"], method, rec["error"])
        if rec["error"]:  # name the real files, not the case's temporary links
            rec["error"] = str(rec["error"]).replace(str(ref), str(original)).replace(str(vid), str(copy))
        rec.update(runtime_seconds=time.perf_counter() - t0, peak_cpu_percent=mon.peak_cpu_percent,
                   peak_memory_mb=mon.peak_memory_mb, start_memory_mb=mon.start_memory_mb, samples=mon.samples)
        records.append(rec)
    return records


def _result_row(case: dict[str, str], rec: dict[str, Any]) -> dict[str, str]:
    true_ms = float(case["true_offset_ms"])
    est = offset_s_to_ms(rec["offset_s"])
    return {
        "video_id": case["video_id"],
        "true_offset_ms": case["true_offset_ms"],
        "method_type": rec["method_type"],
        "estimated_offset_ms": fmt_float(est),
        "absolute_error_ms": fmt_float(None if est is None else abs(est - true_ms)),
        "confidence_score": fmt_float(rec["confidence"], 4),
        "runtime_seconds": fmt_float(rec["runtime_seconds"], 4),
        "peak_cpu_percent": fmt_float(rec["peak_cpu_percent"], 1),
        "peak_memory_mb": fmt_float(rec["peak_memory_mb"], 1),
        "video_length_sec": case.get("duration", ""),
        "motion_level": case.get("motion_level", ""),
        "audio_energy_level": case.get("audio_energy_level", ""),
    }


class _MotionCache:
    """Motion signals of the originals, decoded once for all their cases."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, path: Path):
        import avsync

        key = os.fspath(path.resolve())
        if key not in self._cache:
            self._cache = {key: avsync.motion_energy(path)}  # one original at a time: cases come grouped
        return self._cache[key]


def run(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"--methods must be a comma-separated subset of {','.join(METHODS)}, got {args.methods!r}")
    if not args.metadata.exists():
        raise ValueError(f"'{args.metadata}': no such metadata file (make one with python -m evaluation.offset_generation)")
    cases = read_csv_rows(args.metadata)
    if not cases:
        raise ValueError(f"'{args.metadata}': no cases in it")
    originals = _originals_folder(args)
    results_dir, diag_dir = args.results_dir, args.diagnostics_dir or args.results_dir / "diagnostics"
    results_dir.mkdir(parents=True, exist_ok=True)
    diag_dir.mkdir(parents=True, exist_ok=True)
    results, details = results_dir / "results.csv", results_dir / "cases.jsonl"

    wanted = {(c["video_id"], m) for c in cases for m in methods}
    if args.force:
        _drop_rows(results, wanted)
        done: set[tuple[str, str]] = set()
    else:
        done = _done_keys(results, args.retry_failed)
        if args.retry_failed:
            _drop_rows(results, wanted - done)
        elif results.exists():
            _drop_rows(results, set())  # repairs a line torn by a crash before appending
    todo = [c for c in cases if any((c["video_id"], m) not in done for m in methods)]
    if len(todo) < len(cases):
        print(f"{len(cases) - len(todo)} of {len(cases)} cases already in {results} (--force runs them again)", file=sys.stderr)

    motion = _MotionCache()
    failed = 0
    for n, case in enumerate(todo, 1):
        vid_id = case["video_id"]
        run_methods = [m for m in methods if (vid_id, m) not in done]
        original = originals / case["original"]
        copy = args.metadata.parent / case["synthetic"]
        with tempfile.TemporaryDirectory(prefix=f"avsync-eval-{vid_id[:40]}-") as tmp:
            work = Path(tmp)
            handler = logging.FileHandler(work / "sync.log", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            sync_log = logging.getLogger("avsync")
            old_level, old_propagate = sync_log.level, sync_log.propagate
            sync_log.addHandler(handler)
            sync_log.setLevel(logging.INFO)
            sync_log.propagate = False  # the sync's own log goes to the case's file, not the console
            try:
                missing = [p for p in (original, copy) if not p.exists()]
                if missing:
                    records = [{"video_id": vid_id, "method_type": m, "status": "error", "error": f"'{missing[0]}': no such file",
                                "offset_s": None, "confidence": 0.0, "drift_ppm": 0.0, "runtime_seconds": 0.0,
                                "peak_cpu_percent": 0.0, "peak_memory_mb": 0.0} for m in run_methods]
                else:
                    records = run_case(case, original, copy, run_methods, args, work)
                for rec in records:
                    if rec["error"] and rec["status"] == "error":
                        sync_log.error("%s %s: %s", vid_id, rec["method_type"], rec["error"])
            finally:
                sync_log.removeHandler(handler)
                sync_log.setLevel(old_level)
                sync_log.propagate = old_propagate
                handler.close()
            (diag_dir / f"{vid_id}.log").write_text((work / "sync.log").read_text(encoding="utf-8"), encoding="utf-8")
        for rec in records:
            row = _result_row(case, rec)
            _append(results, RESULT_COLUMNS, row)
            _append_jsonl(details, {**rec, "true_offset_ms": float(case["true_offset_ms"]), "degradations": case.get("degradations", "")})
            failed += row["estimated_offset_ms"] == ""
            _report(n, len(todo), case, rec, row)
        if not args.no_diagnostics and not any(r["error"] and r["status"] == "error" and "no such file" in str(r["error"]) for r in records):
            _write_diagnostics(case, original, copy, records, motion, diag_dir)
    print(f"results: {results}" + (f" ({failed} runs without an estimate; see {details})" if failed else ""), file=sys.stderr)
    return 0


def _write_diagnostics(case, original: Path, copy: Path, records, motion: _MotionCache, diag_dir: Path) -> None:
    import avsync

    from evaluation.diagnostics import write_case_npz

    by_method = {r["method_type"]: r.get("offset_s") for r in records}
    try:
        write_case_npz(diag_dir / f"{case['video_id']}.npz", motion.get(original), avsync.motion_energy(copy),
                       -float(case["true_offset_ms"]) / 1000.0, by_method.get("visual"), by_method.get("audio"))
    except Exception as exc:  # noqa: BLE001 - diagnostics are a bonus, never a reason to stop
        log.warning("%s: no diagnostics (%s)", case["video_id"], exc)


def _report(n: int, total: int, case: dict[str, str], rec: dict[str, Any], row: dict[str, str]) -> None:
    est = row["estimated_offset_ms"]
    what = (f"est {float(est):+9.1f} ms  err {float(row['absolute_error_ms']):7.1f} ms" if est
            else f"no estimate ({rec['status']}: {rec.get('error') or 'no match'})")
    print(f"[{n:>{len(str(total))}}/{total}] {case['video_id']:<40} {rec['method_type']:<6} true {float(case['true_offset_ms']):+7.0f} ms  "
          f"{what}  conf {rec['confidence']:.2f}  {rec['runtime_seconds']:5.2f} s  cpu {rec['peak_cpu_percent']:4.0f}%  "
          f"rss {rec['peak_memory_mb']:5.0f} MB", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("run_batch", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
