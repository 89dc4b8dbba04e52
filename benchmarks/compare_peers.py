"""avsync sync against audio-offset-finder (the BBC tool), side by side, in one run.

Each tool runs as a fresh process on the same pairs; the script records wall time, peak resident
memory of the process tree, the offset found and its error against the known answer.

    python benchmarks/compare_peers.py                 # writes benchmarks/results/peers.md
    python benchmarks/compare_peers.py --peer-python /path/to/venv/bin/python

audio-offset-finder 0.5.5 is installed into its own virtual environment (benchmarks/.peers-venv)
unless --peer-python names one that has it. Real pairs come from ../shared/media (or
$AVSYNC_MEDIA); the 5-minute noisy music and the drifting pair are generated from them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("AVSYNC_MEDIA", ROOT.parent / "shared" / "media")) / "multicam"
PEER = "audio-offset-finder==0.5.5"


@dataclass
class Case:
    name: str
    ref: Path
    other: Path
    truth: float | None  # seconds the other file starts after the reference; None: unrelated


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the whole process tree (MB), stdout."""
    start = time.perf_counter()
    out = tempfile.TemporaryFile()
    proc = psutil.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - start
    out.seek(0)
    return wall, peak / 2**20, out.read().decode("utf-8", "replace")


def run_avsync(case: Case) -> dict:
    wall, mem, stdout = measure([sys.executable, "-m", "avsync.cli", "sync", str(case.ref), str(case.other),
                                 "--log-file", "", "--no-progress"])
    v = json.loads(stdout)["videos"][1]
    return {"offset": v["offset_s"], "score": v["confidence"], "ok": v["status"] == "ok", "wall": wall, "mem": mem}


def run_peer(case: Case, python: str) -> dict:
    wall, mem, stdout = measure([python, "-m", "audio_offset_finder.cli", "--within", str(case.ref),
                                 "--find-offset-of", str(case.other), "--json"])
    try:
        data = json.loads(stdout)
        offset, score = float(data["time_offset"]), float(data["standard_score"])
    except (ValueError, KeyError):
        offset, score = None, 0.0
    # The tool's own documentation: scores above 5 are fairly reliable, above 10 good.
    return {"offset": offset, "score": score, "ok": offset is not None and score >= 5, "wall": wall, "mem": mem}


def typical(runs: list[dict]) -> dict:
    """One tool's runs of one pair: the median time, the largest memory, the answer of the last run
    (both tools are deterministic)."""
    return {**runs[-1], "wall": statistics.median(r["wall"] for r in runs), "mem": max(r["mem"] for r in runs)}


def peer_python(given: str | None) -> str:
    if given:
        return given
    venv = ROOT / "benchmarks" / ".peers-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", PEER], check=True)
    return str(py)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_cases(work: Path) -> list[Case]:
    m = MEDIA
    cases = [
        Case("speech, cut (timbl_1/2)", m / "timbl_1.mp3", m / "timbl_2.mp3", 12.254),
        Case("speech, cut + noise (timbl_1/3)", m / "timbl_1.mp3", m / "timbl_3.mp3", 12.23),
        Case("video clip 3 s in", m / "full.mp4", m / "3-secs-in.mp4", 3.0),
        Case("video clip 7 s in, 44.1 kHz stereo ref", m / "full-44100Hz-stereo.mp4", m / "7-secs-in.mp4", 7.0),
        Case("music clip, 128 kbps", m / "mpeg.cbr.mp3", m / "mpeg.cbr.194648.mp3", 194072 / 44100),
        Case("two mixes of a song", m / "Eigen-song-base.mp3", m / "Eigen-20sec.mp3", 0.0156),
        Case("unrelated (r4 excerpts)", m / "r4_excerpt.ogg", m / "r4_excerpt2.ogg", None),
    ]
    # 5 minutes of music, the second recorder starting 7.25 s later, both noisy (about 0 dB SNR).
    song = m / "Eigen-song-base.mp3"
    ref, other = work / "music_ref.wav", work / "music_noisy.wav"
    noise = "anoisesrc=color=pink:amplitude=0.25:seed={seed}:sample_rate=44100"
    ffmpeg("-t", "300", "-i", str(song), "-f", "lavfi", "-t", "300", "-i", noise.format(seed=1),
           "-filter_complex", "[0:a]aformat=sample_rates=44100:channel_layouts=mono[s];[s][1:a]amix=inputs=2:normalize=0", str(ref))
    ffmpeg("-ss", "7.25", "-t", "300", "-i", str(song), "-f", "lavfi", "-t", "300", "-i", noise.format(seed=2),
           "-filter_complex", "[0:a]aformat=sample_rates=48000:channel_layouts=stereo[s];[1:a]aresample=48000,aformat=channel_layouts=stereo[n];[s][n]amix=inputs=2:normalize=0", str(other))
    cases.append(Case("5-min noisy music (0 dB SNR)", ref, other, 7.25))
    # A 10-minute recording whose clock runs 100 ppm fast (60 ms over the recording).
    from avsync.media.synthetic import Camera, make_scene, record

    scene = make_scene(610.0, seed=9)
    a = record(scene, Camera(video=False), work / "drift_ref.wav")
    b = record(scene, Camera(video=False, start_s=4.5, drift_ppm=100.0, sample_rate=44100, audio_noise=0.02), work / "drift_100ppm.wav")
    cases.append(Case("10-min, clock drift 100 ppm", a, b, 4.5))
    return cases


