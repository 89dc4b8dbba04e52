"""Drawing the review pictures with matplotlib (the ``plots`` extra), off screen."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from avsync.review.frames import GrabbedFrame
from avsync.review.placed import Placed
from avsync.review.waveforms import RATE, Transient
from avsync.sync.debug import _pyplot as pyplot  # noqa: F401 - matplotlib off screen, or what to install

ZOOM_BEFORE_MS, ZOOM_AFTER_MS = 3.0, 7.0  # 10 ms wide: 1 ms is a tenth of the plot
WIDE_BEFORE_MS, WIDE_AFTER_MS = 50.0, 150.0


def indicator_image(plt, synced_s: float, frames: list[GrabbedFrame], boxes: dict[str, list[tuple[int, int, int, int]]],
                    placed: dict[str, Placed], lookback_s: float, path: Path) -> Path:
    """Every camera's frame at one synced time, side by side, moving regions boxed, each
    frame's own timestamp printed on it."""
    n = len(frames)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    shapes = [f.image.shape for f in frames if f.image is not None]
    aspect = (shapes[0][0] / shapes[0][1]) if shapes else 9 / 16
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.6 * aspect * rows + 1.1), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, f in zip(axes.flat, frames):
        p = placed[f.path]
        ax.set_title(f"{p.name}  (offset {p.offset_s:+.3f} s)", fontsize=9)
        if f.image is None:
            h, w = (shapes[0][:2] if shapes else (90, 160))
            ax.imshow(np.full((h, w, 3), 60, np.uint8))
            why = {"not recording": "not recording yet", "ended": "recording has ended"}.get(f.reason or "", f.reason or "no picture")
            ax.text(0.5, 0.5, f"{why}\nat this moment\n(records {p.start_s:.2f} - {p.end_s:.2f} s synced)",
                    ha="center", va="center", color="white", fontsize=10, transform=ax.transAxes)
            continue
        ax.imshow(f.image, interpolation="nearest")
        from matplotlib.patches import Rectangle

        for x, y, w, h in boxes.get(f.path, []):
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="red", linewidth=1.8))
        ax.text(0.02, 0.03, f"frame t = {f.frame_time_s:.3f} s", color="yellow", fontsize=9, family="monospace",
                transform=ax.transAxes, va="bottom", bbox={"facecolor": "black", "alpha": 0.6, "pad": 2, "edgecolor": "none"})
    fig.suptitle(f"Synced time {synced_s:.3f} s: each camera's frame at that moment.  Red boxes: what moved in the "
                 f"{lookback_s * 1000:.0f} ms before;\nthe same event should be boxed in every camera.", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def waveform_plot(plt, t: Transient, path: Path) -> Path:
    """Every file's audio around one transient after alignment: a wide view and a 10 ms zoom
    with a 1 ms grid, waveforms overlaid (each scaled to its own peak)."""
    onset = t.onset_s if t.onset_s is not None else t.time_s
    names = list(t.windows)
    fig, (wide, zoom) = plt.subplots(1, 2, figsize=(13, 2.2 + 0.5 * len(names)), gridspec_kw={"width_ratios": [1, 1.3]})
    for k, name in enumerate(names):
        win = t.windows[name].astype(np.float64)
        ms = (t.window_start_s[name] + np.arange(win.size) / RATE - onset) * 1e3
        label = Path(name).name
        if name == t.anchor:
            label += " (anchor)"
        elif (residual := t.residual_ms.get(name)) is not None:
            label += f": residual {round(residual, 3) + 0.0:+.3f} ms"  # + 0.0: no "-0.000"
        else:
            label += ": residual not measurable"
        sel = (ms >= -WIDE_BEFORE_MS) & (ms <= WIDE_AFTER_MS)
        peak = max(float(np.abs(win[sel]).max()) if sel.any() else 0.0, 1e-9)
        wide.plot(ms[sel], win[sel] / peak / 2.2 - k, lw=0.6)
        sel = (ms >= -ZOOM_BEFORE_MS - 1) & (ms <= ZOOM_AFTER_MS + 1)
        peak = max(float(np.abs(win[sel]).max()) if sel.any() else 0.0, 1e-9)
        zoom.plot(ms[sel], win[sel] / peak, lw=1.0, marker=".", ms=2, label=label)
    wide.set_yticks([-k for k in range(len(names))], [Path(n).name for n in names], fontsize=8)
    wide.set_xlim(-WIDE_BEFORE_MS, WIDE_AFTER_MS)
    wide.axvline(0, color="k", lw=0.6, ls="--")
    wide.set_xlabel("ms from the anchor's onset")
    wide.set_title(f"synced {t.time_s:.3f} s, jump {t.strength_db:.0f} dB", fontsize=9)
    zoom.set_xlim(-ZOOM_BEFORE_MS, ZOOM_AFTER_MS)
    zoom.set_xticks(np.arange(-ZOOM_BEFORE_MS, ZOOM_AFTER_MS + 0.01, 1.0))
    zoom.set_xticks(np.arange(-ZOOM_BEFORE_MS, ZOOM_AFTER_MS + 0.01, 0.25), minor=True)
    zoom.grid(True, which="major", lw=0.8, alpha=0.6)
    zoom.grid(True, which="minor", lw=0.3, alpha=0.3)
    zoom.axvline(0, color="k", lw=0.8, ls="--")
    zoom.set_xlabel("ms from the anchor's onset (grid: 1 ms)")
    zoom.set_title("zoom: aligned waveforms should start together", fontsize=9)
    zoom.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
