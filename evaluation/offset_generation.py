"""Step 1: synthetic copies of original videos with known offsets, and their metadata.

For each original and each offset, a copy: a positive offset prepends that many milliseconds of
black frames and silence, a negative one trims them from the start (frame times and samples moved
exactly; see :mod:`evaluation.copies`). ``--degrade`` makes each copy look and sound like another
camera (:mod:`evaluation.degrade`). The copies and ``metadata.csv`` (video_id, original,
synthetic, true_offset_ms, duration, motion_level, audio_energy_level, degradations, then the
measured motion_energy and audio_rms_dbfs) go to ``--output-dir``; ``generation.json`` beside
them records the settings, so ``run_batch`` finds the originals again.

    python -m evaluation.offset_generation --originals ../shared/media/talking \\
        --output-dir evaluation/results/talking/cases --offsets-ms=-1500,700 --degrade
    python -m evaluation.offset_generation --demo 3 --output-dir evaluation/results/demo/cases

Levels (measured on the original, thresholds in :mod:`evaluation.common`): motion_level from the
mean motion energy (low < 0.5 <= medium < 2.0 <= high, mean absolute luma change per frame on
the 160x90 grid), audio_energy_level from the track's RMS (low < -35 dBFS <= medium < -20 dBFS
<= high).

Run again with the same arguments to finish an interrupted run: copies already made with the same
settings are kept (``--force`` remakes them).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from evaluation import copies, degrade
from evaluation.common import (
    AUDIO_THRESHOLDS_DBFS,
    METADATA_COLUMNS,
    MOTION_THRESHOLDS,
    fmt_float,
    list_videos,
    read_csv_rows,
    relative_or_absolute,
    run_cli,
    write_csv_atomic,
)
from evaluation.content import ContentLevels, measure

DEFAULT_OFFSETS_MS = (-2000, -500, 0, 500, 2000)
MIN_REMAINING_S = 1.0  # a trim must leave at least this much of the original
SHARED_MEDIA_HINT = "../shared/media/talking"


def parse_offsets(text: str) -> list[int]:
    """``"-2000,-500,0,500,2000"`` -> integers (milliseconds)."""
    try:
        values = [int(round(float(v))) for v in text.replace(" ", "").split(",") if v]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"offsets must be comma-separated milliseconds, got {text!r}") from exc
    if not values:
        raise argparse.ArgumentTypeError("at least one offset is needed")
    return values


def case_id(original: Path, offset_ms: int, degraded: bool) -> str:
    return f"{original.stem}_{offset_ms:+d}ms" + ("_deg" if degraded else "")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.offset_generation", description=__doc__.split("\n\n")[0])
    p.add_argument("--originals", type=Path, help="folder of original videos (with --demo: where to write the demo set)")
    p.add_argument("--output-dir", type=Path, required=True, help="where the copies and metadata.csv go")
    p.add_argument("--offsets-ms", type=parse_offsets, default=list(DEFAULT_OFFSETS_MS),
                   help="comma-separated offsets in ms; write --offsets-ms=-2000,500 (with '=') when the first is negative")
    p.add_argument("--degrade", action="store_true", help="make each copy look and sound like another camera")
    p.add_argument("--max-drift-ppm", type=float, default=0.0, help="with --degrade: random clock drift up to this (default 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed of the degradations (and the demo scenes)")
    p.add_argument("--demo", type=int, metavar="N", help="generate N built-in demo originals (default folder: OUTPUT_DIR/originals)")
    p.add_argument("--metadata-name", default="metadata.csv", help="file name of the metadata CSV inside --output-dir")
    p.add_argument("--force", action="store_true", help="remake copies that already exist")
    return p


def _originals(args: argparse.Namespace) -> tuple[Path, list[Path]]:
    if args.demo is not None:
        from evaluation.demo import make_demo_originals

        folder = args.originals or args.output_dir / "originals"
        print(f"generating {args.demo} demo originals in {folder}", file=sys.stderr)
        return folder, make_demo_originals(folder, args.demo, seed=args.seed)
    if args.originals is None:
        raise ValueError(f"give --originals DIR (real footage, e.g. {SHARED_MEDIA_HINT}) or --demo N for the built-in demo set")
    folder = args.originals
    videos = list_videos(folder) if folder.is_dir() else []
    if not videos:
        why = "does not exist" if not folder.exists() else "has no videos"
        raise ValueError(
            f"'{folder}' {why}: put original videos there, use real footage (e.g. --originals {SHARED_MEDIA_HINT}), "
            f"or generate the built-in demo set with --demo 3"
        )
    return folder, videos


def run(args: argparse.Namespace) -> int:
    if args.max_drift_ppm < 0 or args.max_drift_ppm > 1000:
        raise ValueError(f"--max-drift-ppm must be within 0..1000, got {args.max_drift_ppm}")
    from avsync.media.ffmpeg import atomic_output, run_ffmpeg, write_text_atomic
    from avsync.media.probe import probe
    from avsync.progress import progress_bar

    folder, originals = _originals(args)
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / args.metadata_name
    previous = {r["video_id"]: r for r in read_csv_rows(meta_path)} if meta_path.exists() else {}
    rows: list[dict[str, str]] = []
    failures = 0
    settings = {
        "originals": str(folder.resolve()),
        "offsets_ms": args.offsets_ms,
        "degrade": args.degrade,
        "max_drift_ppm": args.max_drift_ppm,
        "seed": args.seed,
        "motion_thresholds": list(MOTION_THRESHOLDS),
        "audio_thresholds_dbfs": list(AUDIO_THRESHOLDS_DBFS),
    }
    write_text_atomic(out / "generation.json", json.dumps(settings, indent=2) + "\n")
    total = len(originals) * len(args.offsets_ms)
    with progress_bar(total=total, desc="copies", unit="copy") as bar:
        for original in originals:
            try:
                info = probe(original)
                src = copies.SourceInfo.from_probe(info)
                if not src.has_video:
                    raise ValueError(f"'{original}': no video stream")
                levels = measure(original, src.has_video, src.has_audio)
            except Exception as exc:  # noqa: BLE001 - one bad original must not stop the others
                print(f"skipping {original}: {exc}", file=sys.stderr)
                failures += 1
                bar.update(len(args.offsets_ms))
                continue
            print(f"{original.name}: motion {levels.motion_energy:.2f} ({levels.motion_level}), "
                  f"audio {levels.audio_rms_dbfs:.1f} dBFS ({levels.audio_energy_level})", file=sys.stderr)
            for offset in args.offsets_ms:
                bar.update(1)
                vid = case_id(original, offset, args.degrade)
                if offset < 0 and info["duration_s"] - (-offset / 1000.0) < MIN_REMAINING_S:
                    print(f"skipping {vid}: trimming {-offset} ms leaves less than {MIN_REMAINING_S:g} s of {original.name}", file=sys.stderr)
                    continue
                plan = None
                if args.degrade:
                    plan = degrade.draw(degrade.case_rng(args.seed, vid), src.fps, args.max_drift_ppm)
                described = plan.describe() if plan else "none"
                target = out / f"{vid}.mp4"
                old = previous.get(vid)
                reuse = (not args.force and target.exists() and old is not None and old.get("degradations") == described
                         and old.get("true_offset_ms") == str(offset))
                try:
                    if not reuse:
                        with atomic_output(target) as tmp:
                            run_ffmpeg(copies.ffmpeg_args(original, tmp, src, offset, plan, levels.audio_rms_dbfs),
                                       what=f"'{original}': making {vid}")
                    duration = float(probe(target)["duration_s"])
                except Exception as exc:  # noqa: BLE001
                    print(f"failed {vid}: {exc}", file=sys.stderr)
                    failures += 1
                    continue
                rows.append(_row(vid, original, folder, target, out, offset, duration, levels, described))
                write_csv_atomic(meta_path, METADATA_COLUMNS, rows)
    if not rows:
        raise ValueError("no copies were made")
    print(f"{len(rows)} copies and {meta_path} written" + (f"; {failures} failed" if failures else ""), file=sys.stderr)
    return 1 if failures else 0


def _row(vid: str, original: Path, folder: Path, target: Path, out: Path, offset: int, duration: float,
         levels: ContentLevels, described: str) -> dict[str, str]:
    return {
        "video_id": vid,
        "original": relative_or_absolute(original, folder),
        "synthetic": relative_or_absolute(target, out),
        "true_offset_ms": str(offset),
        "duration": fmt_float(duration),
        "motion_level": levels.motion_level,
        "audio_energy_level": levels.audio_energy_level,
        "degradations": described,
        "motion_energy": fmt_float(levels.motion_energy, 4),
        "audio_rms_dbfs": fmt_float(levels.audio_rms_dbfs, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("offset_generation", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
