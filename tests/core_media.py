"""Media for the native-core tests, generated with the ffmpeg CLI at test time, and the CLI
references they are checked against (ffmpeg's own decoding, ffprobe's timestamps).

Every file is made once per test process (``media(name)`` caches) in a temporary folder that is
removed at exit. Names say what each file exercises.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

_TESTSRC = "testsrc2=size={size}:rate={rate}:duration={dur}"

# name -> ffmpeg arguments that write the file (the output path is appended).
_RECIPES: dict[str, list[str]] = {
    # H.264 8-bit with B-frames, AAC stereo 44.1 kHz (sine + pink noise).
    "h264_aac.mp4": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="320x240", rate=25, dur=3),
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=3",
        "-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=44100:duration=3:amplitude=0.1:seed=7",
        "-filter_complex", "[1:a][2:a]amerge=inputs=2[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest",
    ],
    # Audio starts 0.5 s after the video (an audio stream start time > 0).
    "delayed_audio.mp4": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=3),
        "-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=44100:duration=2",
        "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
    ],
    "h264_10bit.mkv": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="320x240", rate=25, dur=2),
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p10le",
    ],
    # An odd frame size (chroma planes rounded up, bins of unequal width).
    "odd_size.mkv": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="336x190", rate=25, dur=2), "-vf", "format=yuv444p,crop=333:187:1:1",
        "-c:v", "ffv1", "-pix_fmt", "yuv444p",
    ],
    # Smaller than the default 160x90 grid: each bin takes its nearest pixel.
    "tiny.mkv": ["-f", "lavfi", "-i", _TESTSRC.format(size="64x36", rate=25, dur=1), "-c:v", "ffv1", "-pix_fmt", "yuv420p"],
    # Variable frame rate (time base 1/25 s): 25 fps for 30 frames, a 0.24 s gap, then one
    # frame every 0.12 s.
    "vfr.mkv": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=4),
        "-vf", "setpts='if(lt(N,30),N,35+(N-30)*3)'", "-fps_mode", "passthrough",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    ],
    # Pixel layouts whose luma is read straight from plane 0: semi-planar and packed.
    "nv12.nut": ["-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=1), "-c:v", "rawvideo", "-pix_fmt", "nv12"],
    "yuyv422.nut": ["-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=1), "-c:v", "rawvideo", "-pix_fmt", "yuyv422"],
    # RGB: no luma plane, so swscale makes the gray frames.
    "rgb.mkv": ["-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=1), "-c:v", "ffv1", "-pix_fmt", "bgr0"],
    "video_only.mp4": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="160x120", rate=25, dur=2),
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
    ],
    "stereo_44k.wav": [
        "-f", "lavfi", "-i", "sine=frequency=523:sample_rate=44100:duration=2",
        "-f", "lavfi", "-i", "anoisesrc=color=white:sample_rate=44100:duration=2:amplitude=0.2:seed=3",
        "-filter_complex", "[0:a][1:a]amerge=inputs=2[a]", "-map", "[a]", "-c:a", "pcm_s16le",
    ],
    # 1.5 s exactly: 66150 samples at 44.1 kHz once the LAME gapless header's padding is honoured.
    "gapless.mp3": ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1.5", "-c:a", "libmp3lame", "-b:a", "128k"],
    "opus.ogg": [
        "-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:duration=2:amplitude=0.3:seed=5",
        "-ac", "2", "-c:a", "libopus", "-b:a", "64k",
    ],
    "surround_51.flac": [
        "-f", "lavfi", "-i",
        "aevalsrc=sin(2*PI*200*t)|sin(2*PI*300*t)|sin(2*PI*400*t)|0.5*sin(2*PI*60*t)|sin(2*PI*500*t)|sin(2*PI*600*t)"
        ":channel_layout=5.1:sample_rate=48000:duration=1.5",
        "-c:a", "flac",
    ],
    "u8_8k.wav": ["-f", "lavfi", "-i", "sine=frequency=300:sample_rate=8000:duration=1.5", "-c:a", "pcm_u8"],
    "f32_16k.wav": [
        "-f", "lavfi", "-i", "anoisesrc=color=white:sample_rate=16000:duration=1:amplitude=0.5:seed=11", "-c:a", "pcm_f32le",
    ],
    "audio_only.m4a": ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1", "-c:a", "aac"],
    # An mp3 whose only "video" stream is its cover picture.
    "cover_art.mp3": [
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
        "-f", "lavfi", "-i", "color=c=red:size=64x64:duration=0.04",
        "-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:a", "libmp3lame", "-c:v", "png",
        "-disposition:v", "attached_pic", "-id3v2_version", "3",
    ],
    # Longer files for the threading tests: one native call on them takes a few tenths of a second.
    "long_audio.flac": [
        "-f", "lavfi", "-i", "anoisesrc=color=pink:sample_rate=48000:duration=300:amplitude=0.3:seed=2", "-c:a", "flac",
    ],
    "long_video.mp4": [
        "-f", "lavfi", "-i", _TESTSRC.format(size="640x360", rate=25, dur=20),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
    ],
}

AUDIO_FILES = [
    "h264_aac.mp4", "delayed_audio.mp4", "stereo_44k.wav", "gapless.mp3", "opus.ogg", "surround_51.flac",
    "u8_8k.wav", "f32_16k.wav", "audio_only.m4a", "cover_art.mp3",
]
VIDEO_FILES = [
    "h264_aac.mp4", "h264_10bit.mkv", "odd_size.mkv", "tiny.mkv", "vfr.mkv", "nv12.nut", "yuyv422.nut",
    "delayed_audio.mp4",
]


@functools.lru_cache(maxsize=1)
def _folder() -> Path:
    path = Path(tempfile.mkdtemp(prefix="avsync-core-media-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, timeout=120, **kwargs)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{proc.stderr.decode(errors='replace')}")
    return proc


@functools.lru_cache(maxsize=None)
def media(name: str) -> Path:
    """The generated file ``name`` (see _RECIPES), made on first use."""
    path = _folder() / name
    _run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *_RECIPES[name], str(path)])
    return path


def ffmpeg_audio(path: Path, sample_rate: int = 16000) -> np.ndarray:
    """``ffmpeg -i PATH -ac 1 -ar RATE -f f32le -``: the CLI's own mono float decoding."""
    out = _run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-"]).stdout
    return np.frombuffer(out, dtype="<f4")


