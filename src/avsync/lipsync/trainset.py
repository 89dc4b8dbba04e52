"""Training data for SyncNet: face tracks with their audio, and batches of synced/shifted pairs.

A :class:`TrainClip` is one face track at 25 fps: its crops as the network sees them (its
``crop_region`` of the face crop at its input size; BGR, the network's colour order) and the MFCCs of its audio, starting at the track's first frame. Clips
come from a folder of videos, either already cropped (224x224 face tracks, as
``evaluation.talking_faces`` writes to ``crops/``) or run through avsync's face pipeline (detect,
track, crop; cached). A ``truth.csv`` beside the videos (columns ``video`` or ``crops`` and
``offset_frames``, as ``evaluation.talking_faces`` writes) gives clips a known offset; other
clips are taken as in sync.

:class:`PairSampler` draws, for a step, a few stretches of consecutive video windows and, for
each, the audio windows from ``max_shift`` frames before to ``max_shift`` frames after: every
video window has one synced audio window (the positive pair) and many shifted ones, plus those
of the other clips in the batch (negatives).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avsync.lipsync.features import MFCC_PER_VIDEO_FRAME, SAMPLES_PER_VIDEO_FRAME, audio_windows, int16_scale, mfcc
from avsync.lipsync.scoring import FULL_CROP, network_crops

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v")
WINDOW = 5  # video frames per window
MFCC_WINDOW = 20  # MFCC frames per window (0.2 s)


@dataclass
class TrainClip:
    """One face track. Video window ``i`` (frames ``i .. i+4``) is in sync with audio window
    ``i - offset_frames`` (positive offset: the audio comes first, SyncNet's convention)."""

    name: str
    frames: np.ndarray  # (T, S, S, 3) uint8, BGR
    audio: np.ndarray  # 16 kHz mono float32, sample 0 with frame 0
    offset_frames: int = 0
    _features: np.ndarray | None = None

    @property
    def features(self) -> np.ndarray:
        """MFCCs ``(F, 13)`` float32 of the audio (computed once)."""
        if self._features is None:
            self._features = mfcc(int16_scale(self.audio)).astype(np.float32)
        return self._features

    @property
    def video_windows(self) -> int:
        return max(0, len(self.frames) - WINDOW + 1)

    @property
    def audio_windows(self) -> int:
        return max(0, (len(self.features) - MFCC_WINDOW) // MFCC_PER_VIDEO_FRAME + 1)

    def max_shift(self, span: int) -> int:
        """The largest shift for which some ``span`` consecutive video windows have all their
        audio windows (shifted by -shift..+shift) inside the clip; -1 if none."""
        for shift in range(64, -1, -1):
            if self.segment_starts(span, shift).size:
                return shift
        return -1

    def segment_starts(self, span: int, shift: int) -> np.ndarray:
        """First video windows ``v0`` of ``span``-window stretches whose audio windows
        ``v0 - offset - shift .. v0 - offset + span - 1 + shift`` all exist."""
        lo = max(0, self.offset_frames + shift)
        hi = min(self.video_windows - span, self.audio_windows - span - shift + self.offset_frames)
        return np.arange(lo, hi + 1) if hi >= lo else np.zeros(0, int)

    def shifted(self, frames: int) -> TrainClip:
        """The same clip with its audio moved ``frames`` earlier (positive) or later (negative),
        the same length (quiet noise fills the gap): its offset grows by ``frames``."""
        n = frames * SAMPLES_PER_VIDEO_FRAME
        rng = np.random.default_rng(abs(frames) + 7)
        fill = (rng.standard_normal(abs(n)) * 1e-4).astype(np.float32)
        a = self.audio
        audio = np.concatenate([a[n:], fill]) if n >= 0 else np.concatenate([fill, a[: a.size + n]])
        return TrainClip(self.name, self.frames, audio, self.offset_frames + frames)


# ---------------------------------------------------------------------------------------------
# Loading


def list_videos(folder: str | os.PathLike[str]) -> list[Path]:
    """The video files directly in ``folder``, sorted by name."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"'{folder}': no such folder")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))


def read_offsets(folder: str | os.PathLike[str]) -> dict[Path, int]:
    """Known offsets from a ``truth.csv`` in ``folder`` or its parent: resolved path -> frames."""
    out: dict[Path, int] = {}
    for base in (Path(folder), Path(folder).parent):
        table = base / "truth.csv"
        if not table.is_file():
            continue
        with table.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                if "offset_frames" not in row:
                    raise ValueError(f"'{table}': no offset_frames column")
                for col in ("video", "crops"):
                    for rel in (row.get(col) or "").split(";"):
                        if rel:
                            out[(base / rel).resolve()] = int(row["offset_frames"])
    return out


def load_cropped(path: str | os.PathLike[str], image_size: int, offset_frames: int = 0,
                 crop_region: tuple[float, float, float, float] = FULL_CROP) -> TrainClip:
    """A face-track video (224x224 crops, any frame rate) as a :class:`TrainClip`: frames resampled
    to 25 fps, cut and resized as the scorer does (``crop_region``, ``image_size``), audio lined up
    with the first frame (as ``avsync lipsync --cropped`` reads it)."""
    from avsync.lipsync.faces import CROP_SIZE
    from avsync.lipsync.pipeline import align_audio, frames_at_25fps, load_audio
    from avsync.media.video import iter_frames

    samples, audio_start = load_audio(path)
    frames, t0 = [], 0.0
    for _, frame, t0 in frames_at_25fps(iter_frames(path, CROP_SIZE, CROP_SIZE, rgb=True)):
        frames.append(network_crops(frame[None], image_size, crop_region)[0, :, :, ::-1])
    if not frames:
        raise ValueError(f"'{path}': no video frames")
    audio = align_audio(samples, audio_start, t0).astype(np.float32)
    return TrainClip(Path(path).stem, np.ascontiguousarray(np.stack(frames)), audio, int(offset_frames))


def extract_tracks(paths: Sequence[Path], cache_dir: Path, *, detector: str = "centerface", s3fd_weights: str | None = None,
                   min_track: int = 50, progress: bool = True) -> list[tuple[Path, Path]]:
    """Runs avsync's face pipeline on full-frame videos and keeps each face track's crops (with
    its audio) in ``cache_dir/pycrop/NAME/00000.avi`` ... (the SyncNet layout). Videos already
    done are skipped. Returns ``(track file, source video)`` pairs."""
    from avsync.lipsync import LipSync
    from avsync.lipsync.model import SyncNetConfig, random_syncnet
    from avsync.progress import progress_bar

    # The pipeline scores what it finds; a tiny random network keeps that cheap (ignored here).
    runner = LipSync(random_syncnet(0, SyncNetConfig(width=0.125, image_size=64, embed_dim=16)), detector=detector,
                     s3fd_weights=s3fd_weights, min_track=min_track)
    out: list[tuple[Path, Path]] = []
    with progress_bar(len(paths), enabled=progress, desc="face tracks", unit="video") as bar:
        for path in paths:
            name = _cache_name(path)
            done = cache_dir / "pywork" / name / "result.json"
            if not done.is_file():
                runner.run(path, data_dir=cache_dir, reference=name, save_crops=True, draw_video=False)
            out += [(p, path) for p in sorted((cache_dir / "pycrop" / name).glob("*.avi"))]
            bar.update(1)
    return out


def _cache_name(path: Path) -> str:
    import hashlib

    digest = hashlib.sha1(os.fspath(path.resolve()).encode()).hexdigest()[:8]
    return f"{path.stem}-{digest}"


def load_clips(paths: Sequence[Path], image_size: int, *, cropped: bool, offsets: dict[Path, int] | None = None,
               cache_dir: Path | None = None, detector: str = "centerface", s3fd_weights: str | None = None,
               progress: bool = True, crop_region: tuple[float, float, float, float] = FULL_CROP) -> list[TrainClip]:
    """Training clips from video files (see the module docstring)."""
    from avsync.progress import progress_bar

    offsets = offsets or {}
    sources: list[tuple[Path, Path]]
    if cropped:
        sources = [(p, p) for p in paths]
    else:
        if cache_dir is None:
            raise ValueError("full-frame videos need a cache folder for their face tracks")
        sources = extract_tracks(paths, cache_dir, detector=detector, s3fd_weights=s3fd_weights, progress=progress)
    clips = []
    with progress_bar(len(sources), enabled=progress, desc="loading clips", unit="clip") as bar:
        for track, source in sources:
            clip = load_cropped(track, image_size, offsets.get(source.resolve(), 0), crop_region)
            if track != source:
                clip.name = f"{source.stem}/{track.stem}"
            clips.append(clip)
            bar.update(1)
    return clips


# ---------------------------------------------------------------------------------------------
# Batches


@dataclass
class PairBatch:
    """``video``: ``(B, 3, span + 4, S, S)`` float32 BGR 0-255 (consecutive frames of B clips);
    ``audio``: ``(A, 1, 13, 20)`` MFCC windows of all B stretches one after the other;
    ``positive[b * span + i]``: the index in ``audio`` of video window ``i`` of stretch ``b``'s
    synced audio; ``owner[a]``: the stretch audio window ``a`` belongs to; ``shift[b * span + i, a]``
    (for the same stretch): the audio window's shift in frames relative to the synced one."""

    video: np.ndarray
    audio: np.ndarray
    positive: np.ndarray
    owner: np.ndarray
    first_audio: np.ndarray  # (B,) index of each stretch's first audio window in ``audio``
    shifts: np.ndarray  # (B,) max shift of each stretch


class PairSampler:
    """Draws :class:`PairBatch` es from ``clips`` with a seeded generator, with augmentation
    (brightness, contrast, mirror, a small zoom and shift of the crop, audio gain)."""

    def __init__(self, clips: Sequence[TrainClip], *, span: int = 16, max_shift: int = 15, seed: int = 0, augment: bool = True) -> None:
        self.span = int(span)
        self.clips: list[TrainClip] = []
        self.shift: list[int] = []
        for c in clips:
            s = min(max_shift, c.max_shift(self.span))
            if s < 3:
                log.warning("%s: too short for training (%d frames), skipped", c.name, len(c.frames))
                continue
            self.clips.append(c)
            self.shift.append(s)
        if not self.clips:
            raise ValueError(f"no clip is long enough to train on (each needs at least {self.span + WINDOW - 1 + 6} frames with audio)")
        self.rng = np.random.default_rng(seed)
        self.augment = augment

    def sample(self, batch: int) -> PairBatch:
        import cv2

        rng = self.rng
        picks = rng.integers(len(self.clips), size=batch)
        videos, audios, positive, owner, first, shifts = [], [], [], [], [], []
        n_audio = 0
        for b, k in enumerate(picks):
            clip, shift = self.clips[k], self.shift[k]
            starts = clip.segment_starts(self.span, shift)
            v0 = int(starts[rng.integers(starts.size)])
            frames = clip.frames[v0 : v0 + self.span + WINDOW - 1].astype(np.float32)
            a0 = v0 - clip.offset_frames - shift
            windows = audio_windows(clip.features[a0 * MFCC_PER_VIDEO_FRAME :], self.span + 2 * shift)
            if self.augment:
                frames = self._augment_video(frames, rng, cv2)
                windows = windows.copy()
                windows[:, 0, 0, :] += float(rng.uniform(-1.0, 1.0))  # the log energy: a louder or quieter recording
            videos.append(frames)
            audios.append(windows)
            positive += [n_audio + shift + i for i in range(self.span)]
            owner += [b] * len(windows)
            first.append(n_audio)
            shifts.append(shift)
            n_audio += len(windows)
        video = np.stack(videos).transpose(0, 4, 1, 2, 3)  # (B, 3, T, S, S)
        return PairBatch(np.ascontiguousarray(video), np.concatenate(audios), np.array(positive), np.array(owner), np.array(first), np.array(shifts))

    @staticmethod
    def _augment_video(frames: np.ndarray, rng: np.random.Generator, cv2) -> np.ndarray:  # noqa: ANN001
        size = frames.shape[1]
        zoom = rng.uniform(0.92, 1.08)
        dx, dy = rng.uniform(-0.04, 0.04, 2) * size
        m = cv2.getRotationMatrix2D((size / 2, size / 2), float(rng.uniform(-3, 3)), zoom)
        m[:, 2] += (dx, dy)
        out = np.stack([cv2.warpAffine(f, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for f in frames])
        if rng.random() < 0.5:
            out = out[:, :, ::-1]
        gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
        mean = out.mean()
        out = (out - mean) * rng.uniform(0.8, 1.2) + mean * gain + bias
        return np.clip(out, 0, 255)
