"""The lip-sync pipeline: decode once, detect, track, crop and embed in memory, score per track.

Data flow (one pass over the video, nothing written to disk unless asked):

1. The audio is decoded whole (16 kHz mono, as ``ffmpeg -ac 1 -ar 16000``: small) and lined up
   with the video's first frame by the streams' start times.
2. Video frames are decoded in chunks (avsync's C++ decoder, RGB, at most ``max_side`` pixels on
   the long side) and resampled to 25 fps by their timestamps, variable frame rate included:
   output frame ``k`` is the last decoded frame shown at ``t0 + (k + 0.5) / 25``.
3. Each frame is shrunk by ``facedet_scale`` for the face detector and to a thumbnail for the
   shot-cut detector; the tracker links detections across frames.
4. A face's crop can be cut once the boxes 6 frames ahead are known (13-frame median
   smoothing): only the last ``max_gap + 8`` frames are kept, and crops go straight to SyncNet's
   video tower in batches. Memory does not grow with the video's length.
5. When a track ends it is kept if it has more than ``min_track`` detections and its mean box is
   larger than ``min_face_size``, then scored against its stretch of audio.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avsync.lipsync.faces import CROP_SIZE, DEFAULT_CROP_SCALE, crop_face
from avsync.lipsync.features import SAMPLE_RATE, SAMPLES_PER_VIDEO_FRAME, VIDEO_FPS
from avsync.lipsync.result import LipSyncResult, TrackResult
from avsync.lipsync.tracking import DEFAULT_MAX_GAP, SMOOTH_KERNEL, FaceTracker, ShotCutDetector, Track, smooth_boxes

log = logging.getLogger(__name__)

SMOOTH_HALF = SMOOTH_KERNEL // 2
THUMB_WIDTH = 128
CENTERFACE_LONG_SIDE = 480


@dataclass
class LipSyncOptions:
    """Settings of :func:`run_lipsync`, with the reference pipeline's meanings and defaults where
    it has them (``crop_scale`` 0.4, ``min_face_size`` 100 pixels, ``max_gap`` 25 frames,
    ``vshift`` 15, ``batch_size`` 20). ``min_track`` is 50 frames (2 s; the reference scripts use
    50 or 100) and ``min_face_size`` 50 pixels (the reference's 100 drops faces that CenterFace
    finds well in 640x360 footage). ``facedet_scale``: None picks 0.25 for S3FD, as the
    reference, and for CenterFace the scale that brings the long side to 480 pixels (never
    above 1): small faces in small videos are found, large videos stay cheap."""

    detector: str = "centerface"
    s3fd_weights: str | os.PathLike[str] | None = None
    centerface_model: str | os.PathLike[str] | None = None
    detect_threshold: float | None = None
    facedet_scale: float | None = None
    crop_scale: float = DEFAULT_CROP_SCALE
    min_track: int = 50
    min_face_size: float = 50.0
    max_gap: int = DEFAULT_MAX_GAP
    vshift: int = 15
    batch_size: int = 20
    device: str | None = "cpu"
    cropped: bool = False
    max_side: int = 1280
    progress: bool = False
    crops_dir: str | os.PathLike[str] | None = None  # write each kept track's crops here (MJPEG AVI, no audio)

    def __post_init__(self) -> None:
        if self.crop_scale < 0:
            raise ValueError(f"crop_scale must be >= 0, got {self.crop_scale}")
        if self.min_track < 1:
            raise ValueError(f"min_track must be at least 1 frame, got {self.min_track}")
        if self.min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0 pixels, got {self.min_face_size}")
        if self.facedet_scale is not None and not 0 < self.facedet_scale <= 1:
            raise ValueError(f"facedet_scale must be in (0, 1], got {self.facedet_scale}")
        if self.max_side < 64:
            raise ValueError(f"max_side must be at least 64 pixels, got {self.max_side}")

    def detection_scale(self, width: int, height: int) -> float:
        if self.facedet_scale is not None:
            return self.facedet_scale
        if self.detector == "s3fd":
            return 0.25
        return min(1.0, CENTERFACE_LONG_SIDE / max(width, height))


# ---------------------------------------------------------------------------------------------
# decoding


def load_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, float]:
    """16 kHz mono samples and the audio stream's start time; a one-line error naming the file
    when it has no audio."""
    from avsync.media.audio import read_audio_with_start

    samples, start = read_audio_with_start(path, SAMPLE_RATE)
    if samples.size == 0:
        from avsync.errors import InvalidDataError

        raise InvalidDataError(f"'{path}': the audio stream is empty")
    return samples, float(start)


def align_audio(samples: np.ndarray, audio_start_s: float, video_start_s: float) -> np.ndarray:
    """Shifts ``samples`` so that sample 0 plays with the first video frame (zeros where the
    audio starts later than the video)."""
    shift = int(round((video_start_s - audio_start_s) * SAMPLE_RATE))
    if shift >= 0:
        return samples[shift:]
    return np.concatenate([np.zeros(-shift, samples.dtype), samples])


def frames_at_25fps(chunks: Iterator[tuple[np.ndarray, np.ndarray]], fps: float = VIDEO_FPS) -> Iterator[tuple[int, np.ndarray, float]]:
    """Resamples decoded ``(frames, times_s)`` chunks to a constant ``fps``: yields ``(k, frame,
    t0)`` where output frame ``k`` is the last decoded frame whose time is at most
    ``t0 + (k + 0.5) / fps`` (``t0``: the first frame's time). Frames are repeated or dropped as
    a constant-rate encoder would; a 25 fps input passes through unchanged."""
    k = 0
    t0: float | None = None
    previous: np.ndarray | None = None
    last_time = 0.0
    for frames, times in chunks:
        for frame, t in zip(frames, times):
            t = float(t)
            if t0 is None:
                t0 = t
            # output frames that end before this one starts show the previous frame
            while previous is not None and t0 + (k + 0.5) / fps < t:
                yield k, previous, t0
                k += 1
            previous, last_time = frame, t
    if previous is not None and t0 is not None:
        while k <= (last_time - t0) * fps + 0.5:
            yield k, previous, t0
            k += 1


def working_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Decode size: the source's, shrunk (aspect kept, even sides) so the long side is at most
    ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


# ---------------------------------------------------------------------------------------------
# cropping tracks as they grow


class _TrackCropper:
    """Cuts one track's crops as soon as their smoothed boxes are final and feeds SyncNet."""

    def __init__(self, track: Track, embedder, scale: float, crop_scale: float, writer_path: Path | None) -> None:  # noqa: ANN001
        self.track = track
        self.embedder = embedder
        self.scale = scale  # source pixels -> working pixels
        self.crop_scale = crop_scale
        self.next_frame = track.start
        self.writer_path = writer_path
        self._writer = None

    def ready_until(self) -> int:
        return self.track.last if self.track.ended else self.track.last - SMOOTH_HALF

    def advance(self, frames: dict[int, np.ndarray]) -> None:
        stop = self.ready_until()
        if stop < self.next_frame:
            return
        # Smoothing a stretch with 6 frames of context either side (or the track's own end)
        # gives the same values as smoothing the whole track.
        lo = max(self.track.start, self.next_frame - SMOOTH_HALF)
        hi = min(self.track.last, stop + SMOOTH_HALF)
        geometry = smooth_boxes(self.track.boxes_between(lo, hi) * self.scale)
        for f in range(self.next_frame, stop + 1):
            cx, cy, half = geometry[f - lo]
            crop = crop_face(frames[f], cx, cy, half, self.crop_scale)
            self.embedder.push(crop)
            if self.writer_path is not None:
                self._write(crop)
        self.next_frame = stop + 1

    def _write(self, crop: np.ndarray) -> None:
        import cv2

        if self._writer is None:
            self.writer_path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(os.fspath(self.writer_path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (CROP_SIZE, CROP_SIZE))
        self._writer.write(np.ascontiguousarray(crop[..., ::-1]))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None


# ---------------------------------------------------------------------------------------------
# the pipeline


@dataclass
class PipelineOutput:
    """What :func:`run_lipsync` found, with what the layout writers need."""

    result: LipSyncResult
    audio: np.ndarray  # aligned 16 kHz audio
    source_size: tuple[int, int]
    crops_files: list[Path | None] = field(default_factory=list)


def run_lipsync(path: str | os.PathLike[str], scorer, options: LipSyncOptions, *, weights: dict | None = None, detector=None) -> PipelineOutput:  # noqa: ANN001
    """Runs the pipeline on ``path`` with a :class:`~avsync.lipsync.scoring.SyncNetScorer`."""
    from avsync.lipsync.scoring import LipEmbedder
    from avsync.media.video import iter_frames, video_info

    path = os.fspath(path)
    if not Path(path).is_file():
        from avsync.errors import MediaError

        raise MediaError(f"'{path}': no such file")
    info = video_info(path)
    src_w, src_h = int(info["source_width"]), int(info["source_height"])
    audio_raw, audio_start = load_audio(path)
    expected = int(round((info.get("duration_s") or 0) * VIDEO_FPS)) or None
    result = LipSyncResult(video=path, tracks=[], detector=options.detector, weights=weights or {}, source_fps=float(info.get("average_fps") or 0) or None, cropped=options.cropped)

    if options.cropped:
        work_w, work_h = CROP_SIZE, CROP_SIZE
    else:
        work_w, work_h = working_size(src_w, src_h, options.max_side)
        if detector is None:
            from avsync.lipsync.detectors import make_detector

            detector = make_detector(options.detector, s3fd_weights=options.s3fd_weights, centerface_model=options.centerface_model, threshold=options.detect_threshold, device=options.device)
    scale = work_w / src_w  # source pixels -> working pixels
    det_scale = options.detection_scale(src_w, src_h)
    det_size = (max(8, int(round(src_w * det_scale))), max(8, int(round(src_h * det_scale))))
    thumb_size = (THUMB_WIDTH, max(2, int(round(THUMB_WIDTH * src_h / src_w))))

    tracker = FaceTracker(max_gap=options.max_gap)
    shots = ShotCutDetector()
    croppers: dict[int, _TrackCropper] = {}
    buffer: dict[int, np.ndarray] = {}
    finished: list[_TrackCropper] = []
    crops_dir = Path(options.crops_dir) if options.crops_dir is not None else None
    t0 = 0.0
    frame_count = 0

    def new_cropper(track: Track) -> _TrackCropper:
        embedder = LipEmbedder(scorer, hold=True)  # no SyncNet work until the track is long enough to be kept
        writer = crops_dir / f".track{track.id:05d}.avi" if crops_dir is not None else None
        return _TrackCropper(track, embedder, scale, options.crop_scale, writer)

    def settle(ended: list[Track]) -> None:
        for t in tracker.active + ended:
            c = croppers.get(t.id)
            if c is None:
                c = croppers[t.id] = new_cropper(t)
            if c.embedder.hold and t.detections > options.min_track:
                c.embedder.release()
            c.advance(buffer)
        for t in ended:
            finished.append(croppers.pop(t.id))
        oldest = min((c.next_frame for c in croppers.values()), default=frame_count)
        for f in [f for f in buffer if f < oldest]:
            del buffer[f]

    from avsync.progress import progress_bar

    chunks = iter_frames(path, work_w, work_h, rgb=True)
    with progress_bar(total=expected, enabled=options.progress, unit="frame", desc=os.path.basename(path)) as bar:
        if options.cropped:
            embedder = LipEmbedder(scorer)
            for k, frame, t0 in frames_at_25fps(chunks):
                embedder.push(frame)
                frame_count = k + 1
                bar.update(1)
            if frame_count:
                track = Track(0, [0, frame_count - 1], [np.array([0, 0, src_w, src_h], float)] * 2)
                track.ended = True
                c = _TrackCropper(track, embedder, 1.0, options.crop_scale, None)
                c.next_frame = frame_count
                finished.append(c)
        else:
            import cv2

            for k, frame, t0 in frames_at_25fps(chunks):
                frame_count = k + 1
                buffer[k] = frame
                small = cv2.resize(frame, det_size, interpolation=cv2.INTER_AREA)
                dets = detector.detect(small)
                if len(dets):
                    dets = dets.copy()
                    dets[:, :4] *= np.array([src_w / det_size[0], src_h / det_size[1]] * 2, np.float32)
                ended = []
                if shots.push(cv2.resize(small, thumb_size, interpolation=cv2.INTER_AREA)):
                    ended += tracker.end_all()
                ended += tracker.update(k, dets)
                settle(ended)
                bar.update(1)
            settle(tracker.end_all())

    if frame_count == 0:
        from avsync.errors import InvalidDataError

        raise InvalidDataError(f"'{path}': no video frames could be decoded")
    result.frames = frame_count
    audio = align_audio(audio_raw, audio_start, t0)
    return _score_tracks(result, finished, audio, scorer, options, (src_w, src_h), crops_dir)


def _score_tracks(result: LipSyncResult, finished: list[_TrackCropper], audio: np.ndarray, scorer, options: LipSyncOptions, source_size: tuple[int, int], crops_dir: Path | None) -> PipelineOutput:  # noqa: ANN001
    kept: list[tuple[_TrackCropper, object]] = []
    for c in finished:
        c.close()
        t = c.track
        long_enough = options.cropped or (t.detections > options.min_track and t.mean_size() > options.min_face_size)
        first_sample = t.start * SAMPLES_PER_VIDEO_FRAME
        track_audio = audio[first_sample : (t.last + 1) * SAMPLES_PER_VIDEO_FRAME]
        count = scorer.windows_for(t.last - t.start + 1, len(track_audio))
        if not long_enough or count < 1:
            if c.writer_path is not None:
                c.writer_path.unlink(missing_ok=True)
            log.debug("dropped track %d: %d detections, mean size %.0f px", t.id, t.detections, t.mean_size() if t.frames else 0)
            continue
        c.embedder.release()
        video_emb = c.embedder.finish()
        score = scorer.score_embeddings(video_emb[:count], scorer.embed_audio(track_audio, count))
        kept.append((c, score))
    kept.sort(key=lambda cs: (cs[0].track.start, cs[0].track.id))
    files: list[Path | None] = []
    for index, (c, score) in enumerate(kept):
        t = c.track
        boxes = t.boxes_until(t.last)
        mean = boxes.mean(axis=0)
        result.tracks.append(
            TrackResult(
                track=index,
                offset_frames=score.offset_frames,
                confidence=score.confidence,
                min_dist=score.min_dist,
                start_frame=t.start,
                end_frame=t.last,
                mean_box=[float(mean[0]), float(mean[1]), float(mean[2] - mean[0]), float(mean[3] - mean[1])],
                framewise_confidence=score.framewise_confidence,
                boxes=boxes,
                detections=t.detections,
                distances=score.distances,
            )
        )
        files.append(c.writer_path)
    return PipelineOutput(result=result, audio=audio, source_size=source_size, crops_files=files)

