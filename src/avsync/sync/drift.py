"""Clock drift: a robust straight line through per-window offsets.

Two devices' clocks run at slightly different rates (tens to hundreds of ppm), so the offset
between their recordings changes linearly with time. Window ``k`` at video time ``t_k`` measured
offset ``o_k``; the line ``o(t) = offset_at_start + slope * t`` is fitted by Theil-Sen (the
median of pairwise slopes, which ignores up to ~29 % wild windows) and then refined by weighted
least squares on the inliers. With ``slope = -d / (1 + d)`` for a drift ``d`` (content lasting 1 s
in the reference lasts ``1 + d`` s in the video), ``drift_ppm = -slope / (1 + slope) * 1e6``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LineFit:
    intercept: float  # offset at t = 0 (the video's start)
    slope: float
    inliers: np.ndarray  # bool mask over the input points
    residual_rms: float  # of the inliers, seconds
    slope_stderr: float

    @property
    def drift_ppm(self) -> float:
        return slope_to_ppm(self.slope)

    def at(self, t: float | np.ndarray) -> float | np.ndarray:
        return self.intercept + self.slope * np.asarray(t)


def slope_to_ppm(slope: float) -> float:
    return float(-slope / (1.0 + slope) * 1e6)


def ppm_to_slope(ppm: float) -> float:
    d = ppm * 1e-6
    return -d / (1.0 + d)


def robust_line(t: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, *, min_tolerance: float = 5e-4) -> LineFit | None:
    """Fits ``y = a + b t`` robustly. Returns None with fewer than two distinct times.

    Inliers are the points within ``max(min_tolerance, 4 * 1.4826 * MAD)`` of the Theil-Sen line.
    """
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    w = np.ones_like(t) if weights is None else np.asarray(weights, float)
    if t.size < 2 or np.ptp(t) <= 0:
        return None
    i, j = np.triu_indices(t.size, 1)
    dt = t[j] - t[i]
    keep = dt != 0
    slope = float(np.median((y[j] - y[i])[keep] / dt[keep]))
    intercept = float(np.median(y - slope * t))
    resid = y - (intercept + slope * t)
    mad = float(np.median(np.abs(resid - np.median(resid))))
    tol = max(min_tolerance, 4 * 1.4826 * mad)
    inliers = np.abs(resid) <= tol
    if inliers.sum() >= 2 and np.ptp(t[inliers]) > 0:
        ti, yi, wi = t[inliers], y[inliers], np.maximum(w[inliers], 1e-6)
        A = np.stack([np.ones_like(ti), ti], axis=1)
        sw = np.sqrt(wi)
        coef, *_ = np.linalg.lstsq(A * sw[:, None], yi * sw, rcond=None)
        intercept, slope = float(coef[0]), float(coef[1])
        r = yi - (intercept + slope * ti)
        rms = float(np.sqrt(np.average(r**2, weights=wi)))
        n = ti.size
        spread = float(np.sqrt(np.sum(wi * (ti - np.average(ti, weights=wi)) ** 2) / np.mean(wi)))
        stderr = rms / spread if n > 2 and spread > 0 else float("inf")
        resid = y - (intercept + slope * t)
        inliers = np.abs(resid) <= tol
    else:
        rms, stderr = float("inf"), float("inf")
    return LineFit(intercept, slope, inliers, rms, stderr)
