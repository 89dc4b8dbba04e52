"""The SyncNet network (Chung & Zisserman, 2016), with a configurable size.

Two towers map 0.2 s of audio (20 MFCC frames x 13 coefficients) and of video (5 face crops,
224x224, BGR, 0-255) to embeddings that are close when lips and sound are in sync. With the
default :class:`SyncNetConfig` the layers, their order and their parameter names are those of the
official ``syncnet_v2.model``, so that file loads unchanged (102 tensors). Smaller configurations
(fewer channels, smaller crops) share the code, for training (``avsync train-syncnet``).

>>> from avsync.lipsync.model import SyncNet, SyncNetConfig
>>> net = SyncNet()                                   # doctest: +SKIP
>>> len(net.state_dict())                             # doctest: +SKIP
102
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

#: git blob id (``git hash-object``) of the official syncnet_v2.model
OFFICIAL_SYNCNET_BLOB = "d714bbf3b30324ced69e3815fc41ae6dc519303c"
#: the first hex digits of the official sfd_face.pth's git blob id (all that public forks record)
OFFICIAL_S3FD_BLOB_PREFIX = "2bdf053a"

_CHECKPOINT_FORMAT = "avsync-syncnet"


@dataclass(frozen=True)
class SyncNetConfig:
    """Size of a SyncNet. The defaults are the official network's.

    ``width`` multiplies every convolution's and hidden layer's channel count (the official
    channels are 64-192-384-256-256-512 for audio and 96-256-256-256-256-512 for video);
    ``image_size`` is the side of the square network input; ``embed_dim`` the embedding size.
    ``crop_region`` is the part of the 224x224 face crop the network sees, ``(x0, y0, x1, y1)`` in
    fractions of its side, resized to ``image_size`` (the official network sees the whole crop).

    >>> SyncNetConfig.small().crop_region
    (0.2, 0.35, 0.8, 0.95)
    """

    width: float = 1.0
    image_size: int = 224
    embed_dim: int = 1024
    n_mfcc: int = 13
    mfcc_window: int = 20
    video_frames: int = 5
    crop_region: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        region = tuple(float(v) for v in self.crop_region)
        if len(region) != 4 or not (0 <= region[0] < region[2] <= 1 and 0 <= region[1] < region[3] <= 1):
            raise ValueError(f"crop_region must be (x0, y0, x1, y1) with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {self.crop_region}")
        object.__setattr__(self, "crop_region", region)  # a list from a checkpoint becomes a tuple

    @classmethod
    def small(cls) -> SyncNetConfig:
        """A quarter of the channels, on a 64-pixel square around the mouth (the middle 60 % of the
        face crop's width, from 35 % to 95 % of its height): about 50 times cheaper than the
        official network, for training on a CPU. Seen whole at this size, the mouth is a few
        pixels and the network did not learn in the time budget; cut out, it learns in a minute."""
        return cls(width=0.25, image_size=64, embed_dim=128, crop_region=(0.2, 0.35, 0.8, 0.95))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["crop_region"] = list(self.crop_region)
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyncNetConfig:
        """The inverse of :meth:`to_dict`; keys missing from older checkpoints take their defaults."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown SyncNet configuration keys: {sorted(unknown)}")
        return cls(**values)

    @property
    def is_official(self) -> bool:
        return self == SyncNetConfig()


def _ch(n: int, width: float) -> int:
    return max(8, int(round(n * width)))


def _conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


