"""`avsync long-video`, `avsync batch` and `avsync filter`: lip sync at scale, local or on Ray."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import CommandFailed, add_verbose, one_video


def _lipsync_options(p: argparse.ArgumentParser, *, min_track: int = 50, min_face_size: float = 50.0) -> None:
    g = p.add_argument_group("lip sync")
    g.add_argument("--weights", required=True, metavar="MODEL", help="SyncNet weights: the official syncnet_v2.model or an avsync checkpoint")
    g.add_argument("--detector", choices=("centerface", "s3fd"), default="centerface", help="face detector (default: centerface, needs no download)")
    g.add_argument("--s3fd-weights", metavar="sfd_face.pth", help="weights of the S3FD detector (with --detector s3fd)")
    g.add_argument("--cropped", action="store_true", help="every video is one 224x224 face track (pre-cropped datasets)")
    g.add_argument("--min-track", type=int, default=min_track, metavar="FRAMES", help=f"shortest face track, in detections at 25 fps (default {min_track})")
    g.add_argument("--min-face-size", type=float, default=min_face_size, metavar="PX", help=f"smallest mean face size in source pixels (default {min_face_size:g})")
    g.add_argument("--facedet-scale", type=float, metavar="S", help="scale frames by S before face detection")
    g.add_argument("--crop-scale", type=float, default=0.4, metavar="S", help="margin around the face in the crops (default 0.4)")
    g.add_argument("--vshift", type=int, default=15, metavar="FRAMES", help="offsets searched: -vshift..vshift (default 15)")
    g.add_argument("--batch-size", type=int, default=20, metavar="N", help="SyncNet windows per batch (default 20)")
    g.add_argument("--device", default="cpu", metavar="DEV", help="cpu, cuda, cuda:1 or auto (default cpu)")


def _executor_options(p: argparse.ArgumentParser, *, max_workers: int = 2) -> None:
    g = p.add_argument_group("where it runs")
    g.add_argument("--max-workers", type=int, default=max_workers, metavar="N", help=f"files analysed at once (default {max_workers})")
    g.add_argument("--executor", choices=("local", "ray"), default="local", help="local: a process pool (default); ray: Ray tasks")
    g.add_argument("--ray-address", metavar="ADDR", help="with --executor ray: the cluster to join (e.g. ray://head:10001 or auto); default: start Ray here")
    g.add_argument("--threads-per-worker", type=int, default=1, metavar="N", help="CPU threads each worker uses (and Ray CPUs per task) (default 1)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "long-video",
        help="lip sync of a long video chunk by chunk; processing_summary.json with the offset over time",
        description="Cut VIDEO into overlapping chunks (DIR/chunks/), extract each chunk's audio (DIR/audio/), measure lip sync per "
        "chunk (DIR/syncnet_data/, the SyncNet layout) and write DIR/processing_summary.json (every chunk, the confidence-weighted "
        "offset, drift and jumps over time) and DIR/offset_over_time.png. A re-run does only what is missing.",
    )
    p.add_argument("video", nargs="?", metavar="VIDEO")
    p.add_argument("--input-video", "--videofile", dest="video_flag", metavar="VIDEO", help="the video (the SyncNet scripts' spelling)")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--chunk-duration", type=float, default=30.0, metavar="SECONDS", help="chunk length (default 30)")
    p.add_argument("--overlap", type=float, default=5.0, metavar="SECONDS", help="overlap between chunks (default 5)")
    p.add_argument("--reliable-confidence", type=float, default=3.0, metavar="X", help="chunks below this confidence are not used for drift and jumps (default 3)")
    p.add_argument("--video-out", action="store_true", help="also write syncnet_data/pyavi/CHUNK/video_out.avi (boxes and confidence drawn)")
    p.add_argument("--no-plot", action="store_true", help="skip offset_over_time.png")
    _lipsync_options(p, min_track=5, min_face_size=10.0)
    _executor_options(p, max_workers=1)
    add_verbose(p)
    p.set_defaults(func=run_long_video)

    p = sub.add_parser(
        "batch",
        help="lip sync over every video in a folder; batch_processing_summary.json",
        description="Measure lip sync of every video under --chunks-dir. Writes DIR/batch_results.jsonl as files finish (a re-run "
        "skips files done), DIR/syncnet_data/pywork/NAME/ and DIR/batch_processing_summary.json (counts, per-file results, "
        "timings, failures with reasons). Exit status 1 when a file failed.",
    )
    p.add_argument("--chunks-dir", "--input-dir", dest="chunks_dir", required=True, metavar="DIR")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--video-out", action="store_true", help="also write syncnet_data/pyavi/NAME/video_out.avi (workers must share the filesystem)")
    _lipsync_options(p)
    _executor_options(p)
    add_verbose(p)
    p.set_defaults(func=run_batch)

    p = sub.add_parser(
        "filter",
        help="sort videos into good_quality/ and poor_quality/ by lip-sync confidence and offset",
        description="Good: SyncNet confidence >= --min-confidence and |offset| <= --max-abs-offset frames (presets: strict 8/2, "
        "high 6/3, medium 4/5, relaxed 2/8; default 5/3). Good videos are copied to DIR/good_quality/, poor ones and those without "
        "faces to DIR/poor_quality/ (--link: symbolic links, --move: moved, --keep-all: analyse only). Results: "
        "DIR/sync_filter_results.json, and DIR/sync_filter_results.jsonl appended as files finish: a re-run analyses only "
        "files not done with the same settings and weights. Inputs are never modified (unless --move).",
    )
    p.add_argument("--input-dir", required=True, metavar="DIR")
    p.add_argument("--output-dir", required=True, metavar="DIR")
    p.add_argument("--preset", choices=("strict", "high", "medium", "relaxed"), help="thresholds preset")
    p.add_argument("--min-confidence", type=float, metavar="X", help="lowest SyncNet confidence of a good video (default 5, or the preset's)")
    p.add_argument("--max-abs-offset", type=int, metavar="N", help="largest |offset| of a good video, in frames (default 3, or the preset's)")
    place = p.add_mutually_exclusive_group()
    place.add_argument("--link", dest="mode", action="store_const", const="link", help="symbolic links instead of copies")
    place.add_argument("--move", dest="mode", action="store_const", const="move", help="move the videos instead of copying them")
    place.add_argument("--keep-all", dest="mode", action="store_const", const="keep-all", help="analyse only: copy, link or move nothing")
    p.set_defaults(mode="copy")
    _lipsync_options(p)
    _executor_options(p)
    add_verbose(p)
    p.set_defaults(func=run_filter)


def _settings(args: argparse.Namespace):  # noqa: ANN202
    if args.detector == "s3fd" and not args.s3fd_weights:
        raise CommandFailed("--detector s3fd needs --s3fd-weights sfd_face.pth (avsync downloads nothing)")
    if args.max_workers < 1 or args.threads_per_worker < 1:
        raise CommandFailed("--max-workers and --threads-per-worker must be at least 1")
    if args.ray_address and args.executor != "ray":
        raise CommandFailed("--ray-address goes with --executor ray")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CommandFailed("lip sync needs PyTorch: pip install 'avsync[lipsync]'") from None
    from avsync.curate.batch import LipSyncSettings

    return LipSyncSettings(
        detector=args.detector, s3fd_weights=args.s3fd_weights, min_track=args.min_track, min_face_size=args.min_face_size,
        facedet_scale=args.facedet_scale, crop_scale=args.crop_scale, vshift=args.vshift, cropped=args.cropped,
        batch_size=args.batch_size, device=args.device,
    )  # fmt: skip


def _run_options(args: argparse.Namespace) -> dict:
    return {
        "max_workers": args.max_workers, "executor": args.executor, "ray_address": args.ray_address,
        "threads_per_worker": args.threads_per_worker, "progress": not args.no_progress,
    }  # fmt: skip


def _out(doc: dict) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def run_long_video(args: argparse.Namespace) -> int:
    video = one_video(args, "--input-video")
    settings = _settings(args)
    from avsync.curate.long_video import process_long_video

    s = process_long_video(
        video, args.output_dir, weights=args.weights, chunk_duration_s=args.chunk_duration, overlap_s=args.overlap, settings=settings,
        reliable_confidence=args.reliable_confidence, video_out=args.video_out, plot=not args.no_plot, **_run_options(args),
    )  # fmt: skip
    whole = {k: v for k, v in s["overall"].items() if k != "offset_over_time"}
    _out({"video": s["video"], "summary": f"{args.output_dir}/processing_summary.json", "overall": whole})
    failed = [c for c in s["chunks"] if c["status"] == "error"]
    if failed:
        raise CommandFailed(f"'{video}': {len(failed)} of {len(s['chunks'])} chunks failed (first: chunk {failed[0]['index']}: {failed[0].get('error')})")
    return 0


def run_batch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from avsync.curate.batch import batch_lipsync

    s = batch_lipsync(args.chunks_dir, args.output_dir, weights=args.weights, settings=settings, video_out=args.video_out, **_run_options(args))
    _out({"summary": f"{args.output_dir}/batch_processing_summary.json", "counts": s["counts"], "timings": s["timings"]})
    if s["failures"]:
        f = s["failures"][0]
        raise CommandFailed(f"{len(s['failures'])} of {s['counts']['total']} files failed (first: {f['error']})")
    return 0


def run_filter(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from avsync.curate.filtering import filter_videos

    s = filter_videos(
        args.input_dir, args.output_dir, weights=args.weights, preset=args.preset, min_confidence=args.min_confidence,
        max_abs_offset=args.max_abs_offset, settings=settings, mode=args.mode, **_run_options(args),
    )  # fmt: skip
    counts = {k: s[k] for k in ("total_videos", "good_quality", "poor_quality", "no_faces_detected", "processing_failed", "analysed", "resumed")}
    _out({"results": f"{args.output_dir}/sync_filter_results.json", **counts, "timings": s["timings"]})
    if s["processing_failed"]:
        first = next(r for r in s["results"] if r["quality"] == "failed")
        raise CommandFailed(f"{s['processing_failed']} of {s['total_videos']} videos could not be analysed (first: {first['reason']})")
    return 0