def ffmpeg_frames(path: Path, vf: str, pix_fmt: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """Every decoded frame through the CLI's filter ``vf`` as raw ``pix_fmt`` (``gray``: uint8,
    ``gray10le``: uint16, ``rgb24``: uint8 x 3), passed through one for one (no frame-rate
    conversion). ``size`` is the output (width, height) when ``vf`` changes it."""
    if size is None:
        probe = ffprobe_video(path)
        size = (probe["width"], probe["height"])
    w, h = size
    out = _run([
        "ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-vf", vf,
        "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-",
    ]).stdout
    dtype, channels = {"gray": (np.uint8, 1), "gray10le": (np.dtype("<u2"), 1), "rgb24": (np.uint8, 3)}[pix_fmt]
    frames = np.frombuffer(out, dtype=dtype)
    return frames.reshape((-1, h, w) if channels == 1 else (-1, h, w, channels))


def ffmpeg_luma(path: Path, ten_bit: bool = False) -> np.ndarray:
    """The decoded Y plane of every frame, exactly as stored (``extractplanes``: no range or
    colour conversion): uint8, or uint16 10-bit samples for a 10-bit source."""
    return ffmpeg_frames(path, "extractplanes=y", "gray10le" if ten_bit else "gray")


def ffprobe_video(path: Path) -> dict:
    """Size, start times and the presentation time of every frame of the first video stream
    (``times_s`` relative to the file's start time, as avsync reports them)."""
    out = _run([
        "ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
        "stream=width,height,start_time:format=start_time:frame=best_effort_timestamp_time",
        "-of", "json", str(path),
    ]).stdout
    info = json.loads(out)
    file_start = float(info["format"].get("start_time", 0.0))
    times = np.array([float(f["best_effort_timestamp_time"]) for f in info["frames"]]) - file_start
    stream = info["streams"][0]
    return {"width": int(stream["width"]), "height": int(stream["height"]), "times_s": times}


def ffprobe_audio_start(path: Path) -> float:
    """The first audio stream's start time relative to the file's start time."""
    out = _run([
        "ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=start_time:format=start_time",
        "-of", "json", str(path),
    ]).stdout
    info = json.loads(out)
    return float(info["streams"][0]["start_time"]) - float(info["format"].get("start_time", 0.0))


def bin_edges(src: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Box-average bins along one axis, as avsync documents them: shrinking, bin ``i`` covers
    pixels ``[floor(i*src/out), floor((i+1)*src/out))``; enlarging, it takes the pixel under its
    centre."""
    i = np.arange(out)
    if src >= out:
        return i * src // out, (i + 1) * src // out
    centre = np.minimum(src - 1, (2 * i + 1) * src // (2 * out))
    return centre, centre + 1


def box_average(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """Reference box average of (n, H, W) frames to (n, height, width), in float64."""
    n, h, w = frames.shape
    x0, x1 = bin_edges(w, width)
    y0, y1 = bin_edges(h, height)
    f = frames.astype(np.float64)
    # Integral image: any box sum in four look-ups.
    ii = np.zeros((n, h + 1, w + 1))
    ii[:, 1:, 1:] = f.cumsum(1).cumsum(2)
    sums = ii[:, y1][:, :, x1] - ii[:, y0][:, :, x1] - ii[:, y1][:, :, x0] + ii[:, y0][:, :, x0]
    return sums / ((y1 - y0)[:, None] * (x1 - x0)[None, :])
