"""Aligned waveforms: the strongest transients that every recording hears (a clap, a door), and
the residual error of the sync at each, measured at 48 kHz.

1. Each file's audio is decoded once in chunks to a 5 ms energy envelope; a transient is a
   block whose energy jumps far above the preceding 200 ms (in dB).
2. On the synced timeline, a moment scores by its *weakest* jump among the files recording
   then (every file must hear it), and the best moments at least 0.5 s apart are kept.
3. A second chunked pass cuts 0.5 s around each moment out of every file, and GCC-PHAT between
   the anchor's cut (the reference, or the first file with audio) and each other file's cut
   gives the residual: how much later the event sits in that file than in the anchor after
   alignment (positive: the file's events come late; its ``offset_s`` is that much too
   large). Sub-sample
   interpolation and the exact placement of each cut make it accurate to a few microseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from avsync import _core
from avsync.errors import AvsyncError
from avsync.phat import gcc_phat
from avsync.review.placed import Placed

RATE = 48000
BLOCK_S = 0.005
HISTORY_S = 0.2  # a jump is measured against this much audio before it
MIN_JUMP_DB = 6.0
MAX_RESIDUAL_S = 0.02  # residuals are searched within ±20 ms: beyond that the sync is simply wrong
BEFORE_S, AFTER_S = 0.2, 0.3  # the cut around each transient
_CHUNK = 1 << 16


@dataclass
class Transient:
    time_s: float  # synced time of the jump (block resolution)
    strength_db: float  # the weakest file's jump
    files: list[str] = field(default_factory=list)  # files recording then
    anchor: str | None = None  # the file the others are measured against
    onset_s: float | None = None  # refined onset in the anchor (synced time)
    residual_ms: dict[str, float | None] = field(default_factory=dict)
    match: dict[str, float] = field(default_factory=dict)  # GCC-PHAT confidence of each residual
    windows: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    window_start_s: dict[str, float] = field(default_factory=dict, repr=False)  # synced time of each cut's first sample

    def to_dict(self) -> dict:
        return {
            "time_s": round(self.time_s, 4),
            "onset_s": None if self.onset_s is None else round(self.onset_s, 6),
            "strength_db": round(self.strength_db, 1),
            "anchor": self.anchor,
            "residual_ms": {k: (None if v is None else round(v, 4)) for k, v in self.residual_ms.items()},
            "match": {k: round(v, 3) for k, v in self.match.items()},
        }


def envelope(p: Placed, rate: int = RATE) -> tuple[np.ndarray, float]:
    """RMS of each ``BLOCK_S`` block of the file's audio, and the audio's start (file seconds)."""
    dec = _core.AudioDecoder(str(p.file), int(rate))
    block = int(round(BLOCK_S * rate))
    parts, carry = [], np.zeros(0, np.float32)
    while True:
        chunk = dec.read(_CHUNK)
        if chunk.size == 0:
            break
        data = np.concatenate([carry, chunk])
        n = data.size // block
        parts.append(np.sqrt(np.mean(np.square(data[: n * block].reshape(n, block), dtype=np.float64), axis=1)))
        carry = data[n * block:]
    rms = np.concatenate(parts) if parts else np.zeros(0)
    return rms, float(dec.start_s)


def jumps_db(rms: np.ndarray) -> np.ndarray:
    """How far each block's energy rises above the mean of the ``HISTORY_S`` before it (dB, >= 0)."""
    energy = np.square(rms) + 1e-12
    hist = max(2, int(round(HISTORY_S / BLOCK_S)))
    csum = np.concatenate([[0.0], np.cumsum(energy)])
    idx = np.arange(energy.size)
    lo = np.maximum(0, idx - hist)
    hi = np.maximum(lo + 1, idx - 1)  # leave out the block just before: onsets straddle blocks
    before = (csum[hi] - csum[lo]) / (hi - lo)
    jump = 10 * np.log10(energy / before)
    jump[: hist // 2] = 0.0  # too little history at the very start
    # Very quiet blocks do not count, however they compare with silence before them.
    floor = np.percentile(energy, 50) * 4 if energy.size else 0.0
    return np.where(energy > floor, np.clip(jump, 0.0, None), 0.0)


def shared_transients(placed: list[Placed], envelopes: dict[str, tuple[np.ndarray, float]], count: int = 3,
                      min_gap_s: float = 0.5) -> list[Transient]:
    """The ``count`` strongest transients heard by every file recording at their time, best first."""
    files = [p for p in placed if p.path in envelopes and envelopes[p.path][0].size > 10]
    if len(files) < 2 or count < 1:
        return []
    grid = np.arange(min(p.start_s for p in files), max(p.end_s for p in files), BLOCK_S)
    weakest = np.full(grid.size, np.inf)
    raw_sum = np.zeros(grid.size)  # unpooled: where exactly the jump is
    covering = np.zeros(grid.size, int)
    pool = 4  # ±20 ms: tolerance for the sync's own error before it is measured
    for p in files:
        rms, audio_start = envelopes[p.path]
        jump = jumps_db(rms)
        block_times = p.synced_time(audio_start + (np.arange(rms.size) + 0.5) * BLOCK_S)
        inside = (grid >= block_times[0]) & (grid <= block_times[-1])
        value = np.interp(grid, block_times, jump)
        raw_sum += np.where(inside, value, 0.0)
        pooled = np.lib.stride_tricks.sliding_window_view(np.pad(value, pool, mode="edge"), 2 * pool + 1).max(axis=1)
        weakest = np.where(inside, np.minimum(weakest, pooled), weakest)
        covering += inside
    score = np.where(covering >= 2, weakest, 0.0)
    picked: list[Transient] = []
    for i in np.argsort(-score, kind="stable"):
        if score[i] < MIN_JUMP_DB or len(picked) >= count:
            break
        lo = max(0, i - pool)
        T = float(grid[lo + int(np.argmax(raw_sum[lo: i + pool + 1]))])
        if all(abs(T - t.time_s) >= min_gap_s for t in picked):
            picked.append(Transient(T, float(score[i]), [p.path for p in files if p.start_s <= T <= p.end_s]))
    return picked


def read_windows(path: str | os.PathLike[str], rate: int, starts_s: list[float], n: int) -> tuple[list[np.ndarray], list[int], float]:
    """``n`` samples of mono audio at ``rate`` from each file time in ``starts_s``, in one
    chunked pass (zeros where the file has no audio). Also returns each window's first sample
    index (0 = the audio's first sample) and the audio's start in the file (seconds)."""
    dec = _core.AudioDecoder(os.fspath(path), int(rate))
    audio_start = float(dec.start_s)
    firsts = [int(round((s - audio_start) * rate)) for s in starts_s]
    windows = [np.zeros(n, np.float32) for _ in starts_s]
    pos, last = 0, max(firsts, default=0) + n
    while pos < last:
        chunk = dec.read(_CHUNK)
        if chunk.size == 0:
            break
        for first, out in zip(firsts, windows):
            lo, hi = max(first, pos), min(first + n, pos + chunk.size)
            if lo < hi:
                out[lo - first: hi - first] = chunk[lo - pos: hi - pos]
        pos += chunk.size
    return windows, firsts, audio_start


def cut_windows(p: Placed, transients: list[Transient], rate: int = RATE) -> None:
    """Stores in each transient this file's ``BEFORE_S + AFTER_S`` of audio around it."""
    wanted = [t for t in transients if p.path in t.files]
    if not wanted:
        return
    n = int(round((BEFORE_S + AFTER_S) * rate))
    windows, firsts, audio_start = read_windows(p.file, rate, [p.file_time(t.time_s - BEFORE_S) for t in wanted], n)
    for t, win, first in zip(wanted, windows, firsts):
        t.windows[p.path] = win
        # The cut starts at a whole sample: where that sample sits on the synced timeline.
        t.window_start_s[p.path] = p.synced_time(audio_start + first / rate)


def measure_residuals(transients: list[Transient], anchor: str, rate: int = RATE) -> None:
    """Residual of every file against ``anchor`` at each transient (see the module doc)."""
    for t in transients:
        ref = t.windows.get(anchor)
        if ref is None:
            continue
        t.anchor = anchor
        t.onset_s = t.window_start_s[anchor] + onset_index(ref, rate) / rate
        for path, win in t.windows.items():
            if path == anchor:
                continue
            r = gcc_phat(ref, win, rate, MAX_RESIDUAL_S)
            # The two cuts start where each file's samples fall, up to half a sample from the ideal.
            residual = r.delay_s + t.window_start_s[path] - t.window_start_s[anchor]
            t.match[path] = float(r.confidence)
            t.residual_ms[path] = float(residual * 1e3) if r.confidence > 0 else None


def onset_index(x: np.ndarray, rate: int) -> int:
    """The first sample of the transient near the cut's ``BEFORE_S`` mark: where the signal first
    exceeds a quarter of its largest swing within 50 ms after the mark."""
    mark = int(BEFORE_S * rate)
    lo, hi = max(0, mark - int(0.03 * rate)), min(x.size, mark + int(0.05 * rate))
    seg = np.abs(np.diff(x[lo:hi].astype(np.float64), prepend=x[lo]))
    if seg.size == 0 or seg.max() <= 0:
        return mark
    return lo + int(np.argmax(seg >= 0.25 * seg.max()))


def review_audio(placed: list[Placed], anchor: str | None, count: int = 3) -> tuple[list[Transient], str | None]:
    """Finds the shared transients and measures the residuals. Returns them and the anchor used."""
    with_audio = [p for p in placed if p.has_audio]
    if len(with_audio) < 2:
        return [], None
    envelopes = {}
    for p in with_audio:
        try:
            rms, start = envelope(p)
        except (AvsyncError, ValueError):  # unreadable audio: that file is left out of the plots
            continue
        if rms.size:
            envelopes[p.path] = (rms, start)
    with_audio = [p for p in with_audio if p.path in envelopes]
    transients = shared_transients(with_audio, envelopes, count)
    if not transients:
        return [], None
    paths = [p.path for p in with_audio if p.path in envelopes]
    anchor = anchor if anchor in paths else paths[0]
    for p in with_audio:
        cut_windows(p, transients)
    # A transient the anchor does not record is measured against the first file that does.
    for t in transients:
        local = anchor if anchor in t.windows else next(iter(t.windows), None)
        if local is not None:
            measure_residuals([t], local)
    return transients, anchor
