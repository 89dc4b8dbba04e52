"""Speaker detection with learned weights, measured on generated two-face conversations.

1. Trains the small SyncNet briefly on generated talking faces (the slow tests' model: 48 clips,
   150 steps, seed 0; about 1.5 minutes on 2 cores), unless ``--weights`` gives a checkpoint;
2. generates ``--clips`` (10) two-face clips of ``--duration`` (10) seconds where the faces take
   turns speaking (``evaluation.talking_faces --faces 2``; the truth is in each clip's JSON);
3. runs speaker detection on each (face detection, tracking, SyncNet, as ``avsync speakers``)
   and compares it with the truth per frame (``evaluation.synthetic_speakers``): each track's
   agreement of "speaking" with the truth, and the active speaker's accuracy on the frames where
   exactly one face speaks, for the thresholds tuned for the small model and, side by side from
   the same scores, the defaults (meant for the official weights).

Prints a JSON report (and writes it with ``--json``). Everything is kept in ``--work-dir``;
rerunning reuses the clips and the model.

    python benchmarks/speakers_synthetic.py --work-dir /tmp/speakers-bench --json report.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SMALL_MODEL = {"high": 1.5, "low": 0.5, "min_speech_s": 0.5}  # thresholds that suit the small model's confidence scale


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work-dir", type=Path, required=True)
    p.add_argument("--weights", type=Path, help="a SyncNet checkpoint (default: train the small model in --work-dir)")
    p.add_argument("--clips", type=int, default=10)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=808)
    p.add_argument("--high", type=float, default=SMALL_MODEL["high"])
    p.add_argument("--low", type=float, default=SMALL_MODEL["low"])
    p.add_argument("--min-speech", type=float, default=SMALL_MODEL["min_speech_s"])
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    from avsync.lipsync.speakers import SpeakerOptions
    from evaluation.synthetic_speakers import conversations, measure_speakers
    from evaluation.synthetic_syncnet import train_on_generated_faces

    report: dict = {"load_average_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    weights = args.weights
    if weights is None:
        weights = args.work_dir / "syncnet_small.pt"
        if not weights.is_file():
            t = time.time()
            trained = train_on_generated_faces(args.work_dir / "learn", weights, clips=48, steps=150, seed=0, val_every=50)
            report["training"] = {"wall_s": round(time.time() - t, 1), "steps": trained.steps, "val_accuracy": trained.val_accuracy}
    report["weights"] = os.fspath(weights)

    t = time.time()
    truths = conversations(args.work_dir / "talk", args.clips, seed=args.seed, duration_s=args.duration)
    report["generate_wall_s"] = round(time.time() - t, 1)
    tuned = SpeakerOptions(high=args.high, low=args.low, min_speech_s=args.min_speech)
    t = time.time()
    measured = measure_speakers(weights, truths, [tuned, SpeakerOptions()], progress=True)
    report["detect_wall_s"] = round(time.time() - t, 1)
    report["tuned"], report["defaults"] = measured
    report["load_average_end"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    if args.json:
        from avsync.media.ffmpeg import write_text_atomic

        write_text_atomic(args.json, text + "\n")
    summary = {k: {x: v for x, v in report[k].items() if x != "results"} for k in ("tuned", "defaults")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
