"""Training and fine-tuning SyncNet, as in Chung & Zisserman (2016): a contrastive loss with a
margin on pairs of a 5-frame face-crop window and a 0.2 s MFCC window, in sync (pulled together)
or shifted (pushed at least ``margin`` apart).

The pairwise loss (divided by margin², so that it is of order one; weight
``contrastive_weight``) is joined by a multi-way term (:func:`shift_cross_entropy`, weight
``sync_weight``): each video window against the audio windows at every candidate shift, a
softmax over negative distances, cross-entropy on the true shift (the offset search of
``avsync lipsync`` as a classification, as in Chung et al.'s later "Perfect Match").

What made the small network learn was its input, not the loss (measured on generated faces,
held-out offsets within ±1 frame): on whole face crops, where the mouth is a few pixels wide,
it was at chance after 420 steps at 112 pixels, and at 64 pixels after 200 steps with both
terms, or at 68 % after 300 with the multi-way term alone; on a 64-pixel square around the
mouth (:meth:`SyncNetConfig.small <avsync.lipsync.model.SyncNetConfig.small>`) the contrastive
loss alone, the multi-way term alone and both together reached 100 % in 150, 120 and 90 steps
(under a minute on 2 CPU cores).

Each step takes a few stretches of consecutive video windows and, for each, the audio windows up
to ``max_shift`` frames either side: the synced pairs are the positives; the same clip's shifted
windows (the negatives that teach the offset) and the other clips' audio (unrelated speech) are
the negatives. The two towers and the layers are those of :mod:`avsync.lipsync.model`; the
``full`` size saves the official state-dict format (``avsync lipsync --weights`` and the
reference implementation load it like ``syncnet_v2.model``), the ``small`` one an avsync
checkpoint that records its configuration.

While it trains, a held-out set of clips, each with its audio shifted by a known number of
frames in [-10, 10], is scored exactly as ``avsync lipsync`` scores a track: the held-out sync
accuracy is the share whose offset comes out within one frame. The output is the model with the
best held-out accuracy (then the smallest mean error). State is saved to ``OUTPUT.resume``
every minute (and on Ctrl-C): the same command resumes where it stopped.

>>> from avsync.lipsync.train import TrainOptions, train_syncnet
>>> report = train_syncnet("faces/crops", "small.pt", cropped=True, options=TrainOptions(minutes=10))  # doctest: +SKIP
>>> report.val_accuracy                                                                             # doctest: +SKIP
0.95
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avsync.lipsync.model import SyncNet, SyncNetConfig, load_syncnet, save_syncnet
from avsync.lipsync.trainset import PairBatch, PairSampler, TrainClip, list_videos, load_clips, read_offsets

log = logging.getLogger(__name__)

_RESUME_FORMAT = "avsync-syncnet-train"
SIZES = ("small", "full")
VAL_MAX_SHIFT = 10  # held-out clips are shifted by up to this many frames
VAL_TOLERANCE = 1  # an offset within this many frames counts as right


@dataclass
class TrainOptions:
    """How to train. ``minutes`` and ``steps`` both bound the run (whichever comes first; with
    ``steps`` only, a seed gives the same weights bit for bit in every run on one machine with
    the same number of threads; other thread counts round differently). ``size``: ``small``,
    ``full`` or None (the ``init`` checkpoint's size, else small)."""

    size: str | None = None
    minutes: float | None = 10.0
    steps: int | None = None
    batch: int = 6  # stretches of ``span`` video windows per step
    span: int = 16
    max_shift: int = 10  # audio windows up to this many frames either side of each stretch
    margin: float = 15.0
    contrastive_weight: float = 1.0  # weight of the paper's contrastive loss (divided by margin²)
    sync_weight: float = 1.0  # weight of the multi-way offset term (shift_cross_entropy)
    lr: float = 1e-3
    clip_grad: float = 5.0  # gradient norm clipping (0: none)
    weight_decay: float = 1e-4
    seed: int = 0
    device: str | None = "auto"
    val_fraction: float = 0.15
    val_every: int = 100  # steps
    checkpoint_every_s: float = 60.0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.size is not None and self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if self.minutes is None and self.steps is None:
            raise ValueError("give a time budget (minutes) or a number of steps")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.batch < 2 or self.span < 1 or self.max_shift < 3:
            raise ValueError("batch must be >= 2, span >= 1 and max_shift >= 3")
        if self.contrastive_weight < 0 or self.sync_weight < 0 or self.contrastive_weight + self.sync_weight == 0:
            raise ValueError("the loss weights must be >= 0 and not both 0")
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def signature(self) -> dict[str, Any]:
        """What a resumed run must share with the interrupted one."""
        keys = ("batch", "span", "max_shift", "margin", "contrastive_weight", "sync_weight", "lr", "clip_grad", "weight_decay", "seed",
                "val_fraction")
        return {k: getattr(self, k) for k in keys}


@dataclass
class TrainReport:
    output: str
    config: dict[str, Any]
    steps: int
    train_seconds: float
    val_clips: int
    val_accuracy: float | None
    best_step: int | None
    resumed_from: int = 0
    history: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# Loss and evaluation


def contrastive_loss(video_emb: torch.Tensor, audio_emb: torch.Tensor, batch: PairBatch, span: int, margin: float,
                     other_weight: float = 0.5, min_negative_shift: int = 3) -> torch.Tensor:
    """SyncNet's contrastive loss, ``y d² + (1 - y) max(margin - d, 0)²``, averaged separately over
    the synced pairs, the same clip's pairs shifted by at least ``min_negative_shift`` frames
    and the other clips' pairs (weighted by ``other_weight``), so that the few positives weigh as
    much as the many negatives. Pairs shifted by less are left out: their 0.2 s audio windows
    overlap the synced one by more than half, so pushing them a margin away fights the
    positives (the offset search still resolves them: the distance is smallest at the true
    offset)."""
    d2 = (video_emb.pow(2).sum(1, keepdim=True) + audio_emb.pow(2).sum(1)[None, :] - 2 * video_emb @ audio_emb.T).clamp_min(0)
    n_video = video_emb.shape[0]
    device = video_emb.device
    positive = torch.as_tensor(batch.positive, device=device)
    stretch_of_video = torch.arange(n_video, device=device) // span
    owner = torch.as_tensor(batch.owner, device=device)
    same = stretch_of_video[:, None] == owner[None, :]
    shift = (torch.arange(audio_emb.shape[0], device=device)[None, :] - positive[:, None]).abs()  # meaningful where same
    is_positive = same & (shift == 0)
    hinge = torch.relu(margin - torch.sqrt(d2 + 1e-8)).pow(2)
    loss = d2[is_positive].mean() + hinge[same & (shift >= min_negative_shift)].mean()
    if other_weight > 0 and bool((~same).any()):
        loss = loss + other_weight * hinge[~same].mean()
    return loss


def shift_cross_entropy(video_emb: torch.Tensor, audio_emb: torch.Tensor, batch: PairBatch, span: int) -> torch.Tensor:
    """The offset search as a classification: for each video window, a softmax over its clip's
    audio windows at shifts -max_shift..+max_shift with logits ``-distance``, whose right answer
    is the synced one (a multi-way companion to the pairwise loss: it rewards exactly what
    ``avsync lipsync`` looks for, the smallest distance at the true offset)."""
    device = video_emb.device
    total = video_emb.new_zeros(())
    for k, (first, shift) in enumerate(zip(batch.first_audio, batch.shifts)):
        v = video_emb[k * span : (k + 1) * span]
        # (span, shifts, dim): audio window first + i + j for video window i and shift j. A sliding
        # view rather than an index tensor: gathering with repeated indices would sum the
        # gradients on several threads in a varying order, and training would not repeat.
        near = audio_emb[int(first) : int(first) + span + 2 * int(shift)].unfold(0, 2 * int(shift) + 1, 1).transpose(1, 2)
        d = torch.sqrt((v[:, None, :] - near).pow(2).sum(-1) + 1e-8)
        total = total + torch.nn.functional.cross_entropy(-d, torch.full((span,), int(shift), device=device))
    return total / len(batch.shifts)


def embed_batch(net: SyncNet, batch: PairBatch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings of every video window of the batch's stretches (in order) and of its audio."""
    video = torch.from_numpy(batch.video).to(device)
    mid = net.netcnnlip(video)  # (B, C, span, 1, 1): the first layer spans 5 frames, the rest work per window
    mid = mid[:, :, :, 0, 0].permute(0, 2, 1).reshape(-1, mid.shape[1])
    return net.netfclip(mid), net.forward_aud(torch.from_numpy(batch.audio).to(device))


@torch.no_grad()
def evaluate(net: SyncNet, clips: list[TrainClip], device: torch.device, vshift: int = 15) -> dict[str, Any]:
    """Scores each clip as ``avsync lipsync`` scores a track; returns the accuracy (offset within
    one frame of the clip's known offset), the mean absolute error and the per-clip results."""
    from avsync.lipsync.features import audio_windows
    from avsync.lipsync.scoring import SyncNetScorer, crops_to_tensor

    was_training = net.training
    scorer = SyncNetScorer(net, device=device, vshift=vshift, exact=True)
    results = []
    for clip in clips:
        count = scorer.windows_for(len(clip.frames), len(clip.audio))
        if count < 1:
            continue
        rgb = clip.frames[: count + 4, :, :, ::-1]  # already the network's input (crop region, size): used as it is
        video = crops_to_tensor(rgb, net.config.image_size).to(device)
        v = torch.cat([net.forward_lip_sequence(video[:, i : i + 104]) for i in range(0, count, 100)])[:count].float().cpu()
        a = net.forward_aud(torch.from_numpy(audio_windows(clip.features, count)).to(device)).float().cpu()
        score = scorer.score_embeddings(v, a)
        results.append({"clip": clip.name, "true": clip.offset_frames, "offset": score.offset_frames, "confidence": round(score.confidence, 3)})
    net.train(was_training)
    if not results:
        return {"accuracy": None, "mae": None, "clips": []}
    errors = np.array([abs(r["offset"] - r["true"]) for r in results])
    return {"accuracy": float((errors <= VAL_TOLERANCE).mean()), "mae": float(errors.mean()), "clips": results}


# ---------------------------------------------------------------------------------------------
# The training loop


def _split(paths: list[Path], fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    if fraction <= 0 or len(paths) < 3:
        return paths, []
    order = np.random.default_rng(seed).permutation(len(paths))
    n_val = max(1, int(round(fraction * len(paths))))
    val = {int(i) for i in order[:n_val]}
    return [p for i, p in enumerate(paths) if i not in val], [p for i, p in enumerate(paths) if i in val]


def _shift_for_validation(clips: list[TrainClip], seed: int) -> list[TrainClip]:
    """Each clip with its audio moved so that its offset is a random whole number of frames in
    [-10, 10] (clips that already have a known offset in that range are kept as they are)."""
    rng = np.random.default_rng(seed + 1000)
    out = []
    for c in clips:
        target = int(rng.integers(-VAL_MAX_SHIFT, VAL_MAX_SHIFT + 1))
        out.append(c if c.offset_frames != 0 and abs(c.offset_frames) <= VAL_MAX_SHIFT else c.shifted(target - c.offset_frames))
    return out


def _make_net(options: TrainOptions, init: str | os.PathLike[str] | None) -> SyncNet:
    if init is not None:
        net, info = load_syncnet(init)
        size = "full" if info.config.is_official else "small"
        if options.size is not None and options.size != size and not (options.size == "small" and not info.config.is_official):
            raise ValueError(f"'{init}' is a {size} SyncNet, not {options.size}: leave out --size to fine-tune it")
        return net
    return SyncNet(SyncNetConfig() if options.size == "full" else SyncNetConfig.small())


def _lr_factor(step: int, elapsed_s: float, options: TrainOptions) -> float:
    """Warm-up over 30 steps, then a cosine decay to 5 % over the budget (steps or minutes)."""
    warm = min(1.0, (step + 1) / 30)
    done = 0.0
    if options.steps:
        done = max(done, step / options.steps)
    if options.minutes:
        done = max(done, elapsed_s / (60 * options.minutes))
    return warm * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


def resume_path(output: str | os.PathLike[str]) -> Path:
    return Path(os.fspath(output) + ".resume")


def train_syncnet(
    videos: str | os.PathLike[str] | list[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    cropped: bool = False,
    val_videos: str | os.PathLike[str] | None = None,
    init: str | os.PathLike[str] | None = None,
    options: TrainOptions | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    detector: str = "centerface",
    s3fd_weights: str | None = None,
    fresh: bool = False,
) -> TrainReport:
    """Trains (or, with ``init``, fine-tunes) SyncNet on the videos in the folder ``videos`` (or a
    list of files) and writes the model to ``output``. ``cropped``: the videos are 224x224 face
    tracks; otherwise they go through the face pipeline first (tracks cached in ``cache_dir``,
    default ``OUTPUT.tracks``). ``val_videos``: held-out videos (default: ``val_fraction`` of
    ``videos``). An interrupted run resumes from ``OUTPUT.resume`` unless ``fresh``."""
    from avsync.lipsync.scoring import resolve_device
    from avsync.media.ffmpeg import atomic_output
    from avsync.progress import progress_bar

    options = options or TrainOptions()
    output = Path(output)
    if isinstance(videos, (list, tuple)):
        paths, folder = [Path(v) for v in videos], Path(videos[0]).parent if videos else Path(".")
    else:
        folder = Path(videos)
        paths = list_videos(folder)
    if not paths:
        raise ValueError(f"'{videos}': no videos to train on")
    if val_videos is not None:
        train_paths, val_paths = paths, list_videos(val_videos)
    else:
        train_paths, val_paths = _split(paths, options.val_fraction, options.seed)
    torch.manual_seed(options.seed)
    device = resolve_device(options.device)
    net = _make_net(options, init).to(device)
    config = net.config
    size = "full" if config.is_official else "small"

    offsets = read_offsets(folder)
    if val_videos is not None:
        offsets.update(read_offsets(val_videos))
    tracks = Path(cache_dir) if cache_dir else Path(os.fspath(output) + ".tracks")
    load = dict(cropped=cropped, offsets=offsets, cache_dir=tracks, detector=detector, s3fd_weights=s3fd_weights, progress=options.progress,
                crop_region=config.crop_region)
    train_clips = load_clips(train_paths, config.image_size, **load)
    val_clips = _shift_for_validation(load_clips(val_paths, config.image_size, **load), options.seed) if val_paths else []
    sampler = PairSampler(train_clips, span=options.span, max_shift=options.max_shift, seed=options.seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=options.lr, weight_decay=options.weight_decay)

    signature = {**options.signature(), "config": config.to_dict(), "init": os.fspath(init) if init else None,
                 "clips": [c.name for c in sampler.clips]}
    step, elapsed, history = 0, 0.0, []
    best: dict[str, Any] = {"accuracy": -1.0, "step": None, "state_dict": None}
    state_file = resume_path(output)
    resumed_from = 0
    if state_file.is_file() and not fresh:
        saved = torch.load(state_file, map_location="cpu", weights_only=True)
        if saved.get("format") != _RESUME_FORMAT or saved.get("signature") != signature:
            raise ValueError(f"'{state_file}' was saved by a run with other settings or data: delete it or start afresh (--fresh)")
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, elapsed, history, best = saved["step"], saved["elapsed_s"], saved["history"], saved["best"]
        sampler.rng.bit_generator.state = saved["numpy_rng"]
        torch.set_rng_state(saved["torch_rng"])
        resumed_from = step
        log.info("resuming %s from step %d (%.0f s trained)", output, step, elapsed)

    def save_state() -> None:
        obj = {"format": _RESUME_FORMAT, "signature": signature, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
               "step": step, "elapsed_s": elapsed, "history": history, "best": best,
               "numpy_rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state()}
        with atomic_output(state_file) as tmp:
            torch.save(obj, tmp)

    def validate() -> None:
        nonlocal best
        if not val_clips:
            return
        res = evaluate(net, val_clips, device)
        history.append({"step": step, "seconds": round(elapsed, 1), "loss": round(float(np.mean(recent)) if recent else float("nan"), 4),
                        "val_accuracy": res["accuracy"], "val_mae": res["mae"]})
        # The best accuracy, then the smallest mean error; on a tie the later (longer-trained) model.
        if res["accuracy"] is not None and (res["accuracy"], -res["mae"]) >= (best["accuracy"], -best.get("mae", math.inf)):
            best = {"accuracy": res["accuracy"], "mae": res["mae"], "step": step,
                    "state_dict": copy.deepcopy({k: v.cpu() for k, v in net.state_dict().items()})}

    def done() -> bool:
        return (options.steps is not None and step >= options.steps) or (options.minutes is not None and elapsed >= 60 * options.minutes)

    recent: list[float] = []
    net.train()
    last_save = time.monotonic()
    try:
        with progress_bar(options.steps, enabled=options.progress, desc=f"train-syncnet ({size})", unit="step", initial=step) as bar:
            while not done():
                t_start = time.monotonic()
                for group in optimizer.param_groups:
                    group["lr"] = options.lr * _lr_factor(step, elapsed, options)
                batch = sampler.sample(options.batch)
                video_emb, audio_emb = embed_batch(net, batch, device)
                loss = video_emb.new_zeros(())
                if options.contrastive_weight > 0:
                    pairwise = contrastive_loss(video_emb, audio_emb, batch, options.span, options.margin) / options.margin**2
                    loss = loss + options.contrastive_weight * pairwise
                if options.sync_weight > 0:
                    loss = loss + options.sync_weight * shift_cross_entropy(video_emb, audio_emb, batch, options.span)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if options.clip_grad > 0:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), options.clip_grad)
                optimizer.step()
                recent = (recent + [loss.item()])[-50:]
                step += 1
                elapsed += time.monotonic() - t_start
                if step % options.val_every == 0 or done():
                    validate()
                acc = best["accuracy"] if best["step"] is not None else None
                bar.set_postfix_str(f"loss {np.mean(recent):.3f}" + (f", held-out sync {history[-1]['val_accuracy']:.0%} (best {acc:.0%})" if history else ""))
                bar.update(1)
                if time.monotonic() - last_save > options.checkpoint_every_s:
                    save_state()
                    last_save = time.monotonic()
    except KeyboardInterrupt:
        save_state()
        log.warning("interrupted at step %d: state saved to %s (run the same command to resume)", step, state_file)
        raise
    if best["state_dict"] is not None:
        net.load_state_dict(best["state_dict"])
    save_syncnet(net.cpu(), output)
    state_file.unlink(missing_ok=True)
    return TrainReport(
        output=os.fspath(output), config=config.to_dict(), steps=step, train_seconds=round(elapsed, 1), val_clips=len(val_clips),
        val_accuracy=best["accuracy"] if best["step"] is not None else None, best_step=best["step"], resumed_from=resumed_from, history=history,
    )
