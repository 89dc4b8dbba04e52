"""`avsync sync` and `avsync apply`."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_verbose


def _sync_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", choices=("audio", "visual", "auto", "both"), default="audio",
                   help="audio: GCC-PHAT; visual: motion energy; auto: audio where usable; both: report each (default: audio)")
    p.add_argument("--reference", metavar="VIDEO", help="the file the others are placed against (default: the first)")
    p.add_argument("--max-offset", type=float, default=20.0, metavar="SECONDS",
                   help="search range in seconds; 0 searches the whole overlap (default: 20)")
    p.add_argument("--min-confidence", type=float, default=0.2, metavar="X",
                   help="below this a file is low_confidence (below 0.2: no_match) (default: 0.2)")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio analysis rate in Hz (default: 16000)")
    p.add_argument("--no-drift", action="store_true", help="do not estimate clock drift")
    p.add_argument("--debug-dir", metavar="DIR", help="write the result, signal and correlation plots here")
    p.add_argument("--log-file", default="logs/video_sync.log", metavar="FILE",
                   help="append this run's log lines, tagged with its request id (default: logs/video_sync.log; '' for none)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars on an interactive terminal")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="estimate every file's offset against a reference; prints the result JSON",
                       description="Estimate each file's offset against the reference (the first file unless --reference). "
                                   "Prints the result JSON on stdout. Exit status 1 when a file failed or did not match.")
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="videos, or audio files (wav, mp3, ...) in audio mode")
    _sync_options(p)
    p.add_argument("--json", metavar="FILE", help="also write the result JSON to FILE")
    add_verbose(p)
    p.set_defaults(func=run_sync)

    p = sub.add_parser("apply", help="write synced copies ({stem}_synced{ext}) of the files, all the same duration",
                       description="Write each file padded (positive offset) or trimmed (negative) so all line up "
                                   "and last the same. Offsets come from a result JSON (--offsets) or a fresh sync (--sync).")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--offsets", metavar="RESULT.json", help="a result written by `avsync sync --json`")
    source.add_argument("--sync", action="store_true", help="run `avsync sync` on the files first (sync options apply)")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--zip", metavar="FILE", help="also bundle the synced outputs (only them) in a ZIP")
    p.add_argument("--correct-drift", action="store_true", help="retime drifting files onto the reference's clock")
    p.add_argument("--lossless", action="store_true", help="copy streams without re-encoding where the shift allows it")
    _sync_options(p)
    add_verbose(p)
    p.set_defaults(func=run_apply)


def _run_sync(args: argparse.Namespace, request_id: str):
    import avsync

    if len(args.videos) < 2:
        raise _Usage("sync needs at least two files")
    if args.max_offset < 0:
        raise _Usage("--max-offset must be >= 0 (0 searches the whole overlap)")
    if not 0 <= args.min_confidence <= 1:
        raise _Usage("--min-confidence must be within [0, 1]")
    try:
        return avsync.sync(args.videos, method=args.method, reference=args.reference, max_offset_s=args.max_offset,
                           min_confidence=args.min_confidence, sample_rate=args.sample_rate, estimate_drift=not args.no_drift,
                           progress=args.progress, debug_dir=args.debug_dir, request_id=request_id)
    except ValueError as exc:
        if "reference" in str(exc):
            raise _Usage(str(exc)) from exc
        raise


class _Usage(Exception):
    pass


def _report_failures(result, command: str) -> None:
    """One line per file that did not sync (errors already name their file)."""
    for v in result.videos:
        if v.status != "ok":
            what = f"{v.status}: {v.error}" if v.error and v.path in v.error else f"'{v.path}': {v.status}" + (f" ({v.error})" if v.error else "")
            print(f"avsync {command}: {what}", file=sys.stderr)


def run_sync(args: argparse.Namespace) -> int:
    from avsync.logs import new_request_id, request_log

    try:
        with request_log(args.log_file or None, new_request_id()) as rid:
            result = _run_sync(args, rid)
    except _Usage as exc:
        print(f"avsync sync: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        result.save(args.json)
    json.dump(result.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    _report_failures(result, "sync")
    return EXIT_OK if result.ok else EXIT_FAILED


def run_apply(args: argparse.Namespace) -> int:
    from avsync.logs import new_request_id, request_log
    from avsync.sync.apply import apply_offsets
    from avsync.sync.result import SyncResult

    try:
        with request_log(args.log_file or None, new_request_id()) as rid:
            if args.sync:
                result = _run_sync(args, rid)
            else:
                result = SyncResult.load(args.offsets)
            if args.lossless:
                from avsync.sync.lossless import apply_lossless

                outputs, notes = apply_lossless(result, args.output_dir, args.zip, correct_drift=args.correct_drift, paths=args.videos)
            else:
                outputs = apply_offsets(result, args.output_dir, args.zip, correct_drift=args.correct_drift, paths=args.videos)
                notes = []
    except _Usage as exc:
        print(f"avsync apply: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    files = outputs[:-1] if args.zip else outputs
    summary = {"outputs": [str(p) for p in files], "zip": args.zip, "sync": result.to_dict()}
    if notes:
        summary["notes"] = notes
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    _report_failures(result, "apply")
    return EXIT_OK if result.ok else EXIT_FAILED
