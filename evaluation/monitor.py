"""ResourceMonitor: peak CPU and resident memory of this process and its children while it runs.

>>> with ResourceMonitor(interval_s=0.05) as mon:      # doctest: +SKIP
...     avsync.sync(["a.mp4", "b.mp4"])
>>> mon.peak_cpu_percent, mon.peak_memory_mb           # doctest: +SKIP
(187.5, 412.3)

CPU percent is psutil's: 100 is one core fully busy, so two busy cores read 200. Memory is the
sum of the resident set sizes (RSS) of the process and all its descendants at each sample. A
sample is also taken when the block ends, covering the whole block for CPU, so a block shorter
than one interval still gets a CPU figure.
"""

from __future__ import annotations

import os
import threading
import time

import psutil


class ResourceMonitor:
    """Samples CPU% and RSS of ``pid`` (default: this process) and its children every ``interval_s``."""

    def __init__(self, interval_s: float = 0.1, pid: int | None = None) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = float(interval_s)
        self.root = psutil.Process(pid or os.getpid())
        self.peak_cpu_percent = 0.0
        self.peak_memory_mb = 0.0
        self.start_memory_mb = 0.0
        self.samples = 0
        self.elapsed_s = 0.0
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._lock = threading.Lock()

    def _tree(self) -> list[psutil.Process]:
        procs = [self.root]
        try:
            procs += self.root.children(recursive=True)
        except psutil.Error:
            pass
        alive = []
        for p in procs:
            known = self._procs.get(p.pid)
            if known is None:
                self._procs[p.pid] = p
                try:
                    p.cpu_percent(None)  # first call primes psutil's counter
                except psutil.Error:
                    continue
                known = p
            alive.append(known)
        return alive

    def _sample(self) -> None:
        with self._lock:
            cpu, rss = 0.0, 0
            for p in self._tree():
                try:
                    cpu += p.cpu_percent(None)
                    rss += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak_cpu_percent = max(self.peak_cpu_percent, cpu)
            self.peak_memory_mb = max(self.peak_memory_mb, rss / 2**20)
            self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> ResourceMonitor:
        self._procs.clear()
        self._tree()  # prime CPU counters
        self.start_memory_mb = self.root.memory_info().rss / 2**20
        self.peak_memory_mb = self.start_memory_mb
        self.peak_cpu_percent = 0.0
        self.samples = 0
        self._stop.clear()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name="resource-monitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.elapsed_s = time.perf_counter() - self._t0
        self._sample()  # CPU since the last sample (since the start when the block was short)

    def __enter__(self) -> ResourceMonitor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
