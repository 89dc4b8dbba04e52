"""`avsync info` and `avsync extract-audio`."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import add_verbose


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="streams, duration, fps and sample rate as JSON")
    p.add_argument("video", metavar="VIDEO")
    add_verbose(p)
    p.set_defaults(func=run_info)

    p = sub.add_parser("extract-audio", help="write a file's audio as WAV")
    p.add_argument("video", metavar="VIDEO")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    p.add_argument("--sample-rate", type=int, default=16000)
    p.add_argument("--channels", type=int, default=1, choices=range(1, 9), metavar="{1..8}")
    add_verbose(p)
    p.set_defaults(func=run_extract_audio)


def run_info(args: argparse.Namespace) -> int:
    from avsync.media.probe import probe

    json.dump(probe(args.video), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def run_extract_audio(args: argparse.Namespace) -> int:
    from avsync.media.ffmpeg import extract_audio

    out = extract_audio(args.video, args.output, sample_rate=args.sample_rate, channels=args.channels)
    print(out)
    return 0
