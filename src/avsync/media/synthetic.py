"""Generated multi-camera recordings with known offsets, for the demo, the tests and the
evaluation when no real footage is at hand.

A *scene* is a world with its own clock: coloured blocks that move in bursts over a textured
background, a panel that flashes, and sounds (clicks, tone blips, chirps over a quiet noise bed)
at random moments, many of them tied to a visible movement as a clap is. A *camera* records the
scene from world time ``start_s``: its own framing (crop), exposure, pixel noise, frame rate,
clock drift, sample rate and microphone noise.

Sign convention (as everywhere in avsync): a camera that starts at world time ``start_s`` has
``offset_s = start_s - reference.start_s``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avsync.media.ffmpeg import atomic_output, ffmpeg_binary

WORLD_SIZE = (640, 360)
WORLD_RATE = 48000


@dataclass(frozen=True)
class Camera:
    """How one device records the scene."""

    start_s: float = 0.0  # world time at which recording starts
    duration_s: float | None = None  # default: until the end of the scene
    fps: float = 25.0
    size: tuple[int, int] = (320, 180)
    crop: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # x0, y0, x1, y1 as fractions of the world
    gain: float = 1.0  # exposure: multiplies pixel values
    bias: float = 0.0  # added to pixel values
    pixel_noise: float = 0.0  # standard deviation, 0-255 scale
    drift_ppm: float = 0.0  # 1 s of world lasts 1 + drift_ppm*1e-6 s in this recording
    sample_rate: int = 48000
    channels: int = 1
    audio_gain: float = 1.0
    audio_noise: float = 0.0  # standard deviation of added white noise (full scale = 1)
    video: bool = True
    audio: bool = True
    crf: int = 23


@dataclass
class Scene:
    """A generated world. Build one with :func:`make_scene`."""

    duration_s: float
    seed: int
    background: np.ndarray  # (H, W, 3) float32 world texture
    blocks: list[dict] = field(default_factory=list)
    sound_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # mono at WORLD_RATE

    def positions(self, t: float) -> list[tuple[float, float]]:
        """Block centres (world pixels) at world time ``t``."""
        out = []
        for b in self.blocks:
            k = np.searchsorted(b["times"], t) - 1
            k = int(np.clip(k, 0, len(b["times"]) - 2))
            t0, t1 = b["times"][k], b["times"][k + 1]
            u = 0.0 if t1 <= t0 else float(np.clip((t - t0) / (t1 - t0), 0.0, 1.0))
            u = u * u * (3 - 2 * u)  # ease in and out
            p = b["path"][k] * (1 - u) + b["path"][k + 1] * u
            out.append((float(p[0]), float(p[1])))
        return out

    def flash(self, t: float) -> float:
        """Brightness of the flash panel at world time ``t`` (decays after each sound)."""
        k = np.searchsorted(self.sound_times, t) - 1
        if k < 0:
            return 0.0
        dt = t - self.sound_times[k]
        return float(np.exp(-dt / 0.08))


def make_scene(duration_s: float = 20.0, seed: int = 0, *, events_per_s: float = 1.2) -> Scene:
    """A random world lasting ``duration_s`` seconds (deterministic for a seed)."""
    if duration_s <= 0:
        raise ValueError("duration_s must be positive")
    rng = np.random.default_rng(seed)
    w, h = WORLD_SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        layer = np.full((h, w), 60.0 + 40 * rng.random(), np.float32)
        for _ in range(12):
            cx, cy, r = rng.random() * w, rng.random() * h, 20 + 80 * rng.random()
            layer += (rng.random() * 60 - 20) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        bg[..., c] = layer
    bg += rng.normal(0, 6, (h, w, 1)).astype(np.float32)  # fine texture so framing is recognisable

    n_events = max(2, int(rng.poisson(events_per_s * duration_s)))
    sound_times = np.sort(rng.uniform(0.3, max(0.31, duration_s - 0.3), n_events))
    blocks = []
    for i in range(6):
        size = (20 + 40 * rng.random(), 20 + 40 * rng.random())
        color = rng.uniform(20, 235, 3)
        times = [0.0]
        path = [np.array([rng.uniform(40, w - 40), rng.uniform(40, h - 40)])]
        t = 0.0
        # Half the blocks jump at sound events (a hand clapping), the others wander at random.
        if i % 2 == 0:
            starts = sound_times[rng.random(n_events) < 0.6]
        else:
            starts = np.sort(rng.uniform(0, duration_s, max(1, int(duration_s * 0.5))))
        for s in starts:
            if s <= t:
                continue
            times.append(float(s))
            path.append(path[-1])
            t = float(s) + rng.uniform(0.15, 0.8)
            times.append(t)
            path.append(np.array([rng.uniform(40, w - 40), rng.uniform(40, h - 40)]))
        times.append(duration_s + 1e3)
        path.append(path[-1])
        blocks.append({"size": size, "color": color.astype(np.float32), "times": np.array(times), "path": path})

    audio = _world_audio(duration_s, sound_times, rng)
    return Scene(duration_s=duration_s, seed=seed, background=bg, blocks=blocks, sound_times=sound_times, audio=audio)


def _world_audio(duration_s: float, sound_times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = int(np.ceil((duration_s + 1.0) * WORLD_RATE))
    # A quiet, slightly coloured noise bed (a room), then the sounds.
    bed = rng.normal(0, 1, n).astype(np.float32)
    bed = np.convolve(bed, np.ones(8, np.float32) / 8, mode="same") * 0.01
    out = bed
    for t in sound_times:
        kind = rng.integers(3)
        length = int(WORLD_RATE * rng.uniform(0.05, 0.25))
        tt = np.arange(length) / WORLD_RATE
        env = np.exp(-tt / rng.uniform(0.02, 0.08)).astype(np.float32)
        if kind == 0:  # click / clap: a decaying noise burst
            s = rng.normal(0, 1, length) * env
        elif kind == 1:  # tone blip with two partials
            f = rng.uniform(300, 2500)
            s = (np.sin(2 * np.pi * f * tt) + 0.4 * np.sin(2 * np.pi * 2.7 * f * tt)) * env
        else:  # chirp
            f0, f1 = rng.uniform(300, 1500), rng.uniform(1500, 5000)
            phase = 2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * tt[-1] + 1e-9))
            s = np.sin(phase) * env
        i0 = int(t * WORLD_RATE)
        i1 = min(n, i0 + length)
        out[i0:i1] += (rng.uniform(0.2, 0.6) * s[: i1 - i0]).astype(np.float32)
    return out


def _world_time(camera: Camera, local_t: np.ndarray | float) -> np.ndarray | float:
    return camera.start_s + np.asarray(local_t) / (1.0 + camera.drift_ppm * 1e-6)


def camera_duration(scene: Scene, camera: Camera) -> float:
    """Length of the recording in the camera's own seconds."""
    end = scene.duration_s if camera.duration_s is None else min(scene.duration_s, camera.start_s + camera.duration_s)
    return max(0.0, end - camera.start_s) * (1.0 + camera.drift_ppm * 1e-6)


