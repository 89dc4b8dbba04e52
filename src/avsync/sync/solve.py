"""One consistent set of offsets from pairwise measurements.

Each matched pair (i, j) says ``offset_j - offset_i ≈ m_ij``. With the reference fixed at 0, the
offsets are the confidence-weighted least-squares solution over the pair graph, so a file that
does not overlap the reference is still placed through the files it does overlap. Pairs whose
residual exceeds their tolerance are inconsistent: the worst is set aside and the rest solved
again, as long as the graph stays connected; they are reported, never silently averaged in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Edge:
    i: int
    j: int
    offset_s: float  # j started offset_s after i
    confidence: float
    drift_ppm: float = 0.0
    tolerance_s: float = 0.005
    key: int = -1  # index of the measurement this edge came from


@dataclass
class Solution:
    offsets: list[float | None]
    drift_ppm: list[float]
    confidence: list[float]
    used: list[Edge] = field(default_factory=list)
    rejected: list[tuple[Edge, float]] = field(default_factory=list)  # (edge, residual)
    residuals: dict[int, float] = field(default_factory=dict)  # edge key -> residual


def _component(n: int, root: int, edges: list[Edge]) -> set[int]:
    adj: dict[int, list[int]] = {k: [] for k in range(n)}
    for e in edges:
        adj[e.i].append(e.j)
        adj[e.j].append(e.i)
    seen, stack = {root}, [root]
    while stack:
        u = stack.pop()
        for v in adj[u]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def _least_squares(n: int, root: int, nodes: list[int], edges: list[Edge], values: list[float]) -> dict[int, float]:
    index = {v: k for k, v in enumerate(x for x in nodes if x != root)}
    if not index:
        return {root: 0.0}
    A = np.zeros((len(edges), len(index)))
    y = np.zeros(len(edges))
    w = np.zeros(len(edges))
    for r, (e, val) in enumerate(zip(edges, values)):
        if e.j in index:
            A[r, index[e.j]] += 1.0
        if e.i in index:
            A[r, index[e.i]] -= 1.0
        y[r] = val
        w[r] = max(e.confidence, 1e-3) ** 2 / max(e.tolerance_s, 1e-6) ** 2
    sw = np.sqrt(w)
    sol, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
    out = {root: 0.0}
    out.update({v: float(sol[k]) for v, k in index.items()})
    return out


def _widest_paths(n: int, root: int, edges: list[Edge]) -> list[float]:
    """For each node, the best over paths from the root of the weakest edge confidence on it."""
    adj: dict[int, list[tuple[int, float]]] = {k: [] for k in range(n)}
    for e in edges:
        adj[e.i].append((e.j, e.confidence))
        adj[e.j].append((e.i, e.confidence))
    best = [0.0] * n
    best[root] = 1.0
    heap = [(-1.0, root)]
    while heap:
        negc, u = heapq.heappop(heap)
        if -negc < best[u]:
            continue
        for v, c in adj[u]:
            cand = min(-negc, c)
            if cand > best[v]:
                best[v] = cand
                heapq.heappush(heap, (-cand, v))
    return best


def solve(n: int, root: int, edges: list[Edge]) -> Solution:
    """Offsets (None where a node cannot be placed), drifts and confidences relative to ``root``."""
    active = list(edges)
    rejected: list[tuple[Edge, float]] = []
    while True:
        nodes = sorted(_component(n, root, active))
        inside = [e for e in active if e.i in nodes and e.j in nodes]
        drift = _least_squares(n, root, nodes, inside, [e.drift_ppm for e in inside])
        # A pair measured on i's clock: m_ij seconds of i last m_ij / (1 + d_i) seconds of the reference.
        values = [e.offset_s / (1.0 + drift.get(e.i, 0.0) * 1e-6) for e in inside]
        offs = _least_squares(n, root, nodes, inside, values)
        residuals = {id(e): val - (offs[e.j] - offs[e.i]) for e, val in zip(inside, values)}
        worst = max(inside, key=lambda e: abs(residuals[id(e)]) / e.tolerance_s, default=None)
        if worst is None or abs(residuals[id(worst)]) <= worst.tolerance_s:
            break
        remaining = [e for e in active if e is not worst]
        # Only set a pair aside if every file stays placed without it (otherwise nothing checks it).
        if _component(n, root, remaining) != set(nodes):
            break
        rejected.append((worst, residuals[id(worst)]))
        active = remaining
    conf = _widest_paths(n, root, inside)
    offsets: list[float | None] = [offs.get(k) for k in range(n)]
    drifts = [drift.get(k, 0.0) for k in range(n)]
    return Solution(
        offsets=offsets,
        drift_ppm=drifts,
        confidence=conf,
        used=inside,
        rejected=rejected,
        residuals={e.key: residuals[id(e)] for e in inside},
    )
