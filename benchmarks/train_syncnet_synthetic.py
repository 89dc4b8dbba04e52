"""Trains the small SyncNet on generated talking faces and measures it on held-out generated clips.

Reproduces the numbers of issue 6 ("done, measured"):

1. generates a training set (in sync, face crops only) and a held-out set (audio shifted by a
   random number of frames in [-10, 10]; full frames and crops) with ``evaluation.talking_faces``;
2. trains the small model for ``--minutes`` (10) with ``avsync train-syncnet`` on the CPU;
3. measures every held-out clip with ``avsync lipsync --cropped`` on its crops (the runner the
   command wraps): the share whose offset is within one frame of the truth; and runs the full
   face pipeline (``avsync lipsync`` on the full frames, CenterFace) on the same clips, counting
   those that give the same offset as ``--cropped``;
4. compares each held-out clip put back in sync with the same clip shifted by 5 to 10 frames
   (``evaluation.synthetic_syncnet.confidence_check``): the confidence that the clip as it is is
   in sync (``median - distance at offset 0`` of SyncNet's mean distances: SyncNet's confidence
   for a synced clip), and SyncNet's ``confidence`` itself (``median - min``, which finds the
   best shift wherever it is, so that it is about the same for both).

It prints a JSON report (and writes it with ``--json``), with the machine's load average, since
the 2 cores may be shared. Everything is kept in ``--work-dir``; rerunning reuses the data and,
if present, the model (``--retrain`` to train again).

    python benchmarks/train_syncnet_synthetic.py --work-dir /tmp/syncnet-bench --json report.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def avsync(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"avsync {args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--train-clips", type=int, default=400)
    p.add_argument("--train-duration", type=float, default=4.0)
    p.add_argument("--eval-clips", type=int, default=40)
    p.add_argument("--eval-duration", type=float, default=6.0)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--pipeline-clips", type=int, default=None, help="held-out clips run through the full face pipeline (default: all)")
    p.add_argument("--min-track", type=int, default=50, help="the face pipeline's --min-track (default 50, its own default)")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from evaluation.synthetic_syncnet import confidence_check, held_out_set, measure_offsets
    from evaluation.talking_faces import generate_set

    work = args.work_dir
    report: dict = {"load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    t, c = time.time(), cpu_seconds()
    generate_set(work / "train", args.train_clips, seed=101, duration_s=args.train_duration, full=False)
    held_out = held_out_set(work / "eval", args.eval_clips, seed=202, duration_s=args.eval_duration)
    report["generate"] = {"wall_s": round(time.time() - t, 1), "cpu_s": round(cpu_seconds() - c, 1),
                          "train_clips": args.train_clips, "eval_clips": args.eval_clips}

    model = work / "small.pt"
    if args.retrain or not model.is_file():
        t, c = time.time(), cpu_seconds()
        load_before = os.getloadavg()
        out = avsync("train-syncnet", "--videos", str(work / "train" / "crops"), "--cropped", "--output", str(model),
                     "--size", "small", "--minutes", str(args.minutes), "--device", "cpu", "--fresh", "--no-progress")
        train = json.loads(out.stdout)
        report["train"] = {"wall_s": round(time.time() - t, 1), "cpu_s": round(cpu_seconds() - c, 1), "train_seconds": train["train_seconds"],
                           "steps": train["steps"], "val_clips": train["val_clips"], "val_accuracy": train["val_accuracy"],
                           "best_step": train["best_step"], "load_average_before": load_before, "load_average_after": os.getloadavg(),
                           "history": train["history"]}
        (work / "train_report.json").write_text(json.dumps(report["train"], indent=2))
    elif (work / "train_report.json").is_file():
        report["train"] = json.loads((work / "train_report.json").read_text())

    t = time.time()
    report["held_out"] = measure_offsets(model, held_out, pipeline_clips=args.pipeline_clips, min_track=args.min_track)
    report["held_out"]["wall_s"] = round(time.time() - t, 1)
    report["confidence"] = confidence_check(model, held_out)
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
