"""``--debug-dir``: the result and the pictures that show why it came out as it did.

- ``result.json``: the result, pairs included.
- ``motion_energy_plot.png``: every video's motion energy before alignment (own clock) and after
  (shifted onto the reference's timeline): aligned bursts should line up.
- ``correlation_A__B.png``: the correlation curve of each estimated pair around its peak.
- ``drift_A__B.png``: per-window offsets over time and the fitted line, where drift was estimated.
- ``correlation_matrix.png``: the confidence of every estimated pair.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from avsync.review import review
from avsync.sync.estimate import PairEstimate
from avsync.sync.result import PairMeasurement, SyncResult
from avsync.sync.sources import Source


def _pyplot():
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError("debug plots need matplotlib: pip install 'avsync[plots]'") from exc
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _label(path: str) -> str:
    return Path(path).name


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", Path(path).stem)[:60]


def write_debug(
    result: SyncResult,
    sources: list[Source],
    estimates: dict[int, PairEstimate],
    measurements: list[PairMeasurement],
    debug_dir: str | os.PathLike[str],
) -> list[Path]:
    out = Path(debug_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [result.save(out / "result.json")]
    plt = _pyplot()
    written.append(_motion_plot(plt, result, sources, out / "motion_energy_plot.png"))
    for key, pm in enumerate(measurements):
        est = estimates.get(key)
        a = next((s for s in sources if s.path == pm.a), None)
        b = next((s for s in sources if s.path == pm.b), None)
        if est is None or a is None or b is None:
            continue
        name = f"{_slug(pm.a)}__{_slug(pm.b)}_{pm.method}"
        path = _correlation_plot(plt, pm, a, b, result.max_offset_s, out / f"correlation_{name}.png")
        if path:
            written.append(path)
        if est.window_times_s.size:
            written.append(_drift_plot(plt, pm, est, out / f"drift_{name}.png"))
    written.append(_matrix_plot(plt, result, measurements, out / "correlation_matrix.png"))
    written += review(result, out, motion={s.path: s.motion for s in sources if s.motion is not None}, json_name="result.json").files
    return written


def _motion_plot(plt, result: SyncResult, sources: list[Source], path: Path) -> Path:
    offsets = {v.path: v.offset_s for v in result.videos}
    fig, axes = plt.subplots(2, 1, figsize=(11, 6), sharex=False)
    drawn = 0
    for src in sources:
        if src.error or not src.has_video:
            continue
        src.load_motion()
        if src.motion is None or src.motion.energy.size == 0:
            continue
        e = src.motion.energy / max(float(np.percentile(src.motion.energy, 99)), 1e-6)
        t = src.motion.times_s
        axes[0].plot(t, e + drawn * 1.2, lw=0.8, label=_label(src.path))
        off = offsets.get(src.path)
        if off is not None:
            axes[1].plot(t + off, e + drawn * 1.2, lw=0.8, label=_label(src.path))
        drawn += 1
    axes[0].set_title("Motion energy, each on its own clock")
    axes[1].set_title("Aligned on the reference's timeline (t + offset_s)")
    for ax in axes:
        ax.set_xlabel("seconds")
        ax.set_yticks([])
        if drawn:
            ax.legend(loc="upper right", fontsize=7)
    if not drawn:
        axes[0].text(0.5, 0.5, "no video streams", ha="center", transform=axes[0].transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _correlation_plot(plt, pm: PairMeasurement, a: Source, b: Source, max_offset_s: float, path: Path) -> Path | None:
    from avsync.phat import phat_correlation
    from avsync.sync.visual import estimate_visual_offset

    if pm.method == "audio" and a.audio is not None and b.audio is not None:
        lags, vals = phat_correlation(b.audio.samples, a.audio.samples, a.audio.sample_rate, max_offset_s or None)
        lags = lags + (a.audio.start_s - b.audio.start_s)
        ylabel = "GCC-PHAT"
    elif pm.method == "visual" and a.motion is not None and b.motion is not None:
        est = estimate_visual_offset(a.motion, b.motion, max_offset_s or None, drift=False, keep_curve=True)
        if est.curve is None:
            return None
        lags, vals = est.curve
        ylabel = "normalised correlation"
    else:
        return None
    vals = np.where(vals <= -1.0, np.nan, vals)  # lags without enough overlap
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    axes[0].plot(lags, vals, lw=0.6)
    axes[0].set_title(f"{_label(pm.b)} vs {_label(pm.a)} ({pm.method})", fontsize=9)
    axes[0].set_xlabel("offset (s)")
    axes[0].set_ylabel(ylabel)
    i = int(np.nanargmax(vals))
    near = np.abs(lags - lags[i]) <= 0.1
    axes[1].plot(lags[near], vals[near], ".-", lw=0.8)
    if pm.offset_s is not None:
        for ax in axes:
            ax.axvline(pm.offset_s, color="r", lw=0.8, ls="--")
    axes[1].set_title(f"around the peak: offset {pm.offset_s if pm.offset_s is None else round(pm.offset_s, 4)} s, confidence {pm.confidence:.2f}", fontsize=9)
    axes[1].set_xlabel("offset (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _drift_plot(plt, pm: PairMeasurement, est: PairEstimate, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    inl = est.window_inliers.astype(bool) if est.window_inliers.size == est.window_times_s.size else np.zeros(est.window_times_s.size, bool)
    ax.scatter(est.window_times_s[~inl], est.window_offsets_s[~inl] * 1e3, s=8, c="0.6", label="windows set aside")
    ax.scatter(est.window_times_s[inl], est.window_offsets_s[inl] * 1e3, s=8, label="windows used")
    if est.offset_s is not None:
        t = np.array([0.0, est.window_times_s.max()])
        slope = -est.drift_ppm * 1e-6 / (1 + est.drift_ppm * 1e-6)
        ax.plot(t, (est.offset_s + slope * t) * 1e3, "r-", lw=1, label=f"fit: {est.drift_ppm:+.1f} ppm")
    ax.set_xlabel(f"time in {_label(pm.b)} (s)")
    ax.set_ylabel("offset (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _matrix_plot(plt, result: SyncResult, measurements: list[PairMeasurement], path: Path) -> Path:
    names = [v.path for v in result.videos]
    n = len(names)
    m = np.full((n, n), np.nan)
    np.fill_diagonal(m, 1.0)
    for pm in measurements:
        if pm.a in names and pm.b in names:
            i, j = names.index(pm.a), names.index(pm.b)
            m[i, j] = m[j, i] = np.nanmax([m[i, j], pm.confidence]) if not np.isnan(m[i, j]) else pm.confidence
    fig, ax = plt.subplots(figsize=(1.2 * n + 3, 1.0 * n + 2))
    im = ax.imshow(m, vmin=0, vmax=1, cmap="viridis")
    labels = [_label(p) for p in names]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    for i in range(n):
        for j in range(n):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w" if m[i, j] < 0.6 else "k", fontsize=8)
    fig.colorbar(im, ax=ax, label="pair confidence")
    ax.set_title("Pairwise confidence")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
