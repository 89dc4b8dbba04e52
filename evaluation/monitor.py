"""ResourceMonitor: peak CPU and resident memory of this process and its children while it runs.

>>> with ResourceMonitor(interval_s=0.05) as mon:      # doctest: +SKIP
...     avsync.sync(["a.mp4", "b.mp4"])
>>> mon.peak_cpu_percent, mon.peak_memory_mb           # doctest: +SKIP
(187.5, 412.3)

CPU percent is 100 for one core fully busy (two busy cores read 200). It is the CPU time used by
the process tree (children that ended included) divided by the wall time, over windows of at
least ``window_s``: the kernel counts CPU time in ticks of about 10 ms, so a rate over a few
milliseconds would be noise (a single tick over 1 ms reads 1000 %). A block shorter than the
window gets its average over the whole block. Memory is the sum of the resident set sizes (RSS)
of the process and all its descendants, sampled every ``interval_s``; its peak is reported.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque

import psutil


class ResourceMonitor:
    """Samples the CPU time and RSS of ``pid`` (default: this process) and its descendants."""

    def __init__(self, interval_s: float = 0.05, pid: int | None = None, window_s: float = 0.25) -> None:
        if not interval_s > 0 or not window_s > 0:
            raise ValueError(f"interval_s and window_s must be positive, got {interval_s} and {window_s}")
        self.interval_s = float(interval_s)
        self.window_s = max(float(window_s), self.interval_s)
        self.root = psutil.Process(pid or os.getpid())
        self.peak_cpu_percent = 0.0
        self.peak_memory_mb = 0.0
        self.start_memory_mb = 0.0
        self.samples = 0
        self.elapsed_s = 0.0
        self._history: deque[tuple[float, float]] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _measure(self) -> tuple[float, float]:
        """(CPU seconds used by the tree so far, RSS of the tree in MB)."""
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            procs = [self.root]
        cpu, rss = 0.0, 0
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    rss += p.memory_info().rss
                # children_*: descendants that ended and were waited for
                cpu += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                continue
        return cpu, rss / 2**20

    def _sample(self) -> None:
        with self._lock:
            now = time.perf_counter()
            cpu, mem = self._measure()
            self.peak_memory_mb = max(self.peak_memory_mb, mem)
            self._history.append((now, cpu))
            # the newest earlier sample at least one window back gives the rate over that window
            base = None
            while len(self._history) > 1 and now - self._history[1][0] >= self.window_s:
                self._history.popleft()
            if now - self._history[0][0] >= self.window_s:
                base = self._history[0]
            if base is not None:
                self.peak_cpu_percent = max(self.peak_cpu_percent, 100.0 * (cpu - base[1]) / (now - base[0]))
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> ResourceMonitor:
        self._history.clear()
        self._t0 = time.perf_counter()
        self._cpu0, self.start_memory_mb = self._measure()
        self._history.append((self._t0, self._cpu0))
        self.peak_memory_mb = self.start_memory_mb
        self.peak_cpu_percent = 0.0
        self.samples = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._sample()
        self.elapsed_s = time.perf_counter() - self._t0
        if self.elapsed_s < self.window_s:  # shorter than one window: the average over the block
            cpu, _ = self._measure()
            self.peak_cpu_percent = 100.0 * (cpu - self._cpu0) / max(self.elapsed_s, 1e-9)

    def __enter__(self) -> ResourceMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