class SyncNet(nn.Module):
    """The two SyncNet towers. Parameter names follow the official model: ``netcnnaud``,
    ``netfcaud``, ``netcnnlip``, ``netfclip`` (Sequential indices included)."""

    def __init__(self, config: SyncNetConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or SyncNetConfig()
        w = cfg.width
        a = [_ch(c, w) for c in (64, 192, 384, 256, 256, 512)]
        v = [_ch(c, w) for c in (96, 256, 256, 256, 256, 512)]
        hidden = _ch(512, w)

        # Audio: 13 x 20 MFCC map. The last convolution covers what is left of it (5 x 4 for the
        # official input), so the tower ends in a single 1x1 position.
        h = _conv_out(_conv_out(cfg.n_mfcc, 3, 1), 3, 2)
        t = _conv_out(_conv_out(cfg.mfcc_window, 3, 2), 3, 2)
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, a[0], 3, 1, 1), nn.BatchNorm2d(a[0]), nn.ReLU(inplace=True),
            nn.MaxPool2d(1, 1),
            nn.Conv2d(a[0], a[1], 3, 1, 1), nn.BatchNorm2d(a[1]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, (1, 2)),
            nn.Conv2d(a[1], a[2], 3, padding=1), nn.BatchNorm2d(a[2]), nn.ReLU(inplace=True),
            nn.Conv2d(a[2], a[3], 3, padding=1), nn.BatchNorm2d(a[3]), nn.ReLU(inplace=True),
            nn.Conv2d(a[3], a[4], 3, padding=1), nn.BatchNorm2d(a[4]), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(a[4], a[5], (h, t)), nn.BatchNorm2d(a[5]), nn.ReLU(),
        )  # fmt: skip
        self.netfcaud = nn.Sequential(nn.Linear(a[5], hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, cfg.embed_dim))

        # Registered before netcnnlip, as in the official model (state-dict order).
        self.netfclip = nn.Sequential(nn.Linear(v[5], hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, cfg.embed_dim))

        # Video: 3 x 5 x S x S. The first convolution spans the 5 frames; the rest work per frame.
        s = _conv_out(cfg.image_size, 7, 2)
        s = _conv_out(s, 3, 2)
        s = _conv_out(s, 5, 2, 1)
        s = _conv_out(s, 3, 2, 1)
        s = _conv_out(s, 3, 2)
        if s < 1:
            raise ValueError(f"image_size {cfg.image_size} is too small for SyncNet's video tower")
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, v[0], (cfg.video_frames, 7, 7), (1, 2, 2), 0), nn.BatchNorm3d(v[0]), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(v[0], v[1], (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(v[1]), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            nn.Conv3d(v[1], v[2], (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(v[2]), nn.ReLU(inplace=True),
            nn.Conv3d(v[2], v[3], (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(v[3]), nn.ReLU(inplace=True),
            nn.Conv3d(v[3], v[4], (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(v[4]), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(v[4], v[5], (1, s, s), padding=0), nn.BatchNorm3d(v[5]), nn.ReLU(inplace=True),
        )  # fmt: skip

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, n_mfcc, mfcc_window)`` MFCC windows -> ``(N, embed_dim)``."""
        mid = self.netcnnaud(x)
        return self.netfcaud(mid.reshape(mid.shape[0], -1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, video_frames, S, S)`` BGR 0-255 crops -> ``(N, embed_dim)``."""
        mid = self.netcnnlip(x)
        return self.netfclip(mid.reshape(mid.shape[0], -1))

    def forward_lip_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """``(3, T, S, S)`` consecutive crops -> ``(T - video_frames + 1, embed_dim)``: the
        embedding of every 5-frame window, computed as one temporal convolution (each frame is
        read once instead of five times; the arithmetic per window is the same)."""
        mid = self.netcnnlip(x.unsqueeze(0))  # (1, C, T-4, 1, 1)
        mid = mid[0, :, :, 0, 0].transpose(0, 1)
        return self.netfclip(mid)

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_aud(audio), self.forward_lip(video)


def git_blob_id(path: str | os.PathLike[str]) -> str:
    """``git hash-object PATH``: SHA-1 of ``b"blob <size>\\0"`` followed by the file's bytes."""
    p = Path(path)
    digest = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
    with p.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class WeightsInfo:
    """Where a model came from: ``official`` is True only for the official syncnet_v2.model,
    recognised by its git blob id."""

    path: str
    git_blob_id: str
    official: bool
    config: SyncNetConfig

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "git_blob_id": self.git_blob_id, "official": self.official}


def _strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    # Tolerate state dicts saved from a wrapper (SyncNetInstance's "__S__.", DataParallel's "module.").
    for prefix in ("__S__.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def load_syncnet(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[SyncNet, WeightsInfo]:
    """Loads SyncNet weights: the official ``syncnet_v2.model`` (a bare state dict), or an avsync
    checkpoint ``{"format": "avsync-syncnet", "config": {...}, "state_dict": {...}}`` that records
    its size. Returns the network in eval mode on ``device`` and where it came from.

    Nothing is downloaded; the file is read with ``torch.load(weights_only=True)`` (tensors only,
    no code). Raises FileNotFoundError or ValueError with a one-line reason.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"'{path}': SyncNet weights not found (the official file is syncnet_v2.model; avsync downloads nothing)")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is "not a weights file"
        raise ValueError(f"'{path}': not a PyTorch weights file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    config = SyncNetConfig()
    if isinstance(obj, dict) and obj.get("format") == _CHECKPOINT_FORMAT:
        try:
            config = SyncNetConfig.from_dict(dict(obj.get("config") or {}))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'{path}': bad SyncNet configuration ({exc})") from None
        state = obj["state_dict"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        state = obj["state_dict"]
    else:
        state = obj
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"'{path}': not a SyncNet state dict")
    state = _strip_prefixes(dict(state))
    net = SyncNet(config)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"'{path}': not a SyncNet of this configuration ({len(missing)} missing and {len(unexpected)} unexpected "
            f"parameters, e.g. {(missing or unexpected)[0]!r})"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(f"'{path}': parameter {key} has shape {tuple(value.shape)}, expected {tuple(expected[key].shape)}")
    net.load_state_dict(state, strict=False)
    net.eval().to(device)
    blob = git_blob_id(p)
    info = WeightsInfo(path=os.fspath(path), git_blob_id=blob, official=blob == OFFICIAL_SYNCNET_BLOB, config=config)
    if not info.official:
        log.info("%s is not the official syncnet_v2.model (git blob %s)", path, blob)
    return net, info


def save_syncnet(net: SyncNet, path: str | os.PathLike[str], *, official_format: bool | None = None) -> Path:
    """Saves weights atomically. The official configuration is saved as a bare state dict, the
    format of ``syncnet_v2.model`` (so the reference implementation loads it too); other sizes as
    an avsync checkpoint that records the configuration."""
    from avsync.media.ffmpeg import atomic_output

    bare = net.config.is_official if official_format is None else official_format
    if bare and not net.config.is_official:
        raise ValueError("only the official SyncNet size can be saved in the official format")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    obj: Any = state if bare else {"format": _CHECKPOINT_FORMAT, "config": net.config.to_dict(), "state_dict": state}
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def random_syncnet(seed: int = 0, config: SyncNetConfig | None = None) -> SyncNet:
    """A SyncNet with seeded random weights and non-trivial batch-norm statistics: for tests and
    benchmarks, where the official weights are not at hand."""
    gen = torch.Generator().manual_seed(seed)
    net = SyncNet(config)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) * 0.5 + 0.75)
            elif name.endswith("running_mean"):
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05)
            elif tensor.dim() > 1:  # convolution and linear weights: He initialisation
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.05 + (1.0 if name.endswith("weight") else 0.0))
        # Batch-norm statistics from one batch of noise shaped like real inputs, so activations
        # and distances stay in a sane range (as in a trained network) rather than exploding.
        cfg = net.config
        bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one thread: the same sums in the same order, the same file every time
        try:
            net.forward_aud(torch.randn((8, 1, cfg.n_mfcc, cfg.mfcc_window), generator=gen) * 10.0)
            net.forward_lip(torch.rand((4, 3, cfg.video_frames, cfg.image_size, cfg.image_size), generator=gen) * 255.0)
        finally:
            torch.set_num_threads(threads)
        for m in bns:
            m.momentum = 0.1
            m.num_batches_tracked.zero_()
    return net.eval()


def _fold_batch_norm(seq: nn.Sequential) -> nn.Sequential:
    """A copy of ``seq`` with each convolution's following batch norm folded into its weights."""
    import copy

    layers: list[nn.Module] = []
    mods = list(seq)
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, (nn.Conv2d, nn.Conv3d)) and i + 1 < len(mods) and isinstance(mods[i + 1], (nn.BatchNorm2d, nn.BatchNorm3d)):
            bn, conv = mods[i + 1], copy.deepcopy(m)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            with torch.no_grad():
                conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.dim() - 1))))
                conv.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
            layers.append(conv)
            i += 2
        else:
            layers.append(m)
            i += 1
    return nn.Sequential(*layers).eval()


class InferenceSyncNet:
    """An inference-only view of a :class:`SyncNet` for the CPU: batch norms folded into the
    convolutions and the video tower in oneDNN (MKLDNN) layout, about 1.5x faster here. Results
    differ from the plain network by float rounding only (about 1e-6 relative)."""

    def __init__(self, net: SyncNet) -> None:
        self.config = net.config
        self._aud = _fold_batch_norm(net.netcnnaud)
        self._lip = _fold_batch_norm(net.netcnnlip)
        self._mkldnn = False
        if torch.backends.mkldnn.is_available():
            import warnings

            try:
                # torch.utils.mkldnn is built on torch.jit.script_method, deprecated since
                # torch 2.10: its import warns; without it the folded network runs as it is.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    from torch.utils import mkldnn
                self._lip = mkldnn.to_mkldnn(self._lip)
                self._mkldnn = True
            except (ImportError, RuntimeError, AttributeError):  # pragma: no cover - depends on the torch build
                pass
        self.netfcaud, self.netfclip = net.netfcaud, net.netfclip

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        mid = self._aud(x)
        return self.netfcaud(mid.reshape(mid.shape[0], -1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        mid = self._lip(x.to_mkldnn()).to_dense() if self._mkldnn else self._lip(x)
        return self.netfclip(mid.reshape(mid.shape[0], -1))
