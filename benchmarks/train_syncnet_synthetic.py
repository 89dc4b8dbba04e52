"""Trains the small SyncNet on generated talking faces and measures it on held-out generated clips.

Reproduces the numbers of issue 6 ("done, measured"):

1. generates a training set (in sync, face crops only) and a held-out set (audio shifted by a
   random number of frames in [-10, 10]; full frames and crops) with ``evaluation.talking_faces``;
2. trains the small model for ``--minutes`` (10) with ``avsync train-syncnet`` on the CPU;
3. measures every held-out clip with ``avsync lipsync --cropped`` on its crops: the share whose
   offset is within one frame of the truth;
4. compares the sync confidence of each held-out clip in sync (its audio moved back by the
   known shift) with the same clip shifted by 5 frames or more: the confidence at the clip's own
   alignment, ``median - distance at offset 0`` of SyncNet's mean distances (SyncNet's
   ``confidence`` itself, ``median - min``, finds the best shift and so is high for both);
5. runs the full face pipeline (``avsync lipsync`` on the full frames, CenterFace) on the same
   held-out clips and counts how many give the same offset as ``--cropped``.

It prints a JSON report (and writes it with ``--json``), with the machine's load average, since
the 2 cores may be shared. Everything is kept in ``--work-dir``; rerunning reuses the data and,
if present, the model (``--retrain`` to train again).

    python benchmarks/train_syncnet_synthetic.py --work-dir /tmp/syncnet-bench --json report.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

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
    p.add_argument("--train-clips", type=int, default=240)
    p.add_argument("--train-duration", type=float, default=4.0)
    p.add_argument("--eval-clips", type=int, default=40)
    p.add_argument("--eval-duration", type=float, default=6.0)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--pipeline-clips", type=int, default=None, help="held-out clips run through the full face pipeline (default: all)")
    p.add_argument("--retrain", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from evaluation.talking_faces import generate_set

    work = args.work_dir
    report: dict = {"load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    t, c = time.time(), cpu_seconds()
    generate_set(work / "train", args.train_clips, seed=101, duration_s=args.train_duration, full=False)
    held_out = generate_set(work / "eval", args.eval_clips, seed=202, duration_s=args.eval_duration, random_offsets=10)
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
                           "steps": train["steps"], "val_accuracy": train["val_accuracy"], "best_step": train["best_step"],
                           "load_average_before": load_before, "load_average_after": os.getloadavg(), "history": train["history"]}
        (work / "train_report.json").write_text(json.dumps(report["train"], indent=2))
    elif (work / "train_report.json").is_file():
        report["train"] = json.loads((work / "train_report.json").read_text())

    # Held-out offsets with `avsync lipsync --cropped`, and through the full face pipeline.
    cropped, pipeline = [], []
    for i, truth in enumerate(held_out):
        out = json.loads(avsync("lipsync", str(truth.crops[0]), "--cropped", "--weights", str(model), "--no-progress").stdout)
        track = out["tracks"][0]
        cropped.append({"clip": truth.clip_id, "true": truth.offset_frames, "offset": track["offset_frames"], "confidence": track["confidence"]})
        if args.pipeline_clips is None or i < args.pipeline_clips:
            try:
                tracks = json.loads(avsync("lipsync", str(truth.video), "--weights", str(model), "--no-progress").stdout)["tracks"]
            except RuntimeError as exc:  # no face track long enough: counted, not fatal
                if "no face track" not in str(exc):
                    raise
                tracks = []
            best = max(tracks, key=lambda tr: tr["confidence"]) if tracks else None
            pipeline.append({"clip": truth.clip_id, "offset": best["offset_frames"] if best else None, "tracks": len(tracks)})
    errors = np.array([abs(r["offset"] - r["true"]) for r in cropped])
    report["held_out_cropped"] = {"clips": len(cropped), "within_1_frame": float((errors <= 1).mean()), "exact": float((errors == 0).mean()),
                                  "mean_abs_error_frames": float(errors.mean()), "results": cropped}
    same = [r["offset"] == c["offset"] for r, c in zip(pipeline, cropped)]
    report["pipeline_vs_cropped"] = {"clips": len(pipeline), "same_offset": int(sum(same)),
                                     "no_track": int(sum(r["offset"] is None for r in pipeline)),
                                     "within_1_of_cropped": int(sum(r["offset"] is not None and abs(r["offset"] - c["offset"]) <= 1 for r, c in zip(pipeline, cropped))),
                                     "results": pipeline}
    report["confidence"] = confidence_check(model, held_out)
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


def confidence_check(model: Path, held_out: list) -> dict:
    """Per held-out clip: the sync confidence of the clip put in sync (audio moved back by its
    known shift) and of the clip shifted by 5..10 frames either way."""
    from avsync.lipsync.model import load_syncnet
    from avsync.lipsync.scoring import SyncNetScorer
    from avsync.lipsync.trainset import load_cropped

    net, _ = load_syncnet(model)
    scorer = SyncNetScorer(net)
    synced_conf, shifted_conf, synced_syncnet, shifted_syncnet = [], [], [], []
    rng = np.random.default_rng(0)
    for truth in held_out:
        clip = load_cropped(truth.crops[0], 224, truth.offset_frames).shifted(-truth.offset_frames)  # back in sync
        for shift, confs, syncnet in ((0, synced_conf, synced_syncnet), (int(rng.choice([-1, 1]) * rng.integers(5, 11)), shifted_conf, shifted_syncnet)):
            c = clip.shifted(shift) if shift else clip
            score = scorer.score_track(c.frames[..., ::-1], c.audio)
            mdist = score.mean_distances
            confs.append(float(np.median(mdist) - mdist[score.vshift]))
            syncnet.append(score.confidence)
    synced_conf, shifted_conf = np.array(synced_conf), np.array(shifted_conf)
    pairs = synced_conf[:, None] > shifted_conf[None, :]
    return {
        "definition": "median(mean distances) - mean distance at offset 0",
        "synced_mean": float(synced_conf.mean()), "shifted_5_plus_mean": float(shifted_conf.mean()),
        "synced_min": float(synced_conf.min()), "shifted_5_plus_max": float(shifted_conf.max()),
        "same_clip_synced_higher": float((synced_conf > shifted_conf).mean()),
        "all_pairs_synced_higher": float(pairs.mean()),
        "syncnet_confidence_synced_mean": float(np.mean(synced_syncnet)), "syncnet_confidence_shifted_mean": float(np.mean(shifted_syncnet)),
    }


if __name__ == "__main__":
    sys.exit(main())