def render_frames(scene: Scene, camera: Camera, times: np.ndarray) -> np.ndarray:
    """Frames (n, h, w, 3) uint8 seen by ``camera`` at its local ``times`` (seconds)."""
    rng = np.random.default_rng(scene.seed * 7919 + 17)
    ww, wh = WORLD_SIZE
    cw, ch = camera.size
    x0, y0, x1, y1 = camera.crop
    # Camera pixel -> world pixel (nearest), fixed for the whole recording.
    xs = np.clip((x0 + (np.arange(cw) + 0.5) / cw * (x1 - x0)) * ww, 0, ww - 1).astype(int)
    ys = np.clip((y0 + (np.arange(ch) + 0.5) / ch * (y1 - y0)) * wh, 0, wh - 1).astype(int)
    bg = scene.background[ys[:, None], xs[None, :]]
    wx = xs.astype(np.float32)[None, :]
    wy = ys.astype(np.float32)[:, None]
    frames = np.empty((len(times), ch, cw, 3), np.uint8)
    for i, lt in enumerate(times):
        t = float(_world_time(camera, lt))
        img = bg.copy()
        inside = (t >= 0) & (t <= scene.duration_s)
        if inside:
            for (px, py), b in zip(scene.positions(t), scene.blocks):
                bw, bh = b["size"]
                mask = (np.abs(wx - px) < bw / 2) & (np.abs(wy - py) < bh / 2)
                img[mask] = b["color"]
            f = scene.flash(t)
            if f > 0.01:
                panel = (wx > ww * 0.82) & (wx < ww * 0.95) & (wy > wh * 0.08) & (wy < wh * 0.3)
                img[panel] += 150 * f
        else:
            img *= 0.2  # the world before it starts / after it ends: dark and still
        img = img * camera.gain + camera.bias
        if camera.pixel_noise > 0:
            img += rng.normal(0, camera.pixel_noise, img.shape[:2] + (1,)).astype(np.float32)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def render_audio(scene: Scene, camera: Camera, n_samples: int) -> np.ndarray:
    """Mono float32 samples heard by ``camera`` (its sample rate, clock and microphone)."""
    local = np.arange(n_samples) / camera.sample_rate
    world = np.asarray(_world_time(camera, local)) * WORLD_RATE
    src = scene.audio
    out = np.interp(world, np.arange(src.size), src, left=0.0, right=0.0).astype(np.float32)
    out *= camera.audio_gain
    if camera.audio_noise > 0:
        rng = np.random.default_rng(scene.seed * 104729 + int(camera.start_s * 1000) + 3)
        out += rng.normal(0, camera.audio_noise, n_samples).astype(np.float32)
    return np.clip(out, -1.0, 1.0)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int, channels: int = 1) -> Path:
    """16-bit PCM WAV; a mono signal is copied to every channel."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, axis=1)
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def record(scene: Scene, camera: Camera, path: str | os.PathLike[str]) -> Path:
    """Writes what ``camera`` recorded of ``scene`` to ``path`` (container from the extension:
    .mp4/.mkv/.mov for video, .wav/.mp3/.m4a/.flac for audio only)."""
    path = Path(path)
    duration = camera_duration(scene, camera)
    if duration <= 0.1:
        raise ValueError("the camera records less than 0.1 s of the scene")
    with tempfile.TemporaryDirectory(prefix="avsync-synth-") as tmp:
        maps: list[str] = []
        if camera.audio:
            wav = Path(tmp) / "a.wav"
            write_wav(wav, render_audio(scene, camera, int(round(duration * camera.sample_rate))), camera.sample_rate, camera.channels)
        with atomic_output(path) as out:
            cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y"]
            if camera.video:
                cw, ch = camera.size
                cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{cw}x{ch}", "-r", f"{camera.fps:.6f}", "-i", "-"]
                maps += ["-map", "0:v"]
            if camera.audio:
                cmd += ["-i", str(wav)]
                maps += ["-map", f"{len(maps) // 2}:a"]
            codecs: list[str] = []
            if camera.video:
                codecs += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(camera.crf), "-pix_fmt", "yuv420p", "-g", "50"]
            if camera.audio and path.suffix.lower() in (".mp4", ".mov", ".m4a", ".mkv"):
                codecs += ["-c:a", "aac", "-b:a", "160k"]
            with tempfile.TemporaryFile() as err:
                proc = subprocess.Popen([*cmd, *maps, *codecs, str(out)], stdin=subprocess.PIPE if camera.video else subprocess.DEVNULL, stderr=err)
                try:
                    if camera.video:
                        assert proc.stdin is not None
                        n_frames = int(np.floor(duration * camera.fps + 1e-9))
                        for first in range(0, n_frames, 50):
                            idx = np.arange(first, min(n_frames, first + 50))
                            proc.stdin.write(render_frames(scene, camera, idx / camera.fps).tobytes())
                        proc.stdin.close()
                finally:
                    code = proc.wait()
                if code != 0:
                    err.seek(0)
                    lines = err.read().decode("utf-8", "replace").strip().splitlines()
                    raise RuntimeError(f"ffmpeg could not write '{path}': {lines[-1] if lines else code}")
    return path


def make_cameras(
    output_dir: str | os.PathLike[str],
    offsets_s: list[float],
    *,
    duration_s: float = 20.0,
    seed: int = 0,
    cameras: list[Camera] | None = None,
    names: list[str] | None = None,
) -> list[Path]:
    """Records one scene with one camera per offset (camera i starts ``offsets_s[i]`` seconds after
    the first world second plus the smallest offset's margin). Returns the paths; the offsets of
    the files relative to the first one are exactly ``offsets_s[i] - offsets_s[0]``.

    ``cameras`` gives per-camera settings (their ``start_s`` is replaced); ``names`` the file names.
    """
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    margin = max(0.0, -min(offsets_s))
    scene = make_scene(duration_s + margin + max(0.0, max(offsets_s)), seed)
    paths = []
    for i, off in enumerate(offsets_s):
        cam = cameras[i] if cameras else Camera()
        cam = Camera(**{**cam.__dict__, "start_s": margin + off})
        name = names[i] if names else f"cam{i + 1}.mp4"
        paths.append(record(scene, cam, out / name))
    return paths
