"""Step 4: PNG plots of results.csv and the per-case motion signals.

    python -m evaluation.visualize_results --results evaluation/results/results.csv \\
        --diagnostics-dir evaluation/results/diagnostics --output evaluation/results/plots

Writes ``error_distribution.png`` (absolute error per method, log scale), ``estimated_vs_true.png``,
``error_vs_content.png`` (error by motion level and audio energy level), ``runtime_memory.png``
(runtime and peak memory per method), ``confidence_vs_error.png``, and ``motion_signals.png``
(the motion energy of the original and the copy before and after alignment, from the NPZ files,
for the cases where the visual method did worst and best). With ``--compare plain=A.csv
--compare degraded=B.csv`` it draws only ``comparison.png``: every method under every condition
in one panel (the README's plot). matplotlib runs with the Agg backend and is imported only here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluation.common import DEFAULT_RESULTS, LEVELS, METHODS, run_cli

COLORS = {"audio": "#1f77b4", "visual": "#d62728"}
FLOOR_MS = 0.01  # errors are drawn no lower than this on log axes


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _methods(df) -> list[str]:
    present = list(df["method_type"].unique())
    return [m for m in METHODS if m in present] + sorted(m for m in present if m not in METHODS)


def _save(fig, path: Path, dpi: int) -> Path:
    from avsync.media.ffmpeg import atomic_output

    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    fig.clf()
    return path


def error_distribution(df, out: Path, frame_ms: float, dpi: int) -> Path:
    plt = _pyplot()
    methods = _methods(df)
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.2), squeeze=False, sharey=True)
    err_all = df["absolute_error_ms"].to_numpy(float)
    hi = max(1000.0, np.nanmax(err_all) * 1.5) if np.isfinite(err_all).any() else 1000.0
    bins = np.logspace(np.log10(FLOOR_MS), np.log10(hi), 30)
    for ax, m in zip(axes[0], methods):
        e = df.loc[df["method_type"] == m, "absolute_error_ms"].to_numpy(float)
        ok = e[np.isfinite(e)]
        ax.hist(np.maximum(ok, FLOOR_MS), bins=bins, color=COLORS.get(m, "gray"), alpha=0.85)
        ax.set_xscale("log")
        ax.axvline(frame_ms, color="k", ls="--", lw=0.8)
        med = f"median {np.median(ok):.2f} ms" if ok.size else "no estimates"
        ax.set_title(f"{m}: {med}\n{(~np.isfinite(e)).sum()} of {e.size} runs without an estimate", fontsize=9)
        ax.set_xlabel("absolute error (ms, log)")
    axes[0][0].set_ylabel("runs")
    fig.tight_layout()
    return _save(fig, out / "error_distribution.png", dpi)


def estimated_vs_true(df, out: Path, dpi: int) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    t = df["true_offset_ms"].to_numpy(float)
    lo, hi = np.nanmin(t) - 300, np.nanmax(t) + 300
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, label="exact")
    for i, m in enumerate(_methods(df)):
        g = df[df["method_type"] == m]
        jitter = (i - 0.5) * 0.02 * (hi - lo)  # side by side, so both methods stay visible
        ax.scatter(g["true_offset_ms"] + jitter, g["estimated_offset_ms"], s=14, color=COLORS.get(m, "gray"), label=m, alpha=0.8)
        missing = g["estimated_offset_ms"].isna()
        if missing.any():
            ax.scatter(g.loc[missing, "true_offset_ms"] + jitter, np.full(int(missing.sum()), lo), marker="x",
                       color=COLORS.get(m, "gray"), label=f"{m}: no estimate")
    ax.set_xlabel("true offset (ms)")
    ax.set_ylabel("estimated offset (ms)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out / "estimated_vs_true.png", dpi)


def _strip(ax, df, key: str, frame_ms: float) -> None:
    groups = [lv for lv in LEVELS if lv in set(df[key].astype(str))]
    methods = _methods(df)
    rng = np.random.default_rng(0)
    for j, m in enumerate(methods):
        for k, lv in enumerate(groups):
            e = df.loc[(df["method_type"] == m) & (df[key].astype(str) == lv), "absolute_error_ms"].to_numpy(float)
            e = np.where(np.isfinite(e), np.maximum(e, FLOOR_MS), np.nan)
            x = k + (j - (len(methods) - 1) / 2) * 0.3 + rng.uniform(-0.06, 0.06, e.size)
            ax.scatter(x, e, s=12, color=COLORS.get(m, "gray"), alpha=0.8, label=m if k == 0 else None)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_yscale("log")
    ax.axhline(frame_ms, color="k", ls="--", lw=0.8)
    ax.set_xlabel(key)


def error_vs_content(df, out: Path, frame_ms: float, dpi: int) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.3), sharey=True)
    _strip(axes[0], df, "motion_level", frame_ms)
    _strip(axes[1], df, "audio_energy_level", frame_ms)
    axes[0].set_ylabel("absolute error (ms, log)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out / "error_vs_content.png", dpi)


def runtime_memory(df, out: Path, dpi: int) -> Path:
    plt = _pyplot()
    methods = _methods(df)
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    for ax, col, label in ((axes[0], "runtime_seconds", "runtime per sync (s)"), (axes[1], "peak_memory_mb", "peak RSS (MB)")):
        data = [df.loc[df["method_type"] == m, col].dropna().to_numpy(float) for m in methods]
        parts = ax.boxplot(data, patch_artist=True, widths=0.5)
        ax.set_xticks(range(1, len(methods) + 1), methods)
        for patch, m in zip(parts["boxes"], methods):
            patch.set_facecolor(COLORS.get(m, "gray"))
            patch.set_alpha(0.6)
        ax.set_ylabel(label)
    fig.tight_layout()
    return _save(fig, out / "runtime_memory.png", dpi)


def confidence_vs_error(df, out: Path, frame_ms: float, dpi: int) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for m in _methods(df):
        g = df[df["method_type"] == m]
        e = g["absolute_error_ms"].to_numpy(float)
        shown = np.where(np.isfinite(e), np.maximum(e, FLOOR_MS), np.nan)
        ax.scatter(g["confidence_score"], shown, s=14, color=COLORS.get(m, "gray"), label=m, alpha=0.8)
        none = ~np.isfinite(e)
        if none.any():
            top = max(1000.0, np.nanmax(shown) * 2) if np.isfinite(shown).any() else 1000.0
            ax.scatter(g["confidence_score"].to_numpy(float)[none], np.full(int(none.sum()), top), marker="x",
                       color=COLORS.get(m, "gray"), label=f"{m}: no estimate")
    ax.set_yscale("log")
    ax.axhline(frame_ms, color="k", ls="--", lw=0.8)
    ax.set_xlabel("confidence")
    ax.set_ylabel("absolute error (ms, log)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, out / "confidence_vs_error.png", dpi)


def _pick_cases(df, diag: Path, count: int) -> list[str]:
    """The visual method's worst cases first (no estimate, then largest error), then its best."""
    have = {p.stem for p in diag.glob("*.npz")} if diag.is_dir() else set()
    vis = df[(df["method_type"] == "visual") & df["video_id"].isin(have)].copy()
    if vis.empty:
        return sorted(have)[:count]
    vis["order"] = vis["absolute_error_ms"].fillna(np.inf)
    vis = vis.sort_values("order", ascending=False)
    worst = list(vis["video_id"][: (count + 1) // 2])
    best = [v for v in vis["video_id"][::-1] if v not in worst][: count - len(worst)]
    return worst + best


def motion_signals(df, diag: Path, out: Path, count: int, dpi: int) -> Path | None:
    cases = _pick_cases(df, diag, count)
    if not cases:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(cases), 2, figsize=(11, 1.9 * len(cases)), squeeze=False)
    for row, vid in zip(axes, cases):
        d = np.load(diag / f"{vid}.npz")
        rate = float(d["grid_rate"])
        og, cg = d["original_grid"], d["copy_grid"]
        ot = float(d["original_grid_t0"]) + np.arange(og.size) / rate
        ct = float(d["copy_grid_t0"]) + np.arange(cg.size) / rate
        est, true = float(d["visual_offset_s"]), float(d["true_offset_s"])
        row[0].plot(ot, og, lw=0.7, color="k", label="original")
        row[0].plot(ct, cg, lw=0.7, color=COLORS["visual"], alpha=0.7, label="copy")
        row[0].set_title(f"{vid}: before (corr {float(d['ncc_before']):.2f})", fontsize=8)
        row[1].plot(ot, og, lw=0.7, color="k", label="original")
        if np.isfinite(est):
            row[1].plot(ct + est, cg, lw=0.7, color=COLORS["visual"], alpha=0.7, label="copy, moved by the estimate")
            title = f"after: estimate {-1000 * est:+.0f} ms, truth {-1000 * true:+.0f} ms (corr {float(d['ncc_estimated']):.2f})"
        else:
            row[1].plot(ct + true, cg, lw=0.7, color="gray", alpha=0.7, label="copy, moved by the truth")
            title = f"no visual estimate; moved by the truth {-1000 * true:+.0f} ms (corr {float(d['ncc_true']):.2f})"
        row[1].set_title(title, fontsize=8)
        for ax in row:
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6, loc="upper right")
    for ax in axes[-1]:
        ax.set_xlabel("time in the original (s)  [signals as the visual method sees them]", fontsize=8)
    fig.tight_layout()
    return _save(fig, out / "motion_signals.png", dpi)


