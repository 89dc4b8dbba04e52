"""What every pairwise estimator returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Below this a pair is "no_match": nothing that overlaps was found.
NO_MATCH_CONFIDENCE = 0.2


@dataclass
class PairEstimate:
    """Offset of a video against another ("b started ``offset_s`` seconds after a")."""

    method: str
    offset_s: float | None
    confidence: float
    drift_ppm: float = 0.0
    # Diagnostics: the global correlation and the per-window offsets behind the drift estimate.
    global_offset_s: float | None = None
    global_confidence: float = 0.0
    window_times_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_offsets_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    window_inliers: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    note: str | None = None
    curve: tuple[np.ndarray, np.ndarray] | None = None  # (lags_s, values) for plots, when kept

    @property
    def matched(self) -> bool:
        return self.offset_s is not None and self.confidence >= NO_MATCH_CONFIDENCE
