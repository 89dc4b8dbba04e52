"""Synthetic copies with an exact, known offset: the ffmpeg filter graph behind offset_generation.

Exactness matters because the audio method is expected to be right to a millisecond:

- Video keeps the original's frame times and moves them by exactly ``offset_ms``: timestamps are
  computed in microseconds (``settb=AVTB``) and written with a 90 kHz time base
  (``-fps_mode passthrough -enc_time_base 1/90000``), so 700 ms at 25 fps puts the first original
  frame at 0.700 s, not at a frame boundary. Prepending fills the time before it with black frames
  at the original rate (``interleave`` merges both by timestamp); trimming drops the frames before
  ``-offset_ms`` and keeps the others at their exact times (the first one may start a little
  after 0, as a camera that started between two frames would).
- Audio is resampled to 48 kHz, where a millisecond is 48 samples, and delayed or trimmed by whole
  samples; a degraded copy is converted to its own sample rate only after that.
- Clock drift (degraded copies) stretches the whole copy after the shift, so the offset at the
  copy's start, which is what ``avsync.sync`` reports, is still exactly ``offset_ms``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from evaluation.degrade import WORK_RATE, Degradation

TIMESCALE = 90000  # 1 ms = 90 ticks; 25, 24, 30, 29.97, 50 fps frames all fall on ticks
PLAIN_CRF = 18
PLAIN_AUDIO_BITRATE_K = 192
MIN_SHORT_SIDE = 144  # degraded copies are not scaled below this (unless the original is smaller)
MIN_VIDEO_KBPS = 150  # below this x264 starts with grey frames: no camera does that


@dataclass(frozen=True)
class SourceInfo:
    """What the graph needs to know about an original."""

    width: int
    height: int
    fps: float
    video_start_s: float  # first video frame, from the file's start
    has_video: bool
    has_audio: bool

    @classmethod
    def from_probe(cls, info: dict[str, Any]) -> SourceInfo:
        start = 0.0
        for s in info.get("streams", []):
            if s.get("type", s.get("codec_type")) == "video" and not s.get("attached_pic"):
                start = float(s.get("start_s") or 0.0)
                break
        return cls(
            width=int(info.get("width") or 0),
            height=int(info.get("height") or 0),
            fps=float(info.get("fps") or 25.0),
            video_start_s=max(0.0, start),
            has_video=bool(info.get("has_video")),
            has_audio=bool(info.get("has_audio")),
        )


def _even(x: float) -> int:
    return max(2, int(round(x / 2.0)) * 2)


def _rate(fps: float | tuple[int, int]) -> str:
    if isinstance(fps, tuple):
        return f"{fps[0]}/{fps[1]}"
    frac = Fraction(fps).limit_denominator(1001)
    return f"{frac.numerator}/{frac.denominator}"


def video_chain(src: SourceInfo, offset_ms: int, deg: Degradation | None) -> tuple[str, float]:
    """Filter graph text ending in ``[v]``, and the output frame rate."""
    shift = offset_ms / 1000.0
    steps = ["settb=AVTB"]
    first = src.video_start_s
    if deg is not None:
        # fps sets the time base to 1/fps: back to microseconds so the shift below stays exact.
        steps += [f"fps={_rate(deg.fps)}:start_time=0", "settb=AVTB"]
        rate, first = deg.fps[0] / deg.fps[1], 0.0
    else:
        rate = src.fps if src.fps > 0 else 25.0
    if offset_ms > 0:
        # interleave (below) drops the last frame of its inputs in FFmpeg 5.1: a clone of the last
        # frame is appended so that it drops that instead of a real one.
        steps += [f"setpts=PTS+{shift:.6f}/TB", "tpad=stop=1:stop_mode=clone"]
    elif offset_ms < 0:
        steps += [f"trim=start={-shift:.6f}", f"setpts=PTS-{-shift:.6f}/TB"]
    w, h = _even(src.width), _even(src.height)
    steps += [f"scale={w}:{h}", "format=yuv420p", "setsar=1"]
    graph = f"[0:v]{','.join(steps)}[main]"
    if offset_ms > 0:
        # Black frames at the original rate from 0 up to (not including) the first original frame.
        pad = f"color=c=black:s={w}x{h}:r={_rate(rate)},trim=end={shift + first:.6f},settb=AVTB,format=yuv420p,setsar=1"
        graph += f";{pad}[pad];[pad][main]interleave=nb_inputs=2[shifted]"
    else:
        graph += ";[main]null[shifted]"
    post = []
    if deg is not None:
        fw, x0, y0 = deg.crop
        cw, ch = _even(w * fw), _even(h * fw)
        ow, oh = output_size(src, deg)
        post += [
            f"crop={cw}:{ch}:{int(x0 * w)}:{int(y0 * h)}",
            f"scale={ow}:{oh}:flags=bicubic",
            f"eq=brightness={deg.brightness:.3f}:contrast={deg.contrast:.3f}:gamma={deg.gamma:.3f}",
            f"noise=alls={deg.pixel_noise}:allf=t",
        ]
        if deg.drift_ppm:
            post.append(f"setpts=PTS*{1.0 + deg.drift_ppm * 1e-6:.12f}")
        post.append("format=yuv420p")
    graph += f";[shifted]{','.join(post) or 'null'}[v]"
    return graph, rate


def output_size(src: SourceInfo, deg: Degradation) -> tuple[int, int]:
    """Size of a degraded copy: the crop, scaled by ``deg.scale`` but not below MIN_SHORT_SIDE."""
    cw, ch = _even(_even(src.width) * deg.crop[0]), _even(_even(src.height) * deg.crop[0])
    scale = max(deg.scale, min(1.0, MIN_SHORT_SIDE / min(cw, ch)))
    return _even(cw * scale), _even(ch * scale)


def audio_chain(offset_ms: int, deg: Degradation | None, noise_amplitude: float) -> str:
    """Filter graph text ending in ``[a]``."""
    steps = [f"aresample={WORK_RATE}"]
    if deg is not None:
        steps += [
            "aformat=channel_layouts=mono",
            f"highpass=f={deg.highpass_hz:.0f}",
            f"lowpass=f={deg.lowpass_hz:.0f}",
            f"equalizer=f={deg.eq_hz:.0f}:t=o:w=1:g={deg.eq_gain_db:.2f}",
        ]
        if deg.reverb_ms:
            delays = "|".join(f"{d:.0f}" for d in deg.reverb_ms)
            decays = "|".join(f"{0.35 / (i + 1):.2f}" for i in range(len(deg.reverb_ms)))
            steps.append(f"aecho=1.0:0.9:{delays}:{decays}")
    samples = abs(offset_ms) * WORK_RATE // 1000
    if offset_ms > 0:
        steps.append(f"adelay=delays={samples}S:all=1")
    elif offset_ms < 0:
        steps += [f"atrim=start_sample={samples}", f"asetpts=PTS-{samples / WORK_RATE:.6f}/TB"]
    if deg is None:
        return f"[0:a]{','.join(steps)}[a]"
    if deg.drift_ppm:
        steps += [f"asetrate={deg.stretched_rate}", f"aresample={WORK_RATE}"]
    graph = f"[0:a]{','.join(steps)}[clean]"
    graph += f";anoisesrc=color=pink:sample_rate={WORK_RATE}:amplitude={noise_amplitude:.6f}:seed=7[hiss]"
    graph += f";[clean][hiss]amix=inputs=2:duration=first:dropout_transition=0:normalize=0,aresample={deg.sample_rate}[a]"
    return graph


def noise_amplitude(audio_rms_dbfs: float, deg: Degradation) -> float:
    """anoisesrc amplitude giving pink noise ``deg.noise_snr_db`` below the original's RMS.
    (anoisesrc's pink noise has an RMS of about 0.3 of its amplitude.)"""
    target_rms = 10 ** ((audio_rms_dbfs - deg.noise_snr_db) / 20.0)
    return float(min(1.0, target_rms / 0.3))


def ffmpeg_args(original: Path, output: Path, src: SourceInfo, offset_ms: int, deg: Degradation | None, audio_rms_dbfs: float) -> list[str]:
    """Arguments for :func:`avsync.media.ffmpeg.run_ffmpeg` that write the copy to ``output``."""
    graphs, maps, codecs = [], [], []
    if src.has_video:
        graph, rate = video_chain(src, offset_ms, deg)
        graphs.append(graph)
        maps += ["-map", "[v]"]
        codecs += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
        if deg is None:
            codecs += ["-crf", str(PLAIN_CRF)]
        else:
            ow, oh = output_size(src, deg)
            kbps = max(MIN_VIDEO_KBPS, int(ow * oh * deg.fps[0] / deg.fps[1] * deg.bits_per_pixel / 1000))
            codecs += ["-b:v", f"{kbps}k"]
        codecs += ["-fps_mode", "passthrough", "-enc_time_base:v", f"1/{TIMESCALE}", "-video_track_timescale", str(TIMESCALE)]
    if src.has_audio:
        amp = noise_amplitude(audio_rms_dbfs, deg) if deg is not None else 0.0
        graphs.append(audio_chain(offset_ms, deg, amp))
        maps += ["-map", "[a]"]
        bitrate = PLAIN_AUDIO_BITRATE_K if deg is None else deg.audio_bitrate_k
        codecs += ["-c:a", "aac", "-b:a", f"{bitrate}k"]
    return ["-i", os.fspath(original), "-filter_complex", ";".join(graphs), *maps, *codecs, "-map_metadata", "-1", os.fspath(output)]

