"""`avsync lipsync`: SyncNet offset and confidence per face track."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import CommandFailed, add_verbose, one_video
from avsync.cli.speakers_cmd import add_speaker_options, speaker_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lipsync",
        help="lip-sync offset and confidence per face track (SyncNet)",
        description="Measures the audio-to-lip offset of every face track with SyncNet and prints the result JSON. "
        "offset_frames > 0: the audio comes before the video (25 fps frames).",
    )
    p.add_argument("video", nargs="?", metavar="VIDEO")
    p.add_argument("--videofile", "--input-video", dest="video_flag", metavar="VIDEO", help="the video (the SyncNet scripts' spelling)")
    p.add_argument("--weights", required=True, metavar="MODEL", help="SyncNet weights: the official syncnet_v2.model or an avsync checkpoint")
    p.add_argument("--detector", choices=("centerface", "s3fd"), default="centerface", help="face detector (default: centerface, needs no download)")
    p.add_argument("--s3fd-weights", metavar="sfd_face.pth", help="weights of the S3FD detector (with --detector s3fd)")
    p.add_argument("--cropped", action="store_true", help="the video is one 224x224 face track (as the SyncNet demo)")
    p.add_argument("--data-dir", metavar="DIR", help="also write the SyncNet layout (pywork/, pyavi/, pycrop/) here")
    p.add_argument("--reference", metavar="NAME", help="the name of this video in the layout (with --data-dir)")
    p.add_argument("--save-crops", action="store_true", help="with --data-dir: write each track's crops to pycrop/NAME/")
    p.add_argument("--no-video-out", action="store_true", help="with --data-dir: skip pyavi/NAME/video_out.avi (saves a second decode)")
    p.add_argument("--json", metavar="FILE", help="write the result JSON to FILE too")
    p.add_argument("--fix", metavar="OUT", help="write a copy whose audio is shifted by the measured offset (most confident track)")
    p.add_argument("--min-track", type=int, default=50, metavar="FRAMES", help="shortest face track, in detections at 25 fps (default 50)")
    p.add_argument("--min-face-size", type=float, default=50.0, metavar="PX", help="smallest mean face size in source pixels (default 50)")
    p.add_argument("--facedet-scale", type=float, metavar="S", help="scale frames by S before face detection (default: S3FD 0.25, CenterFace long side 480 px)")
    p.add_argument("--crop-scale", type=float, default=0.4, metavar="S", help="margin around the face in the crops (default 0.4)")
    p.add_argument("--vshift", type=int, default=15, metavar="FRAMES", help="offsets searched: -vshift..vshift (default 15)")
    p.add_argument("--batch-size", type=int, default=20, metavar="N", help="SyncNet windows per batch (default 20)")
    p.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda, cuda:1 or auto (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--speakers", action="store_true", help="also find who speaks when (JSON 'speakers'; highlighted in pyavi/NAME/video_out.avi)")
    add_speaker_options(p)
    add_verbose(p)
    p.set_defaults(func=run_lipsync)


def run_lipsync(args: argparse.Namespace) -> int:
    video = one_video(args, "--videofile")
    if (args.data_dir is None) != (args.reference is None):
        raise CommandFailed("--data-dir and --reference go together")
    if args.detector == "s3fd" and not args.s3fd_weights:
        raise CommandFailed("--detector s3fd needs --s3fd-weights sfd_face.pth (avsync downloads nothing)")
    speakers = speaker_options(args) if args.speakers else None
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CommandFailed("lip sync needs PyTorch: pip install 'avsync[lipsync]'") from None

    from avsync.lipsync import STATUS_NO_FACES, LipSync
    from avsync.media.ffmpeg import write_text_atomic

    runner = LipSync(
        args.weights,
        detector=args.detector,
        s3fd_weights=args.s3fd_weights,
        min_track=args.min_track,
        min_face_size=args.min_face_size,
        facedet_scale=args.facedet_scale,
        crop_scale=args.crop_scale,
        vshift=args.vshift,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
    )
    if not runner.weights.get("official"):
        print(
            f"avsync lipsync: note: {args.weights} is not the official syncnet_v2.model (git blob {runner.weights.get('git_blob_id')}); "
            "its numbers are not comparable with published SyncNet results",
            file=sys.stderr,
        )
    result = runner.run(video, cropped=args.cropped, data_dir=args.data_dir, reference=args.reference, save_crops=args.save_crops, draw_video=not args.no_video_out, fix=None, speakers=speakers)
    text = json.dumps(result.to_dict(), indent=2) + "\n"
    if args.json:
        write_text_atomic(args.json, text)
    sys.stdout.write(text)
    if result.status == STATUS_NO_FACES:
        raise CommandFailed(f"'{video}': no face track found (long and large enough: --min-track {args.min_track}, --min-face-size {args.min_face_size:g})")
    if args.fix:
        from avsync.lipsync.layout import write_fixed

        best = result.best
        write_fixed(video, best.offset_frames, args.fix)
        print(f"avsync lipsync: wrote {args.fix} (audio shifted by {best.offset_frames} frames, track {best.track})", file=sys.stderr)
    return 0
