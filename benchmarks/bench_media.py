"""Media for the native-core benchmarks, generated with the ffmpeg CLI once and kept in a cache
folder (they take minutes to make; nothing here is committed)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from avsync.media.ffmpeg import atomic_output, run_ffmpeg

DEFAULT_DIR = Path(os.environ.get("AVSYNC_BENCH_MEDIA", Path(__file__).resolve().parent / ".media"))


def clip_1080p(folder: Path, seconds: int = 20) -> Path:
    """1920x1080, 30 fps H.264 at about 11 Mb/s (a busy test pattern with moving grain, so the
    bitrate is that of real footage), no audio."""
    return _make(folder / f"h264_1080p30_{seconds}s.mp4", [
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds},noise=alls=12:allf=t+u",
        "-c:v", "libx264", "-preset", "veryfast", "-b:v", "11M", "-maxrate", "11M", "-bufsize", "22M",
        "-pix_fmt", "yuv420p", "-g", "60",
    ])


def long_video(folder: Path, seconds: int = 600) -> Path:
    """``seconds`` of 1920x1080, 30 fps H.264 (a plain test pattern: quick to make), for memory."""
    name = f"h264_1080p30_{seconds // 60}min.mp4" if seconds % 60 == 0 else f"h264_1080p30_{seconds}s_plain.mp4"
    return _make(folder / name, [
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "60",
    ])


def long_audio(folder: Path, minutes: int = 10) -> Path:
    """``minutes`` of AAC, 44.1 kHz stereo, 128 kb/s: pink noise on one channel, beeps on the other."""
    return _make(folder / f"aac_44k_stereo_{minutes}min.m4a", [
        "-f", "lavfi", "-i", f"anoisesrc=color=pink:sample_rate=44100:amplitude=0.2:duration={minutes * 60}:seed=1",
        "-f", "lavfi", "-i", f"sine=frequency=330:beep_factor=3:sample_rate=44100:duration={minutes * 60}",
        "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]", "-c:a", "aac", "-b:a", "128k",
    ])


def signal_pair(seconds: float, rate: int = 16000, delay_s: float = 3.217, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 signals of ``seconds`` at ``rate`` where b(t) = a(t - delay_s) plus independent
    noise: coloured noise with bursts, like a room recorded by two devices."""
    rng = np.random.default_rng(seed)
    n, shift = int(seconds * rate), int(round(delay_s * rate))
    base = rng.standard_normal(n + abs(shift)).astype(np.float32)
    base[1:] += 0.9 * base[:-1]  # a gentle low-pass tilt
    base *= np.repeat(rng.uniform(0.2, 1.5, base.size // rate + 1), rate)[: base.size].astype(np.float32)
    if shift >= 0:  # b[i] = a[i - shift]
        a, b = base[shift : shift + n], base[:n]
    else:
        a, b = base[:n], base[-shift : -shift + n]
    b = b + 0.3 * rng.standard_normal(n).astype(np.float32)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


def _make(path: Path, args: list[str]) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"bench: generating {path.name} (once; kept in {path.parent})", flush=True)
    with atomic_output(path) as tmp:
        run_ffmpeg([*args, tmp], what=f"generating {path.name}")
    return path
