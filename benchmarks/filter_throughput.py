"""Throughput of ``avsync filter``: files per minute with 1 and 2 workers, local pool and Ray.

The clips of ../shared/media/talking (or $AVSYNC_MEDIA/talking) are copied ``--repeat`` times
into a scratch folder (longest first, so two workers do not wait on one long file at the end)
and filtered by each configuration in turn, one after another in this run, each with a fresh
output folder (so nothing is resumed). SyncNet is a seeded random network of the official size
saved in the official format (the computation of the real weights; there are none on this
machine); faces are found with CenterFace. Every worker uses one CPU thread. Wall time covers
the whole call: starting the workers, loading the model in each, analysing, sorting the files.
A local Ray instance is started once before the Ray runs (its 2-3 s start is not counted).

    python benchmarks/filter_throughput.py                 # writes benchmarks/results/filter_throughput.md
    python benchmarks/filter_throughput.py --repeat 2 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("AVSYNC_MEDIA", ROOT.parent / "shared" / "media")) / "talking"


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def make_dataset(folder: Path, repeat: int, max_clips: int | None) -> tuple[int, float, list[float]]:
    import avsync

    durations = {p: avsync.probe(p)["duration_s"] for p in sorted(MEDIA.iterdir()) if p.is_file()}
    if max_clips:  # the shortest ones, for a quick check of the script
        durations = dict(sorted(durations.items(), key=lambda kv: kv[1])[:max_clips])
    clips = sorted(durations, key=lambda p: -durations[p])
    for r in range(repeat):
        for i, clip in enumerate(clips):
            shutil.copy2(clip, folder / f"{r:02d}_{i:02d}_{clip.name}")
    return repeat * len(clips), repeat * sum(durations.values()), sorted(durations.values())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="copies of each clip (default 1: about 90 s of video)")
    ap.add_argument("--max-clips", type=int, help="only the N shortest clips (a quick check of the script)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--executors", nargs="+", default=["local", "ray"], choices=["local", "ray"])
    ap.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results" / "filter_throughput.md")
    args = ap.parse_args()
    if not MEDIA.is_dir():
        print(f"no clips: {MEDIA} (set AVSYNC_MEDIA)", file=sys.stderr)
        return 2

    from avsync.curate.batch import LipSyncSettings
    from avsync.curate.filtering import filter_videos
    from avsync.lipsync.model import random_syncnet, save_syncnet

    rows = []
    with tempfile.TemporaryDirectory(prefix="avsync-bench-") as tmp:
        tmp = Path(tmp)
        data = tmp / "clips"
        data.mkdir()
        files, video_s, lengths = make_dataset(data, args.repeat, args.max_clips)
        weights = save_syncnet(random_syncnet(0), tmp / "syncnet_v2.model")
        before = load_average()
        if "ray" in args.executors:
            import ray

            ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        for executor in args.executors:
            for workers in args.workers:
                out = tmp / f"out-{executor}-{workers}"
                started = time.perf_counter()
                s = filter_videos(data, out, weights=weights, settings=LipSyncSettings(), max_workers=workers, executor=executor, mode="keep-all", progress=False)
                wall = time.perf_counter() - started
                per_file = [r["processing_time_s"] for r in s["results"] if r["processing_time_s"]]
                rows.append((executor, workers, files, wall, 60 * files / wall, 60 * video_s / wall, sum(per_file) / len(per_file), s["processing_failed"]))
                print(f"{executor} x{workers}: {wall:.1f} s, {60 * files / wall:.2f} files/min", file=sys.stderr)
        if "ray" in args.executors:
            ray.shutdown()
        after = load_average()

    base = {e: next((r[4] for r in rows if r[0] == e and r[1] == min(args.workers)), None) for e in args.executors}
    lines = [
        "# `avsync filter` throughput",
        "",
        f"{files} files ({args.repeat}x the {files // args.repeat} clips of ../shared/media/talking, {video_s:.0f} s of video, {lengths[0]:.1f}-{lengths[-1]:.1f} s each; "
        "largest first), official-size SyncNet (seeded random weights), CenterFace, one CPU thread per worker, `--keep-all`. "
        f"Written by `python benchmarks/filter_throughput.py --repeat {args.repeat}`; the configurations ran one after another in one run.",
        "",
        f"Machine: {os.cpu_count()} cores, shared with other jobs. Load before: `{before}`; after: `{after}`.",
        "",
        "| executor | workers | files | wall (s) | files/min | video s per min | mean s per file | speed-up vs 1 worker | failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for executor, workers, n, wall, fpm, vpm, mean, failed in rows:
        speedup = fpm / base[executor] if base[executor] else float("nan")
        lines.append(f"| {executor} | {workers} | {n} | {wall:.1f} | {fpm:.2f} | {vpm:.1f} | {mean:.1f} | {speedup:.2f}x | {failed} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(args.output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