def comparison(tables: dict[str, object], out: Path, frame_ms: float, dpi: int) -> Path:
    """One panel: absolute error of each method under each condition (e.g. plain and degraded
    copies), every run a dot, runs without an estimate as crosses at the top."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    rng = np.random.default_rng(0)
    labels, x = [], 0
    all_err = np.concatenate([t["absolute_error_ms"].to_numpy(float) for t in tables.values()])
    finite = all_err[np.isfinite(all_err)]
    top = max(1000.0, float(finite.max()) * 3) if finite.size else 1000.0
    for method in METHODS:
        for cond, df in tables.items():
            e = df.loc[df["method_type"] == method, "absolute_error_ms"].to_numpy(float)
            if e.size == 0:
                continue
            ok = np.isfinite(e)
            jitter = rng.uniform(-0.15, 0.15, e.size)
            ax.scatter(x + jitter[ok], np.maximum(e[ok], FLOOR_MS), s=14, color=COLORS.get(method, "gray"), alpha=0.75)
            if (~ok).any():
                ax.scatter(x + jitter[~ok], np.full(int((~ok).sum()), top), marker="x", s=22, color=COLORS.get(method, "gray"))
            label = f"{method}\n{cond}"
            if ok.any():  # the median over the runs that answered, as in metrics.md
                med = float(np.median(e[ok]))
                ax.plot([x - 0.28, x + 0.28], [max(med, FLOOR_MS)] * 2, color="k", lw=1.6)
                label += f"\nmedian {med:.2g} ms"
            if (~ok).any():
                label += f"\n{int((~ok).sum())} of {e.size} no estimate"
            labels.append(label)
            x += 1
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yscale("log")
    ax.axhline(frame_ms, color="gray", ls="--", lw=0.8)
    ax.text(x - 0.5, frame_ms * 1.15, f"one frame ({frame_ms:g} ms)", ha="right", fontsize=7, color="gray")
    ax.set_ylabel("absolute error (ms, log)")
    ax.set_title("x: no estimate (no_match)", fontsize=8, loc="right")
    fig.tight_layout()
    return _save(fig, out / "comparison.png", dpi)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.visualize_results", description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS / "results.csv")
    p.add_argument("--diagnostics-dir", type=Path, default=DEFAULT_RESULTS / "diagnostics", help="the NPZ files of run_batch")
    p.add_argument("--output", type=Path, default=DEFAULT_RESULTS / "plots")
    p.add_argument("--frame-ms", type=float, default=40.0, help="the one-frame line drawn on error axes")
    p.add_argument("--signal-cases", type=int, default=6, help="cases shown in motion_signals.png")
    p.add_argument("--dpi", type=int, default=90)
    p.add_argument("--compare", action="append", metavar="LABEL=RESULTS.csv",
                   help="draw only comparison.png: each method under each labelled results file (repeat the flag)")
    return p


def run(args: argparse.Namespace) -> int:
    from evaluation.compute_metrics import load_results

    args.output.mkdir(parents=True, exist_ok=True)
    if args.compare:
        tables = {}
        for item in args.compare:
            label, sep, path = item.partition("=")
            if not sep or not label or not path:
                raise ValueError(f"--compare takes LABEL=RESULTS.csv, got {item!r}")
            tables[label] = load_results(Path(path))
        print(comparison(tables, args.output, args.frame_ms, args.dpi))
        return 0
    df = load_results(args.results)
    written = [
        error_distribution(df, args.output, args.frame_ms, args.dpi),
        estimated_vs_true(df, args.output, args.dpi),
        error_vs_content(df, args.output, args.frame_ms, args.dpi),
        runtime_memory(df, args.output, args.dpi),
        confidence_vs_error(df, args.output, args.frame_ms, args.dpi),
    ]
    signals = motion_signals(df, args.diagnostics_dir, args.output, max(1, args.signal_cases), args.dpi)
    if signals is None:
        print(f"no NPZ files in '{args.diagnostics_dir}': motion_signals.png not drawn", file=sys.stderr)
    else:
        written.append(signals)
    for p in written:
        print(p)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("visualize_results", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
