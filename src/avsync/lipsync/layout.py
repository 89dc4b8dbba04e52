"""Writers for the SyncNet reference's output layout, and the ``--fix`` copy.

With ``data_dir`` and ``reference`` NAME:

- ``pywork/NAME/offsets.txt``: ``TRACK 0: OFFSET 3, CONF 10.021`` per track (and
  ``pywork/NAME/result.json``, the JSON of ``avsync lipsync``);
- ``pycrop/NAME/00000.avi``...: each track's 224x224 crops with its stretch of audio (when asked);
- ``pyavi/NAME/video_out.avi``: the video at 25 fps with each track's box and per-frame
  confidence drawn, and the audio. Drawing needs the confidences, known only at the end, so this
  one file decodes the video a second time.

Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
import wave
from pathlib import Path

import numpy as np

from avsync.lipsync.features import SAMPLE_RATE, SAMPLES_PER_VIDEO_FRAME, VIDEO_FPS
from avsync.lipsync.result import LipSyncResult
from avsync.media.ffmpeg import atomic_output, check_not_input, run_ffmpeg, write_text_atomic

SPEAKER_COLOUR = (255, 0, 255)  # BGR magenta, off the red-green confidence scale: the face speaking now


def _write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = np.clip(np.rint(np.asarray(samples, np.float64) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def _mux(video: Path, samples: np.ndarray, out: Path, what: str) -> None:
    """``video`` (copied) + ``samples`` (16-bit PCM) -> ``out``, atomically."""
    wav = video.with_suffix(".wav")
    try:
        _write_wav(wav, samples)
        with atomic_output(out) as tmp:
            run_ffmpeg(["-i", video, "-i", wav, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "pcm_s16le", tmp], what=what)
    finally:
        wav.unlink(missing_ok=True)


def write_layout(
    result: LipSyncResult,
    data_dir: str | os.PathLike[str],
    reference: str,
    *,
    audio: np.ndarray | None = None,
    crops_files: list[Path | None] | None = None,
    draw_video: bool = True,
    source_size: tuple[int, int] | None = None,
) -> dict[str, Path]:
    """Writes the SyncNet layout for ``result``; returns the paths written by kind."""
    if not reference or os.sep in reference or reference in (".", ".."):
        raise ValueError(f"--reference must be a plain name, got {reference!r}")
    root = Path(data_dir)
    check_not_input(root / "pywork" / reference / "offsets.txt", [result.video])
    written: dict[str, Path] = {}
    work = root / "pywork" / reference
    written["offsets"] = write_text_atomic(work / "offsets.txt", result.offsets_txt())
    written["result"] = write_text_atomic(work / "result.json", json.dumps(result.to_dict(), indent=2) + "\n")
    if crops_files and audio is not None:
        crop_dir = root / "pycrop" / reference
        for track, src in zip(result.tracks, crops_files):
            if src is None or not Path(src).is_file():
                continue
            out = crop_dir / f"{track.track:05d}.avi"
            lo, hi = track.start_frame * SAMPLES_PER_VIDEO_FRAME, (track.end_frame + 1) * SAMPLES_PER_VIDEO_FRAME
            _mux(Path(src), audio[lo:hi], out, what=f"'{result.video}': writing {out}")
            Path(src).unlink(missing_ok=True)
            written[f"crop{track.track}"] = out
    if draw_video and audio is not None:
        out = root / "pyavi" / reference / "video_out.avi"
        draw_tracks(result, out, audio, source_size=source_size)
        written["video_out"] = out
    return written


def draw_tracks(result: LipSyncResult, out: str | os.PathLike[str], audio: np.ndarray, *, source_size: tuple[int, int] | None = None, max_side: int = 1280) -> Path:
    """The video at 25 fps (at most ``max_side`` pixels wide or high) with every track's box,
    coloured from red (confidence 0) to green (10 or more), and its per-frame confidence; with
    ``result.speakers``, the current speaker's box thick and magenta, marked "speaking"."""
    import cv2

    from avsync.lipsync.pipeline import frames_at_25fps, working_size
    from avsync.media.video import iter_frames, video_info

    if source_size is None:
        info = video_info(result.video)
        source_size = (int(info["source_width"]), int(info["source_height"]))
    w, h = working_size(*source_size, max_side)
    scale = w / source_size[0]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    silent = out.with_name(f".{out.stem}.video.avi")
    writer = cv2.VideoWriter(os.fspath(silent), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (w, h))
    speaking = result.speakers.frame_speakers() if result.speakers is not None else None
    try:
        for k, frame, _ in frames_at_25fps(iter_frames(result.video, w, h, rgb=True)):
            img = np.ascontiguousarray(frame[..., ::-1])
            for t in result.tracks:
                if not t.start_frame <= k <= t.end_frame:
                    continue
                i = k - t.start_frame
                conf = float(t.framewise_confidence[min(i, len(t.framewise_confidence) - 1)]) if len(t.framewise_confidence) else t.confidence
                g = int(np.clip(conf * 25.5, 0, 255))
                x1, y1, x2, y2 = (t.boxes[i] * scale).astype(int)
                active = speaking is not None and k < len(speaking) and speaking[k] == t.track
                colour = SPEAKER_COLOUR if active else (0, g, 255 - g)
                cv2.rectangle(img, (x1, y1), (x2, y2), colour, 5 if active else 2)
                label = f"track {t.track} conf {conf:.2f}" + (" speaking" if active else "")
                cv2.putText(img, label, (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
            writer.write(img)
    finally:
        writer.release()
    try:
        _mux(silent, audio[: result.frames * SAMPLES_PER_VIDEO_FRAME], out, what=f"'{result.video}': writing {out}")
    finally:
        silent.unlink(missing_ok=True)
    return out


def write_fixed(path: str | os.PathLike[str], offset_frames: int, output: str | os.PathLike[str], *, fps: float = VIDEO_FPS) -> Path:
    """A copy of ``path`` whose audio is shifted to undo ``offset_frames`` (SyncNet's sign:
    positive means the audio comes first, so it is delayed). The video stream is copied, the
    audio re-encoded (AAC in MP4, Opus in WebM, 16-bit PCM otherwise) and padded or trimmed to
    keep its length. Never writes over the input."""
    src, dst = Path(path), Path(output)
    if not src.is_file():
        from avsync.errors import MediaError

        raise MediaError(f"'{path}': no such file")
    check_not_input(dst, [src])
    from avsync.media.probe import probe

    info = probe(src)
    if not info["has_audio"]:
        from avsync.errors import NoStreamError

        raise NoStreamError(f"'{path}': no audio stream to shift")
    audio = next((s for s in info["streams"] if s.get("type") == "audio" and s.get("duration_s")), None)
    duration = float(audio["duration_s"]) if audio else float(info["duration_s"])
    delay_s = offset_frames / fps
    if delay_s >= 0:
        shift = f"adelay=delays={round(delay_s * 1000)}:all=1"
    else:
        shift = f"atrim=start={-delay_s:.6f},asetpts=PTS-STARTPTS"
    # The same length as before: pad with silence, then cut at the original duration.
    chain = f"{shift},apad=whole_dur={duration:.6f},atrim=duration={duration:.6f}"
    with atomic_output(dst) as tmp:
        run_ffmpeg(
            ["-i", src, "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy", "-af", chain, *_audio_codec(dst), tmp],
            what=f"'{path}': writing the corrected copy {output}",
        )
    return dst


def _audio_codec(dst: Path) -> list[str]:
    """AAC where MP4-family players expect it; 16-bit PCM elsewhere (no encoder delay to shift
    the audio again)."""
    ext = dst.suffix.lower()
    if ext in (".mp4", ".m4v", ".3gp"):
        return ["-c:a", "aac", "-b:a", "192k"]
    if ext == ".webm":
        return ["-c:a", "libopus"]
    return ["-c:a", "pcm_s16le"]


__all__ = ["write_layout", "draw_tracks", "write_fixed"]
