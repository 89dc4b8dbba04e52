"""`avsync review` and `avsync export`: check a sync by eye and ear, take it to an editor."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_verbose


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("review", help="sync indicator images and aligned-waveform plots of a sync result",
                       description="At the moments of most distinct shared motion, every camera's frame side by side with the "
                                   "moving regions boxed; every file's audio around the strongest shared transients, zoomed to "
                                   "1 ms, with the residual error measured. Writes the pictures and review.json (the result with "
                                   "its 'review' section) into --output-dir and prints the review section.")
    p.add_argument("result", metavar="RESULT.json", help="a result written by `avsync sync --json`")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--moments", type=int, default=4, metavar="N", help="indicator images to draw (default: 4)")
    p.add_argument("--transients", type=int, default=3, metavar="N", help="waveform plots to draw (default: 3)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars on an interactive terminal")
    add_verbose(p)
    p.set_defaults(func=run_review)

    p = sub.add_parser("export", help="the synced layout as an editor timeline (OpenTimelineIO, FCPXML, FCP7 XML)",
                       description="One track per camera and per audio-only recorder, each clip at its offset (gaps before late "
                                   "starters, trimmed sources for early ones), rounded to whole frames; offset, confidence and "
                                   "drift in each clip's metadata. Needs the 'nle' extra.")
    p.add_argument("result", metavar="RESULT.json", help="a result written by `avsync sync --json`")
    p.add_argument("--otio", metavar="OUT.otio", help="OpenTimelineIO JSON")
    p.add_argument("--fcpxml", metavar="OUT.fcpxml", help="Final Cut Pro X XML")
    p.add_argument("--fcp7-xml", metavar="OUT.xml", help="Final Cut Pro 7 XML (Premiere Pro, Resolve)")
    p.add_argument("--rate", type=float, metavar="FPS", help="timeline frame rate (default: the reference's)")
    add_verbose(p)
    p.set_defaults(func=run_export)


def run_review(args: argparse.Namespace) -> int:
    from avsync.review import review

    if args.moments < 0 or args.transients < 0:
        print("avsync review: error: --moments and --transients must be >= 0", file=sys.stderr)
        return EXIT_USAGE
    out = review(args.result, args.output_dir, moments=args.moments, transients=args.transients, progress=args.progress)
    json.dump(out.section, sys.stdout, indent=2)
    sys.stdout.write("\n")
    pictures = [f for f in out.files if f.suffix == ".png"]
    if not pictures:
        print(f"avsync review: error: '{args.result}': nothing to draw ({'; '.join(out.section.get('notes', []))})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def run_export(args: argparse.Namespace) -> int:
    from avsync.nle import export_timeline

    if not (args.otio or args.fcpxml or args.fcp7_xml):
        print("avsync export: error: give at least one of --otio, --fcpxml, --fcp7-xml", file=sys.stderr)
        return EXIT_USAGE
    if args.rate is not None and args.rate <= 0:
        print("avsync export: error: --rate must be a positive frame rate", file=sys.stderr)
        return EXIT_USAGE
    written = export_timeline(args.result, otio=args.otio, fcpxml=args.fcpxml, fcp7_xml=args.fcp7_xml, rate=args.rate)
    json.dump({"written": [str(p) for p in written]}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK
