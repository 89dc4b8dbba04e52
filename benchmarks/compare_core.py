"""Side-by-side speed and memory of avsync's native core against the tools it replaces, measured in
one run and written as a Markdown table (benchmarks/results/core.md) plus the raw timings (.json).

    python benchmarks/compare_core.py                 # the full comparison (media made once)
    python benchmarks/compare_core.py --quick         # short media: checks that the script works

Each comparison runs its contenders in turn, round after round (A B C, A B C, ...), so a change in
the machine's load hits all of them; the best round of each is reported (the least disturbed
estimate of what the code itself costs); every round's time is kept in the JSON. Ratios are
avsync's throughput over the peer's: above 1 means avsync is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_media  # noqa: E402

import avsync  # noqa: E402
from avsync.media.ffmpeg import ffmpeg_binary, write_text_atomic  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass
class Row:
    what: str
    ours: str
    peer: str
    ratio: float | None
    goal: str
    met: bool
    raw: dict = field(default_factory=dict)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict, rounds: int) -> dict[str, list[float]]:
    """Wall times of each contender, run in turn for ``rounds`` rounds."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(timed(fn))
    return times


# --- contenders ---------------------------------------------------------------------------------


def ffmpeg_null(path: Path) -> None:
    subprocess.run([ffmpeg_binary(), "-v", "error", "-nostdin", "-i", str(path), "-an", "-f", "null", "-"], check=True)


def opencv_gray_small(path: Path, width: int = 160, height: int = 90) -> int:
    """The usual OpenCV way to the same small gray frames: read, cvtColor, resize (area)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
        frames += 1
    capture.release()
    return frames


def ffmpeg_pipe_audio(path: Path, rate: int = 16000) -> np.ndarray:
    out = subprocess.run(
        [ffmpeg_binary(), "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
        check=True, stdout=subprocess.PIPE,
    ).stdout
    return np.frombuffer(out, dtype="<f4")


def numpy_gcc_phat(a: np.ndarray, b: np.ndarray, rate: float) -> float:
    """The straightforward float64 GCC-PHAT found in tutorials: one FFT length for all lags."""
    n = a.size + b.size
    spectrum = np.fft.rfft(b.astype(np.float64), n=n) * np.conj(np.fft.rfft(a.astype(np.float64), n=n))
    correlation = np.fft.irfft(spectrum / np.maximum(np.abs(spectrum), 1e-15), n=n)
    lags = np.concatenate([np.arange(0, b.size), np.arange(-(a.size - 1), 0)])
    keep = np.concatenate([correlation[: b.size], correlation[n - (a.size - 1) :]])
    return float(lags[int(np.argmax(keep))]) / rate


# The child's own high-water mark of resident memory. (Its rusage ru_maxrss would not do: Linux
# carries the parent's resident size at fork into it.)
_REPORT_PEAK = """
try:
    print(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')))
except OSError:
    import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mb(code: str) -> float:
    """Peak resident memory (MB) of a fresh Python process running ``code``."""
    out = subprocess.run([sys.executable, "-c", code + "\n" + _REPORT_PEAK], check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


# --- comparisons --------------------------------------------------------------------------------


def motion_rows(clip: Path, rounds: int) -> list[Row]:
    frames = avsync.motion_energy(clip).frames
    times = interleaved(
        {
            "avsync.motion_energy": lambda: avsync.motion_energy(clip),
            "ffmpeg -f null": lambda: ffmpeg_null(clip),
            "OpenCV": lambda: opencv_gray_small(clip),
        },
        rounds,
    )
    fps = {k: frames / min(v) for k, v in times.items()}
    ours = fps["avsync.motion_energy"]
    what = f"motion energy of {frames} frames of 1080p30 H.264 (11 Mb/s), 160x90 grid"
    raw = {"frames": frames, "seconds": times}
    r_ffmpeg = ours / fps["ffmpeg -f null"]
    r_cv = ours / fps["OpenCV"]
    return [
        Row(what, f"{ours:.0f} fps", f"`ffmpeg -i X -an -f null -` (decode only): {fps['ffmpeg -f null']:.0f} fps",
            r_ffmpeg, "≥ 0.9", r_ffmpeg >= 0.9, raw),
        Row("", "", f"OpenCV `VideoCapture.read` + `cvtColor` + `resize` (area): {fps['OpenCV']:.0f} fps",
            r_cv, "≥ 1.4", r_cv >= 1.4),
    ]


def audio_row(path: Path, rounds: int) -> Row:
    ours_samples, peer_samples = avsync.read_audio(path), ffmpeg_pipe_audio(path)
    assert abs(ours_samples.size - peer_samples.size) <= 1, (ours_samples.size, peer_samples.size)
    times = interleaved({"avsync.read_audio": lambda: avsync.read_audio(path), "ffmpeg pipe": lambda: ffmpeg_pipe_audio(path)}, rounds)
    ours, peer = min(times["avsync.read_audio"]), min(times["ffmpeg pipe"])
    return Row(
        f"`read_audio` of {_duration(round(ours_samples.size / 16000))} of AAC 44.1 kHz stereo → 16 kHz mono float32",
        f"{ours:.2f} s",
        f"`ffmpeg -i X -ac 1 -ar 16000 -f f32le -` piped into numpy: {peer:.2f} s", peer / ours, "≥ 1.0",
        peer / ours >= 1.0, {"seconds": times, "samples": int(ours_samples.size)},
    )


def phat_row(seconds: float, rounds: int) -> Row:
    a, b = bench_media.signal_pair(seconds)
    ours_delay, peer_delay = avsync.gcc_phat(a, b, 16000).delay_s, numpy_gcc_phat(a, b, 16000)
    assert abs(ours_delay - peer_delay) < 1e-3, (ours_delay, peer_delay)
    times = interleaved({"avsync.gcc_phat": lambda: avsync.gcc_phat(a, b, 16000), "numpy": lambda: numpy_gcc_phat(a, b, 16000)}, rounds)
    ours, peer = min(times["avsync.gcc_phat"]), min(times["numpy"])
    return Row(
        f"GCC-PHAT of two {_duration(seconds)} 16 kHz signals, every lag", f"{ours:.2f} s",
        f"numpy float64 (`rfft`, `irfft`, argmax): {peer:.2f} s", peer / ours, "≥ 2", peer / ours >= 2.0,
        {"seconds": times, "delay_s": [ours_delay, peer_delay]},
    )


def memory_row(video: Path, seconds: int) -> Row:
    baseline = peak_rss_mb("import avsync")
    peak = peak_rss_mb(f"import avsync; avsync.motion_energy({str(video)!r})")
    return Row(
        f"peak memory of `motion_energy` on {_duration(seconds)} of 1080p30 H.264, fresh process", f"{peak:.0f} MB",
        f"(`import avsync` alone: {baseline:.0f} MB)", None, "≤ 150 MB", peak <= 150, {"peak_mb": peak, "import_mb": baseline},
    )


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds % 60 == 0 else f"{seconds:.0f} s"


# --- report ---------------------------------------------------------------------------------------


def machine() -> dict:
    import cv2

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
    ffmpeg_version = subprocess.run([ffmpeg_binary(), "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
        "opencv": cv2.__version__, "ffmpeg": ffmpeg_version.replace("ffmpeg version ", "").split(" Copyright")[0],
        "avsync": avsync.__version__,
    }


def markdown(rows: list[Row], info: dict, load: tuple[tuple, tuple], rounds: int) -> str:
    lines = [
        "| benchmark | avsync | peer | ratio | goal | |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.2f}×" if r.ratio is not None else "—"
        lines.append(f"| {r.what} | {r.ours} | {r.peer} | {ratio} | {r.goal} | {'✅' if r.met else '❌'} |")
    (l1, l5, _), (e1, e5, _) = load
    lines += [
        "",
        f"Measured with `python benchmarks/compare_core.py` on {time.strftime('%Y-%m-%d')}: {info['cores']} cores "
        f"({info['cpu']}), shared with other work (load average {l1:.1f} / {l5:.1f} over 1 / 5 min at the start, "
        f"{e1:.1f} / {e5:.1f} at the end); best of {rounds} interleaved rounds. FFmpeg {info['ffmpeg']}, "
        f"numpy {info['numpy']}, OpenCV {info['opencv']}, Python {info['python']}. Ratio: avsync's speed over "
        "the peer's (above 1: avsync is faster).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--media-dir", type=Path, default=bench_media.DEFAULT_DIR)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "core.md")
    parser.add_argument("--quick", action="store_true", help="short media and one round: a check that the script runs")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    clip_s, audio_min, phat_s, memory_s = (2, 1, 30.0, 10) if args.quick else (20, 10, 600.0, 600)

    clip = bench_media.clip_1080p(args.media_dir, clip_s)
    audio = bench_media.long_audio(args.media_dir, audio_min)
    video = bench_media.long_video(args.media_dir, memory_s)
    load_start = os.getloadavg()
    rows = [*motion_rows(clip, rounds), audio_row(audio, rounds), phat_row(phat_s, rounds), memory_row(video, memory_s)]
    load_end = os.getloadavg()

    info = machine()
    text = markdown(rows, info, (load_start, load_end), rounds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output, text)
    raw = {"machine": info, "load_start": load_start, "load_end": load_end, "rounds": rounds,
           "rows": [{"what": r.what or rows[i - 1].what, "ratio": r.ratio, "met": r.met, **r.raw} for i, r in enumerate(rows)]}
    write_text_atomic(args.output.with_suffix(".json"), json.dumps(raw, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
