"""`avsync train-syncnet`: train or fine-tune SyncNet on a folder of talking-face videos."""

from __future__ import annotations

import argparse
import json
import sys

from avsync.cli import CommandFailed, add_verbose


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-syncnet",
        help="train or fine-tune SyncNet on talking-face videos",
        description="Trains SyncNet with the contrastive loss of the SyncNet paper (synced vs shifted pairs of 5-frame face "
        "crops and 0.2 s of MFCCs) and a multi-way term (each video window against the audio at every shift, cross-entropy "
        "on the true one). Videos are taken as in sync unless a truth.csv beside them gives their offset_frames. "
        "Prints a JSON report. Interrupted runs resume from OUTPUT.resume.",
    )
    p.add_argument("--videos", required=True, metavar="DIR", help="folder of talking-face videos (full frames, or face tracks with --cropped)")
    p.add_argument("--output", required=True, metavar="MODEL.pt", help="where to write the model")
    p.add_argument("--size", choices=("small", "full"),
                   help="small: a CPU-sized network on a 64-pixel square around the mouth (the default); full: the official size and file format")
    p.add_argument("--init", metavar="MODEL.pt", help="fine-tune from these weights (syncnet_v2.model or an avsync checkpoint)")
    p.add_argument("--minutes", type=float, metavar="N", help="training time budget in minutes (default 10 unless --steps)")
    p.add_argument("--steps", type=int, metavar="N", help="number of training steps (with --seed: the same data and batches every run)")
    p.add_argument("--cropped", action="store_true", help="the videos are 224x224 face tracks (as avsync lipsync --cropped reads)")
    p.add_argument("--val-videos", metavar="DIR", help="held-out videos for the sync accuracy (default: a part of --videos)")
    p.add_argument("--val-fraction", type=float, default=0.15, metavar="F", help="share of --videos held out when no --val-videos (default 0.15)")
    p.add_argument("--batch-size", type=int, default=6, metavar="N", help="stretches of 16 video windows per step (default 6)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3; use less to fine-tune)")
    p.add_argument("--margin", type=float, default=15.0, help="contrastive margin (default 15)")
    p.add_argument("--contrastive-weight", type=float, default=1.0, metavar="W", help="weight of the contrastive loss (default 1)")
    p.add_argument("--sync-weight", type=float, default=1.0, metavar="W", help="weight of the multi-way offset term (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", metavar="DEV", help="cpu, cuda, cuda:1 or auto (default auto)")
    p.add_argument("--detector", choices=("centerface", "s3fd"), default="centerface", help="face detector for full-frame videos")
    p.add_argument("--s3fd-weights", metavar="sfd_face.pth", help="weights of the S3FD detector (with --detector s3fd)")
    p.add_argument("--cache-dir", metavar="DIR", help="where the face tracks of full-frame videos are kept (default OUTPUT.tracks)")
    p.add_argument("--fresh", action="store_true", help="start over even if OUTPUT.resume exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_verbose(p)
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    if args.detector == "s3fd" and not args.s3fd_weights:
        raise CommandFailed("--detector s3fd needs --s3fd-weights sfd_face.pth (avsync downloads nothing)")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CommandFailed("training needs PyTorch: pip install 'avsync[lipsync]'") from None
    from avsync.lipsync.train import TrainOptions, train_syncnet

    minutes = args.minutes if args.minutes is not None else (None if args.steps else 10.0)
    options = TrainOptions(size=args.size, minutes=minutes, steps=args.steps, batch=args.batch_size, lr=args.lr, margin=args.margin,
                           contrastive_weight=args.contrastive_weight, sync_weight=args.sync_weight,
                           seed=args.seed, device=args.device, val_fraction=args.val_fraction, progress=not args.no_progress)
    try:
        report = train_syncnet(args.videos, args.output, cropped=args.cropped, val_videos=args.val_videos, init=args.init, options=options,
                               cache_dir=args.cache_dir, detector=args.detector, s3fd_weights=args.s3fd_weights, fresh=args.fresh)
    except KeyboardInterrupt:
        print(f"avsync train-syncnet: interrupted; run the same command to resume ({args.output}.resume)", file=sys.stderr)
        return 130
    json.dump(report.to_dict(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
