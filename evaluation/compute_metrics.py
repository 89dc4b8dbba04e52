"""Step 3: accuracy, reliability and cost per method from ``results.csv`` -> metrics.json, metrics.md.

Per method (audio, visual):

- errors over the runs that gave an estimate: MAE, RMSE, median, 95th percentile and maximum of
  ``absolute_error_ms``; ``answered``: the share of runs that gave one;
- success rates over all runs (no estimate counts as a failure): within one frame
  (``--frame-ms``, 40 ms = one frame at 25 fps) and within ``--tolerance-ms``;
- confidence: its mean, the ROC AUC of confidence for telling a success (within one frame) from a
  failure (0.5: no better than chance; null when every run succeeded or every run failed), and
  the success rate in confidence bands;
- cost: mean and median runtime, mean and maximum of the peak CPU and peak memory;
- the same accuracy figures broken down by motion_level, audio_energy_level and video length;
- cross-method agreement: ``audio_video_diff`` = audio estimate - visual estimate per case, and
  how often the two agree within one frame.

    python -m evaluation.compute_metrics --results evaluation/results/results.csv --output evaluation/results
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.common import DEFAULT_RESULTS, LENGTH_BUCKETS_S, LEVELS, RESULT_COLUMNS, length_bucket, run_cli

CONFIDENCE_BANDS = (0.0, 0.2, 0.5, 0.8, 1.0000001)


def _num(x: Any, digits: int = 3) -> float | None:
    """JSON-safe rounded float (None for NaN/inf/missing)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return round(v, digits) if math.isfinite(v) else None


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Probability that a random success has a higher score than a random failure (ties count
    half): the Mann-Whitney form of the ROC AUC. None when one class is empty."""
    scores, positive = np.asarray(scores, float), np.asarray(positive, bool)
    pos, neg = scores[positive], scores[~positive]
    if pos.size == 0 or neg.size == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (pos.size * neg.size))


def length_buckets() -> list[str]:
    """The video length groups, shortest first."""
    lo, hi = LENGTH_BUCKETS_S
    return [length_bucket(lo / 2), length_bucket(lo), length_bucket(hi)]


def accuracy(df, frame_ms: float, tolerance_ms: float) -> dict[str, Any]:
    """Error statistics of one group of runs (a pandas DataFrame of results rows)."""
    err = df["absolute_error_ms"].to_numpy(float)
    answered = np.isfinite(err)
    e = err[answered]
    out: dict[str, Any] = {
        "runs": int(len(df)),
        "answered": int(answered.sum()),
        "answered_rate": _num(answered.mean() if len(df) else float("nan")),
        "mae_ms": _num(e.mean()) if e.size else None,
        "rmse_ms": _num(np.sqrt(np.mean(e**2))) if e.size else None,
        "median_ms": _num(np.median(e)) if e.size else None,
        "p95_ms": _num(np.percentile(e, 95)) if e.size else None,
        "max_ms": _num(e.max()) if e.size else None,
        "success_within_frame": _num(np.mean(answered & (np.nan_to_num(err, nan=np.inf) <= frame_ms))) if len(df) else None,
        "success_within_tolerance": _num(np.mean(answered & (np.nan_to_num(err, nan=np.inf) <= tolerance_ms))) if len(df) else None,
    }
    return out


def confidence_quality(df, frame_ms: float) -> dict[str, Any]:
    err = np.nan_to_num(df["absolute_error_ms"].to_numpy(float), nan=np.inf)
    conf = np.nan_to_num(df["confidence_score"].to_numpy(float), nan=0.0)
    success = err <= frame_ms
    bands = []
    for lo, hi in zip(CONFIDENCE_BANDS[:-1], CONFIDENCE_BANDS[1:]):
        inside = (conf >= lo) & (conf < hi)
        bands.append({"band": f"{lo:.1f}-{min(hi, 1.0):.1f}", "runs": int(inside.sum()),
                      "success_within_frame": _num(success[inside].mean()) if inside.any() else None})
    return {"mean_confidence": _num(conf.mean()) if conf.size else None, "auc_success_vs_failure": _num(roc_auc(conf, success)),
            "by_band": bands}


def cost(df) -> dict[str, Any]:
    rt = df["runtime_seconds"].to_numpy(float)
    cpu = df["peak_cpu_percent"].to_numpy(float)
    mem = df["peak_memory_mb"].to_numpy(float)
    return {
        "mean_runtime_s": _num(np.nanmean(rt), 4) if rt.size else None,
        "median_runtime_s": _num(np.nanmedian(rt), 4) if rt.size else None,
        "mean_peak_cpu_percent": _num(np.nanmean(cpu), 1) if cpu.size else None,
        "max_peak_cpu_percent": _num(np.nanmax(cpu), 1) if cpu.size else None,
        "mean_peak_memory_mb": _num(np.nanmean(mem), 1) if mem.size else None,
        "max_peak_memory_mb": _num(np.nanmax(mem), 1) if mem.size else None,
    }


def agreement(df, frame_ms: float) -> dict[str, Any]:
    """audio_video_diff (audio - visual estimate, ms) over the cases both methods answered."""
    est = df.pivot_table(index="video_id", columns="method_type", values="estimated_offset_ms", aggfunc="last")
    if "audio" not in est or "visual" not in est:
        return {"cases": 0}
    diff = (est["audio"] - est["visual"]).dropna().to_numpy(float)
    if diff.size == 0:
        return {"cases": 0}
    a = np.abs(diff)
    return {
        "cases": int(diff.size),
        "mean_audio_video_diff_ms": _num(diff.mean()),
        "mean_abs_audio_video_diff_ms": _num(a.mean()),
        "median_abs_audio_video_diff_ms": _num(np.median(a)),
        "p95_abs_audio_video_diff_ms": _num(np.percentile(a, 95)),
        "max_abs_audio_video_diff_ms": _num(a.max()),
        "agree_within_frame": _num(np.mean(a <= frame_ms)),
    }


def compute(df, frame_ms: float = 40.0, tolerance_ms: float = 100.0) -> dict[str, Any]:
    """All metrics of a results table (pandas DataFrame with the RESULT_COLUMNS)."""
    df = df.copy()
    df["length"] = [length_bucket(float(x)) if np.isfinite(float(x)) else "unknown" for x in df["video_length_sec"].fillna(np.nan)]
    out: dict[str, Any] = {"frame_ms": frame_ms, "tolerance_ms": tolerance_ms, "cases": int(df["video_id"].nunique()), "methods": {}}
    for method, g in df.groupby("method_type", sort=True):
        m = {**accuracy(g, frame_ms, tolerance_ms), **confidence_quality(g, frame_ms), "cost": cost(g), "breakdown": {}}
        for key in ("motion_level", "audio_energy_level", "length"):
            groups = {}
            present = [str(v) for v in g[key].dropna().unique()]
            known = [*LEVELS, *length_buckets()]
            order = [v for v in known if v in present] + sorted(v for v in present if v not in known)
            for value in order:
                groups[value] = accuracy(g[g[key].astype(str) == value], frame_ms, tolerance_ms)
            m["breakdown"][key] = groups
        out["methods"][method] = m
    out["agreement"] = agreement(df, frame_ms)
    return out


def _cell(v: Any, unit: str = "", pct: bool = False) -> str:
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:.0f} %"
    if isinstance(v, int):
        return f"{v}{unit}"
    return f"{v:.1f}{unit}" if abs(v) >= 10 else f"{v:.2f}{unit}" if abs(v) >= 1 else f"{v:.3f}{unit}"


def markdown(metrics: dict[str, Any], title: str = "Evaluation") -> str:
    """The metrics as Markdown tables (the first one is the README's)."""
    f, tol = metrics["frame_ms"], metrics["tolerance_ms"]
    lines = [f"## {title}", "",
             f"{metrics['cases']} cases. Errors in ms over the runs that gave an estimate; success rates over all runs "
             f"(one frame = {f:g} ms, tolerance = {tol:g} ms).", "",
             f"| method | runs | answered | median | MAE | RMSE | p95 | max | within 1 frame | within {tol:g} ms | mean conf. | conf. AUC | runtime (s) | peak CPU | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in metrics["methods"].items():
        c = m["cost"]
        lines.append(
            f"| {name} | {m['runs']} | {_cell(m['answered_rate'], pct=True)} | {_cell(m['median_ms'])} | {_cell(m['mae_ms'])} | "
            f"{_cell(m['rmse_ms'])} | {_cell(m['p95_ms'])} | {_cell(m['max_ms'])} | {_cell(m['success_within_frame'], pct=True)} | "
            f"{_cell(m['success_within_tolerance'], pct=True)} | {_cell(m['mean_confidence'])} | {_cell(m['auc_success_vs_failure'])} | "
            f"{_cell(c['mean_runtime_s'])} | {_cell(c['max_peak_cpu_percent'])} % | {_cell(c['max_peak_memory_mb'])} |")
    ag = metrics["agreement"]
    if ag.get("cases"):
        lines += ["", f"Audio vs visual (`audio_video_diff`, {ag['cases']} cases): median |diff| {_cell(ag['median_abs_audio_video_diff_ms'])} ms, "
                      f"p95 {_cell(ag['p95_abs_audio_video_diff_ms'])} ms, agree within one frame in {_cell(ag['agree_within_frame'], pct=True)}."]
    for key, label in (("motion_level", "motion level"), ("audio_energy_level", "audio energy level"), ("length", "video length")):
        lines += ["", f"### By {label}", "", "| method | group | runs | answered | median | MAE | within 1 frame |", "|---|---|---|---|---|---|---|"]
        for name, m in metrics["methods"].items():
            for group, a in m["breakdown"][key].items():
                lines.append(f"| {name} | {group} | {a['runs']} | {_cell(a['answered_rate'], pct=True)} | {_cell(a['median_ms'])} | "
                             f"{_cell(a['mae_ms'])} | {_cell(a['success_within_frame'], pct=True)} |")
    lines += ["", "### Confidence bands (success within one frame)", "", "| method | band | runs | success |", "|---|---|---|---|"]
    for name, m in metrics["methods"].items():
        for b in m["by_band"]:
            lines.append(f"| {name} | {b['band']} | {b['runs']} | {_cell(b['success_within_frame'], pct=True)} |")
    return "\n".join(lines) + "\n"


def load_results(path: Path):
    import pandas as pd

    if not path.exists():
        raise ValueError(f"'{path}': no such results file (make one with python -m evaluation.run_batch)")
    df = pd.read_csv(path, on_bad_lines="skip")
    missing = [c for c in RESULT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"'{path}': not an evaluation results file (missing columns: {', '.join(missing)})")
    if df.empty:
        raise ValueError(f"'{path}': no results in it")
    for c in ("true_offset_ms", "estimated_offset_ms", "absolute_error_ms", "confidence_score", "runtime_seconds",
              "peak_cpu_percent", "peak_memory_mb", "video_length_sec"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.compute_metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS / "results.csv")
    p.add_argument("--output", type=Path, default=DEFAULT_RESULTS, help="folder for metrics.json and metrics.md")
    p.add_argument("--frame-ms", type=float, default=40.0, help="one frame, for the 'within one frame' success rate")
    p.add_argument("--tolerance-ms", type=float, default=100.0, help="the second success threshold")
    p.add_argument("--title", default="Evaluation", help="heading of metrics.md")
    return p


def run(args: argparse.Namespace) -> int:
    from avsync.media.ffmpeg import write_text_atomic

    if args.frame_ms <= 0 or args.tolerance_ms <= 0:
        raise ValueError("--frame-ms and --tolerance-ms must be positive")
    metrics = compute(load_results(args.results), args.frame_ms, args.tolerance_ms)
    metrics["results"] = str(args.results)
    args.output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    md = markdown(metrics, args.title)
    write_text_atomic(args.output / "metrics.md", md)
    print(md.split("\n\n### ")[0])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("compute_metrics", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