def error_ms(offset: float | None, truth: float | None) -> str:
    if truth is None:
        return "—"
    return "failed" if offset is None else f"{abs(offset - truth) * 1e3:.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", help="a Python that has audio-offset-finder installed")
    ap.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "peers.md"))
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool per pair, alternating; the median time is reported (default 3)")
    args = ap.parse_args()
    if not MEDIA.is_dir():
        sys.exit(f"real media not found at {MEDIA} (set AVSYNC_MEDIA)")
    py = peer_python(args.peer_python)
    rows = []
    with tempfile.TemporaryDirectory(prefix="avsync-peers-") as tmp:
        cases = make_cases(Path(tmp))
        # One untimed run of each first: librosa compiles with numba on first use and caches it.
        run_peer(cases[0], py)
        run_avsync(cases[0])
        for case in cases:
            runs = [(run_avsync(case), run_peer(case, py)) for _ in range(max(1, args.repeat))]
            ours, theirs = typical([o for o, _ in runs]), typical([t for _, t in runs])
            rows.append((case, ours, theirs))
            print(f"{case.name}: avsync {ours} | audio-offset-finder {theirs}", file=sys.stderr)
    load = os.getloadavg()[0]
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores (load average {load:.1f}); each tool a fresh process, "
        f"{args.repeat} runs per pair alternating with the other tool, median time; "
        "time and peak memory (RSS of the process tree) end to end, decoding included. Error in ms against the known offset; "
        "avsync's score is its confidence (0-1, ok at ≥ 0.2), audio-offset-finder's its standard score (reliable at ≥ 5).",
        "",
        "| pair | truth (s) | avsync error (ms) | avsync conf. | avsync time (s) | avsync MB | a-o-f error (ms) | a-o-f score | a-o-f time (s) | a-o-f MB | speed-up | memory ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case, o, t in rows:
        truth = "unrelated" if case.truth is None else f"{case.truth:.3f}"
        o_err = error_ms(o["offset"], case.truth) if (o["ok"] or case.truth is None) else "no match"
        if case.truth is None:
            o_err = "no_match ✓" if not o["ok"] else f"matched at {o['offset']:.3f} ✗"
            t_err = "score < 5 ✓" if not t["ok"] else f"{t['offset']:.3f} ✗"
        else:
            t_err = error_ms(t["offset"], case.truth)
        lines.append(f"| {case.name} | {truth} | {o_err} | {o['score']:.2f} | {o['wall']:.2f} | {o['mem']:.0f} | {t_err} | "
                     f"{t['score']:.1f} | {t['wall']:.2f} | {t['mem']:.0f} | {t['wall'] / o['wall']:.1f}× | {t['mem'] / o['mem']:.1f}× |")
    total_o = sum(o["wall"] for _, o, _ in rows)
    total_t = sum(t["wall"] for _, _, t in rows)
    lines += ["", f"Total time: avsync {total_o:.1f} s, audio-offset-finder {total_t:.1f} s ({total_t / total_o:.1f}× faster)."]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
