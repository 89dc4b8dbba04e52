"""`avsync speakers`: who is speaking when, per face track (SyncNet's per-frame confidence)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avsync.cli import CommandFailed, add_verbose, one_video


def add_speaker_options(p: argparse.ArgumentParser) -> None:
    """The speaker-detection flags, shared with ``avsync lipsync --speakers``."""
    g = p.add_argument_group("speaker detection")
    g.add_argument("--speaker-offset", type=int, metavar="FRAMES",
                   help="read speaking scores at this audio offset for every track (SyncNet's sign; 0 for a video known to be "
                   "in sync); default: each track's best offset")  # fmt: skip
    g.add_argument("--speaker-baseline", choices=("frame", "track"), default="frame",
                   help="frame (default): each window's confidence against its own median over offsets; track: the SyncNet "
                   "reference's framewise confidence (against the track's median distance)")  # fmt: skip
    g.add_argument("--speaker-high", type=float, default=3.0, metavar="X", help="a segment must reach this speaking score (default 3)")
    g.add_argument("--speaker-low", type=float, default=1.5, metavar="X", help="a segment lasts while the score stays at or above this (default 1.5)")
    g.add_argument("--min-speech", type=float, default=0.3, metavar="SECONDS", help="shortest speaking segment (default 0.3)")
    g.add_argument("--min-pause", type=float, default=0.3, metavar="SECONDS", help="shorter dips below --speaker-low are bridged (default 0.3)")


def speaker_options(args: argparse.Namespace):  # noqa: ANN201 - a SpeakerOptions
    from avsync.lipsync.speakers import SpeakerOptions

    if args.speaker_offset is not None and abs(args.speaker_offset) > args.vshift:
        raise CommandFailed(f"--speaker-offset {args.speaker_offset} is outside the searched offsets -{args.vshift}..{args.vshift} (--vshift)")
    try:
        return SpeakerOptions(offset=args.speaker_offset, baseline=args.speaker_baseline, high=args.speaker_high, low=args.speaker_low,
                              min_speech_s=args.min_speech, min_pause_s=args.min_pause)  # fmt: skip
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    from avsync.cli.curate_cmds import _executor_options, _lipsync_options

    p = sub.add_parser(
        "speakers",
        help="who is speaking when, per face track (SyncNet); JSON and RTTM",
        description="Finds every face track, scores how well each one's lips follow the audio frame by frame (SyncNet's "
        "framewise confidence, median-filtered), turns the scores into speaking segments (hysteresis: --speaker-high, "
        "--speaker-low, --min-speech, --min-pause) and picks the active speaker at every moment. Prints the JSON; --rttm writes "
        "the segments for diarisation tools. Videos longer than --chunk-duration are processed in overlapping chunks "
        "(--work-dir keeps them and resumes).",
    )
    p.add_argument("video", nargs="?", metavar="VIDEO")
    p.add_argument("--videofile", "--input-video", dest="video_flag", metavar="VIDEO", help="the video (the SyncNet scripts' spelling)")
    p.add_argument("--json", metavar="FILE", help="write the result JSON to FILE too")
    p.add_argument("--rttm", metavar="FILE", help="write the speaking segments as RTTM (SPEAKER <file> 1 <start> <dur> <NA> <NA> trackN <NA> <NA>)")
    p.add_argument("--chunk-duration", type=float, default=300.0, metavar="SECONDS", help="longer videos are cut into chunks this long (default 300)")
    p.add_argument("--overlap", type=float, default=10.0, metavar="SECONDS", help="overlap between chunks, where tracks are linked (default 10, at least 2)")
    p.add_argument("--work-dir", metavar="DIR", help="keep the chunks and the per-chunk journal here: a re-run resumes (default: a temporary folder)")
    add_speaker_options(p)
    _lipsync_options(p)
    _executor_options(p, max_workers=1)
    add_verbose(p)
    p.set_defaults(func=run_speakers)


def run_speakers(args: argparse.Namespace) -> int:
    from avsync.cli.curate_cmds import _run_options, _settings

    video = one_video(args, "--videofile")
    if args.chunk_duration <= 0 or not 0 <= args.overlap < args.chunk_duration:
        raise CommandFailed("--chunk-duration must be positive and --overlap shorter than it")
    settings = _settings(args)
    options = speaker_options(args)

    from avsync.lipsync.speakers_long import find_speakers
    from avsync.media.ffmpeg import check_not_input, write_text_atomic

    for out in (args.json, args.rttm):
        if out:
            check_not_input(out, [video])
    report = find_speakers(video, args.weights, settings=settings, options=options, chunk_duration_s=args.chunk_duration,
                           overlap_s=args.overlap, work_dir=args.work_dir, **_run_options(args))  # fmt: skip
    text = json.dumps(report.to_dict(), indent=2) + "\n"
    if args.json:
        write_text_atomic(args.json, text)
    if args.rttm:
        write_text_atomic(args.rttm, report.speakers.to_rttm(Path(video).stem))
    sys.stdout.write(text)
    if report.failed_chunks:
        first = report.failed_chunks[0]
        raise CommandFailed(f"'{video}': {len(report.failed_chunks)} chunk(s) could not be analysed (chunk {first['index']}: {first.get('error')})")
    if report.status == "no_faces":
        raise CommandFailed(f"'{video}': no face track found (long and large enough: --min-track {args.min_track}, --min-face-size {args.min_face_size:g})")
    return 0
