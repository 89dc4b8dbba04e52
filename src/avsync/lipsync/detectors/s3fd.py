"""S3FD (Zhang et al., 2017), the face detector of the SyncNet reference pipeline.

The network's layers and parameter names are those of the official ``sfd_face.pth`` (a VGG16
trunk ``vgg.*``, three L2-normalisation scales ``L2Norm{3,4,5}_3.weight``, ``extras.*``, and six
``loc.*`` / ``conf.*`` heads), so the user's copy loads unchanged. Post-processing follows the
reference: softmax scores, boxes decoded from anchors of 16-512 pixels on strides 4-128, NMS at
0.3 over the scores above 0.05, the reference's threshold (0.9 in its pipeline) and a final NMS at
0.1. The input is the RGB image minus the means (123, 117, 104).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avsync.lipsync.detectors import nms

_MEAN_RGB = np.array([123.0, 117.0, 104.0], np.float32)
_STEPS = (4, 8, 16, 32, 64, 128)
_MIN_SIZES = (16, 32, 64, 128, 256, 512)
_VARIANCE = (0.1, 0.2)

# VGG16 layout: numbers are convolution widths, "M" a 2x2 max-pool ("C" the same with ceil_mode),
# then the dilated fc6 and the 1x1 fc7 (indices as in the official state dict).
_VGG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512, "M", 512, 512, 512, "M"]


class L2Norm(nn.Module):
    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10
        return x / norm * self.weight.view(1, -1, 1, 1)


class S3FDNet(nn.Module):
    """The S3FD network: ``forward`` returns anchor box regressions ``(N, A, 4)`` and face
    probabilities ``(N, A)``, with the feature-map sizes."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in _VGG:
            if v in ("M", "C"):
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=v == "C"))
            else:
                layers += [nn.Conv2d(channels, int(v), 3, 1, padding=1), nn.ReLU(inplace=True)]
                channels = int(v)
        layers += [nn.Conv2d(512, 1024, 3, 1, padding=6, dilation=6), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(1024, 1024, 1, 1), nn.ReLU(inplace=True)]
        self.vgg = nn.ModuleList(layers)
        self.L2Norm3_3 = L2Norm(256, 10)
        self.L2Norm4_3 = L2Norm(512, 8)
        self.L2Norm5_3 = L2Norm(512, 5)
        self.extras = nn.ModuleList([nn.Conv2d(1024, 256, 1, 1), nn.Conv2d(256, 512, 3, 2, padding=1), nn.Conv2d(512, 128, 1, 1), nn.Conv2d(128, 256, 3, 2, padding=1)])
        source_channels = (256, 512, 512, 1024, 512, 256)
        self.loc = nn.ModuleList([nn.Conv2d(c, 4, 3, 1, padding=1) for c in source_channels])
        # The first head has 3 background scores (max-out) and one face score.
        self.conf = nn.ModuleList([nn.Conv2d(c, 4 if i == 0 else 2, 3, 1, padding=1) for i, c in enumerate(source_channels)])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]]]:
        sources = []
        start = 0
        # conv3_3, conv4_3 and conv5_3 (after their ReLU) feed normalised detection heads
        for stop, norm in ((16, self.L2Norm3_3), (23, self.L2Norm4_3), (30, self.L2Norm5_3)):
            for k in range(start, stop):
                x = self.vgg[k](x)
            sources.append(norm(x))
            start = stop
        for k in range(30, len(self.vgg)):
            x = self.vgg[k](x)
        sources.append(x)
        for k, layer in enumerate(self.extras):
            x = F.relu(layer(x), inplace=True)
            if k % 2 == 1:
                sources.append(x)
        locs, confs, sizes = [], [], []
        for i, src in enumerate(sources):
            loc = self.loc[i](src)
            conf = self.conf[i](src)
            if i == 0:
                conf = torch.cat([conf[:, :3].max(dim=1, keepdim=True).values, conf[:, 3:]], dim=1)
            sizes.append((int(loc.shape[2]), int(loc.shape[3])))
            locs.append(loc.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 4))
            confs.append(conf.permute(0, 2, 3, 1).reshape(x.shape[0], -1, 2))
        probs = torch.softmax(torch.cat(confs, 1), dim=-1)[..., 1]
        return torch.cat(locs, 1), probs, sizes


def anchors(image_size: tuple[int, int], feature_sizes: list[tuple[int, int]]) -> np.ndarray:
    """Anchor boxes ``(A, 4)`` as ``(cx, cy, w, h)`` fractions of the image, in the heads' order."""
    imh, imw = image_size
    out = []
    for (fh, fw), step, size in zip(feature_sizes, _STEPS, _MIN_SIZES):
        i, j = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx = (j.ravel() + 0.5) * step / imw
        cy = (i.ravel() + 0.5) * step / imh
        out.append(np.stack([cx, cy, np.full_like(cx, size / imw), np.full_like(cy, size / imh)], axis=1))
    return np.concatenate(out).astype(np.float32)


class S3FD:
    """S3FD detector on a device (``"cpu"``, ``"cuda"``, ``"auto"``)."""

    name = "s3fd"

    def __init__(self, net: S3FDNet, *, threshold: float = 0.9, device: str | None = "cpu") -> None:
        from avsync.lipsync.scoring import resolve_device

        self.device = resolve_device(device)
        self.net = net.to(self.device).eval()
        self.threshold = float(threshold)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs) -> S3FD:  # noqa: ANN003
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"'{path}': S3FD weights not found (the official file is sfd_face.pth; avsync downloads nothing)")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"'{path}': not a PyTorch weights file ({type(exc).__name__})") from None
        net = S3FDNet()
        try:
            net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise ValueError(f"'{path}': not S3FD weights ({str(exc).splitlines()[0][:160]})") from None
        return cls(net, **kwargs)

    @torch.inference_mode()
    def detect(self, image: np.ndarray) -> np.ndarray:
        """``(n, 5)`` float32 ``[x1, y1, x2, y2, score]`` in ``image``'s pixels."""
        h, w = image.shape[:2]
        x = torch.from_numpy(np.ascontiguousarray((image.astype(np.float32) - _MEAN_RGB).transpose(2, 0, 1)))[None]
        loc, probs, sizes = self.net(x.to(self.device))
        loc, probs = loc[0].float().cpu().numpy(), probs[0].float().cpu().numpy()
        prior = anchors((h, w), sizes)
        candidates = np.nonzero(probs > 0.05)[0]
        if candidates.size == 0:
            return np.zeros((0, 5), np.float32)
        l, p = loc[candidates], prior[candidates]
        centre = p[:, :2] + l[:, :2] * _VARIANCE[0] * p[:, 2:]
        size = p[:, 2:] * np.exp(l[:, 2:] * _VARIANCE[1])
        boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1) * np.array([w, h, w, h], np.float32)
        scores = probs[candidates]
        top = np.argsort(-scores, kind="stable")[:5000]
        keep = top[nms(boxes[top], scores[top], 0.3)][:750]
        keep = keep[scores[keep] > self.threshold]
        boxes, scores = boxes[keep], scores[keep]
        final = nms(boxes, scores, 0.1)
        return np.concatenate([boxes[final], scores[final, None]], axis=1).astype(np.float32)
