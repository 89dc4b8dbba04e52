"""What the evaluation steps share: file layout, CSV columns, content levels, and the CLI wrapper.

Sign convention (INTERFACE.md): ``true_offset_ms`` > 0 means that many milliseconds of black
frames and silence were prepended to the original to make the synthetic copy; < 0 means that many
were trimmed from its start. ``estimated_offset_ms`` uses the same convention. ``avsync.sync``
reports the copy's ``offset_s`` against the original (the copy started ``offset_s`` after the
original), so ``estimated_offset_ms = -1000 * offset_s``: a copy with 700 ms prepended shows an
event 0.7 s later than the original does, i.e. it "started" 0.7 s earlier.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

EVAL_DIR = Path(__file__).resolve().parent
DEFAULT_RESULTS = EVAL_DIR / "results"

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")

METADATA_COLUMNS = [
    "video_id",
    "original",
    "synthetic",
    "true_offset_ms",
    "duration",
    "motion_level",
    "audio_energy_level",
    "degradations",
    # Extra columns (after the documented ones): the measured values behind the levels.
    "motion_energy",
    "audio_rms_dbfs",
]

RESULT_COLUMNS = [
    "video_id",
    "true_offset_ms",
    "method_type",
    "estimated_offset_ms",
    "absolute_error_ms",
    "confidence_score",
    "runtime_seconds",
    "peak_cpu_percent",
    "peak_memory_mb",
    "video_length_sec",
    "motion_level",
    "audio_energy_level",
]

METHODS = ("audio", "visual")
LEVELS = ("low", "medium", "high")

# Content levels, measured on the original (documented in the README and metadata):
# motion: mean absolute luma change between consecutive frames (0-255 scale) on the 160x90
#   box-averaged grid of avsync.motion_energy. A talking head that barely moves in a wide shot is
#   0.3-0.6 (low), a face crop that fills the frame about 3 (high), small objects moving over a
#   still background in between (medium).
MOTION_THRESHOLDS = (0.5, 2.0)
# audio: RMS of the whole track (mono, 16 kHz) in dBFS. Quiet room or distant speaker below
#   -35 dBFS, normal close speech about -30 to -20, loud/compressed material above -20.
AUDIO_THRESHOLDS_DBFS = (-35.0, -20.0)
# video length buckets (seconds) for the metrics' breakdown.
LENGTH_BUCKETS_S = (10.0, 60.0)

log = logging.getLogger("evaluation")


def level(value: float, thresholds: tuple[float, float]) -> str:
    """``low`` below the first threshold, ``high`` at or above the second, else ``medium``."""
    if not np.isfinite(value):
        return "low"
    if value < thresholds[0]:
        return "low"
    return "high" if value >= thresholds[1] else "medium"


def length_bucket(seconds: float) -> str:
    lo, hi = LENGTH_BUCKETS_S
    if seconds < lo:
        return f"<{lo:g}s"
    return f"{lo:g}-{hi:g}s" if seconds < hi else f">={hi:g}s"


def list_videos(folder: Path) -> list[Path]:
    """Video files directly inside ``folder`` (sorted; hidden and partial files left out)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV written by this pipeline; a truncated last line (a crash mid-write) is dropped."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        rows = [r for r in reader if None not in r and all(r.get(k) is not None for k in fields)]
    return rows


def write_csv_atomic(path: Path, columns: Sequence[str], rows: Iterable[dict]) -> Path:
    from avsync.media.ffmpeg import atomic_output

    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)
    return path


def fmt_float(value: float | None, digits: int = 3) -> str:
    """CSV cell for a number: empty when missing."""
    if value is None or not np.isfinite(value):
        return ""
    return f"{value:.{digits}f}"


def run_cli(name: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int], argv: Sequence[str] | None) -> int:
    """Parses ``argv`` and calls ``run(args)``: one-line errors (``NAME: error: ...``, exit 1)
    unless ``--verbose``; usage errors exit 2 (argparse). Underscore flag spellings are accepted."""
    from avsync.cli import normalise_flags

    parser.add_argument("--verbose", action="store_true", help="debug logging and full tracebacks")
    args = parser.parse_args(_join_negative_values(normalise_flags(list(sys.argv[1:] if argv is None else argv))))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's contract: one line, no traceback
        if args.verbose:
            raise
        text = str(exc).strip()
        print(f"{name}: error: {text.splitlines()[0] if text else type(exc).__name__}", file=sys.stderr)
        return 1


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--offsets-ms -1500,700`` -> ``--offsets-ms=-1500,700``: argparse would take a value that
    starts with '-' and holds a comma for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--offsets-ms" and i + 1 < len(argv) and re.match(r"-?\d", argv[i + 1]):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def relative_or_absolute(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it, else absolute."""
    try:
        return os.fspath(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return os.fspath(path.resolve())
