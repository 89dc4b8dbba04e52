"""SyncNet scores for one face track: offset, confidence, minimum distance, per-frame confidence.

The computation is the reference implementation's (joonson/syncnet_python, SyncNetInstance):
the embedding of every 5-frame video window is compared, by Euclidean distance, with the audio
embeddings of the same window shifted by -vshift..+vshift frames (zero embeddings past the ends);
the distances are averaged over the track per shift; the shift with the smallest mean distance
gives the offset (``offset = vshift - argmin``: positive when the audio comes before the video);
``confidence = median - min`` of the mean distances; the per-frame confidence is
``median(mean distances) - distance at the best shift`` smoothed by a 9-tap median filter.

Crops go in as avsync decodes them (RGB, uint8) and are fed to the network as the reference does
(BGR, 0-255 floats). Audio is 16 kHz mono float in [-1, 1], scaled to int16 values for the MFCCs.

>>> scorer = SyncNetScorer(net)                                  # doctest: +SKIP
>>> score = scorer.score_track(crops, audio)                     # doctest: +SKIP
>>> score.offset_frames, round(score.confidence, 3)              # doctest: +SKIP
(3, 10.021)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from avsync.lipsync.features import SAMPLES_PER_VIDEO_FRAME, audio_windows, int16_scale, mfcc
from avsync.lipsync.model import InferenceSyncNet, SyncNet

DEFAULT_VSHIFT = 15
DEFAULT_BATCH = 20
VIDEO_CONTEXT = 4  # a window of 5 frames starts 4 frames before its last


@dataclass
class SyncScore:
    """The scores of one track. ``distances[i, j]`` is the distance between video window ``i`` and
    audio window ``i + j - vshift``; ``framewise_confidence[i]`` belongs to the window starting at
    frame ``i`` of the track."""

    offset_frames: int
    confidence: float
    min_dist: float
    framewise_confidence: np.ndarray
    mean_distances: np.ndarray
    distances: np.ndarray = field(repr=False)
    vshift: int = DEFAULT_VSHIFT

    @property
    def windows(self) -> int:
        return int(self.framewise_confidence.size)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


FULL_CROP = (0.0, 0.0, 1.0, 1.0)


def network_crops(crops: np.ndarray, image_size: int = 224, crop_region: tuple[float, float, float, float] = FULL_CROP) -> np.ndarray:
    """``(T, H, W, 3)`` face crops -> ``(T, S, S, 3)``, what the network sees: the part
    ``crop_region`` (``(x0, y0, x1, y1)``, fractions of the side; see
    :class:`~avsync.lipsync.model.SyncNetConfig`) resized to ``image_size`` (area averaging).
    The whole crop at its own size comes back untouched."""
    arr = np.asarray(crops)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"face crops must be (frames, height, width, 3) RGB, got shape {arr.shape}")
    h, w = arr.shape[1:3]
    if tuple(crop_region) != FULL_CROP:
        x0, y0, x1, y1 = crop_region
        arr = arr[:, int(round(y0 * h)) : int(round(y1 * h)), int(round(x0 * w)) : int(round(x1 * w))]
    if arr.shape[1] != image_size or arr.shape[2] != image_size:
        import cv2

        arr = np.stack([cv2.resize(np.ascontiguousarray(c), (image_size, image_size), interpolation=cv2.INTER_AREA) for c in arr])
    return arr


def crops_to_tensor(crops: np.ndarray, image_size: int = 224, crop_region: tuple[float, float, float, float] = FULL_CROP) -> torch.Tensor:
    """``(T, H, W, 3)`` RGB uint8 -> ``(3, T, S, S)`` BGR float32 0-255, the network's layout
    (through :func:`network_crops`)."""
    arr = network_crops(crops, image_size, crop_region)
    bgr = torch.from_numpy(np.ascontiguousarray(arr[..., ::-1]))
    return bgr.permute(3, 0, 1, 2).float()


class LipEmbedder:
    """Video embeddings of a track fed a few crops at a time, so a long track never sits in memory:
    it keeps the last 4 crops as context and runs the video tower in batches of windows."""

    def __init__(self, scorer: SyncNetScorer, *, hold: bool = False) -> None:
        self.scorer = scorer
        self.hold = hold  # keep crops without running the network (until release())
        self._pending: list[np.ndarray] = []
        self._chunks: list[torch.Tensor] = []
        self.frames = 0

    def push(self, crop: np.ndarray) -> None:
        self._pending.append(crop)
        self.frames += 1
        if not self.hold and len(self._pending) >= self.scorer.batch_size + VIDEO_CONTEXT:
            self._flush()

    def release(self) -> None:
        """Starts running the network on the crops held so far and on the next ones."""
        self.hold = False
        while len(self._pending) >= self.scorer.batch_size + VIDEO_CONTEXT:
            head, rest = self._pending[: self.scorer.batch_size + VIDEO_CONTEXT], self._pending[self.scorer.batch_size + VIDEO_CONTEXT :]
            self._pending = head
            self._flush()
            self._pending += rest

    def _flush(self) -> None:
        if len(self._pending) > VIDEO_CONTEXT:
            self._chunks.append(self.scorer.embed_video(np.stack(self._pending)))
            self._pending = self._pending[-VIDEO_CONTEXT:]

    def finish(self) -> torch.Tensor:
        """Embeddings of every 5-frame window, ``(frames - 4, D)`` on the CPU."""
        self._flush()
        self._pending = []
        dim = self.scorer.net.config.embed_dim
        return torch.cat(self._chunks) if self._chunks else torch.zeros((0, dim))


class SyncNetScorer:
    """Runs a :class:`SyncNet` on face tracks. ``device`` is ``"cpu"``, ``"cuda"`` or ``"auto"``."""

    def __init__(
        self, net: SyncNet, *, device: str | torch.device | None = "cpu", batch_size: int = DEFAULT_BATCH, vshift: int = DEFAULT_VSHIFT, exact: bool = False
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if vshift < 1:
            raise ValueError(f"vshift must be a positive number of frames, got {vshift}")
        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.batch_size = int(batch_size)
        self.vshift = int(vshift)
        # On the CPU, a folded oneDNN copy runs faster; ``exact`` keeps the reference's arithmetic.
        self._run = self.net if exact or self.device.type != "cpu" else InferenceSyncNet(self.net)

    @torch.inference_mode()
    def embed_video(self, crops: np.ndarray) -> torch.Tensor:
        """Embeddings of the ``T - 4`` windows of ``T`` consecutive RGB crops, ``(T - 4, D)``."""
        video = crops_to_tensor(crops, self.net.config.image_size, self.net.config.crop_region)
        n = video.shape[1] - VIDEO_CONTEXT
        out = []
        for start in range(0, max(n, 0), self.batch_size):
            stop = min(n, start + self.batch_size)
            batch = torch.stack([video[:, i : i + VIDEO_CONTEXT + 1] for i in range(start, stop)])
            out.append(self._run.forward_lip(batch.to(self.device)).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, self.net.config.embed_dim))

    @torch.inference_mode()
    def embed_audio(self, samples: np.ndarray, count: int) -> torch.Tensor:
        """Embeddings of the audio windows of the first ``count`` video frames of ``samples`` (16 kHz
        mono; float in [-1, 1], or int16 values)."""
        x = np.asarray(samples)
        scaled = x.astype(np.float64) if x.dtype == np.int16 else int16_scale(x)
        windows = audio_windows(mfcc(scaled), count)
        out = []
        for start in range(0, count, self.batch_size):
            batch = torch.from_numpy(windows[start : start + self.batch_size]).to(self.device)
            out.append(self._run.forward_aud(batch).float().cpu())
        return torch.cat(out) if out else torch.zeros((0, self.net.config.embed_dim))

    def score_embeddings(self, video_emb: torch.Tensor, audio_emb: torch.Tensor) -> SyncScore:
        """Offset search over ``-vshift..vshift`` (the reference's ``calc_pdist`` and what follows)."""
        n = min(video_emb.shape[0], audio_emb.shape[0])
        if n < 1:
            raise ValueError("a face track needs at least 6 frames of video and audio to be scored")
        v, a = video_emb[:n].float(), audio_emb[:n].float()
        vs = self.vshift
        span = 2 * vs + 1
        padded = torch.nn.functional.pad(a, (0, 0, vs, vs))
        # dists[i, j] = || v[i] - padded[i + j] + eps ||, as torch.pairwise_distance computes it
        shifted = padded.unfold(0, span, 1)[:n].permute(0, 2, 1)  # (n, span, D)
        dists = torch.nn.functional.pairwise_distance(v[:, None, :].expand(-1, span, -1).reshape(-1, v.shape[1]), shifted.reshape(-1, v.shape[1]))
        dists = dists.reshape(n, span)
        mdist = dists.mean(0)
        minval, minidx = torch.min(mdist, 0)
        median = torch.median(mdist)
        from scipy.signal import medfilt

        fconf = (median - dists[:, minidx]).numpy().astype(np.float64)
        return SyncScore(
            offset_frames=int(vs - minidx),
            confidence=float(median - minval),
            min_dist=float(minval),
            framewise_confidence=medfilt(fconf, kernel_size=9),
            mean_distances=mdist.numpy(),
            distances=dists.numpy(),
            vshift=vs,
        )

    def windows_for(self, video_frames: int, audio_samples: int) -> int:
        """How many windows the reference scores: ``min(frames, samples // 640) - 5`` (one window
        fewer than would fit, as the reference does, kept for identical numbers)."""
        return min(video_frames, audio_samples // SAMPLES_PER_VIDEO_FRAME) - 5

    def score_track(self, crops: np.ndarray, audio: np.ndarray) -> SyncScore:
        """Scores one face track: ``crops`` ``(T, H, W, 3)`` RGB uint8 at 25 fps, whole face crops
        (the network's ``crop_region`` of them is resized to its input) and the track's audio (16 kHz mono, starting at
        the track's first frame)."""
        count = self.windows_for(len(crops), len(audio))
        if count < 1:
            raise ValueError(f"a face track needs at least 6 frames of video and audio to be scored, got {len(crops)} frames")
        video_emb = self.embed_video(np.asarray(crops)[: count + VIDEO_CONTEXT])
        return self.score_embeddings(video_emb, self.embed_audio(audio, count))
