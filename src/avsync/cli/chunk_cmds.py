"""`avsync chunk-time` and `avsync chunk-silence`."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import add_verbose


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chunk-time",
        help="cut a video into fixed-length chunks with overlap",
        description="Cut VIDEO into chunks of --duration seconds starting every (duration - overlap) seconds, at exact times: "
        "a chunk is stream-copied when both its ends are keyframes, re-encoded otherwise. Writes DIR/{stem}_chunk_NNNN.ext and "
        "DIR/chunks.json; prints the chunks as JSON.",
    )
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--duration", type=float, default=30.0, metavar="SECONDS", help="chunk length (default 30)")
    p.add_argument("--overlap", type=float, default=5.0, metavar="SECONDS", help="overlap between neighbouring chunks (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_verbose(p)
    p.set_defaults(func=run_chunk_time)

    p = sub.add_parser(
        "chunk-silence",
        help="cut a video in the middle of its silences",
        description="Cut VIDEO in the middle of every silence (level below --threshold dBFS, RMS over 10 ms, for at least "
        "--min-silence seconds), skipping cuts that would leave a chunk shorter than --min-chunk. Writes DIR/{stem}_chunk_NNNN.ext "
        "and DIR/chunks.json (with the silences); prints the chunks as JSON.",
    )
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--threshold", type=float, default=-30.0, metavar="DB", help="silence level in dB relative to full scale (default -30)")
    p.add_argument("--min-silence", type=float, default=1.0, metavar="SECONDS", help="shortest silence to cut in (default 1.0)")
    p.add_argument("--min-chunk", type=float, default=5.0, metavar="SECONDS", help="shortest chunk (default 5.0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_verbose(p)
    p.set_defaults(func=run_chunk_silence)


def _print(chunks) -> None:  # noqa: ANN001
    json.dump([c.to_dict() for c in chunks], sys.stdout, indent=2)
    sys.stdout.write("\n")


def run_chunk_time(args: argparse.Namespace) -> int:
    from avsync.curate.chunking import chunk_by_time

    _print(chunk_by_time(args.video, args.output_dir, duration_s=args.duration, overlap_s=args.overlap, progress=not args.no_progress))
    return 0


def run_chunk_silence(args: argparse.Namespace) -> int:
    from avsync.curate.chunking import chunk_by_silence

    chunks = chunk_by_silence(
        args.video, args.output_dir, threshold_db=args.threshold, min_silence_s=args.min_silence, min_chunk_s=args.min_chunk, progress=not args.no_progress
    )
    _print(chunks)
    return 0
