"""Running one analysis per file in parallel: a local process pool or Ray tasks.

Both executors take a *setup* (picklable, sent once to each worker, turned there into a handler
that is kept for the worker's lifetime: the model is loaded once per worker) and *items* (one
per file); they yield ``(item, outcome)`` as files finish, in completion order. The handler
catches its own exceptions (an outcome with ``status: error``), so one bad file never stops a
run; a worker process that dies (out of memory, a crash in native code) is found out and the
file that killed it gets an ``error`` outcome, the others are retried.

At most ``max_workers`` items are in flight, so Ctrl-C (or closing the generator) stops quickly:
queued items were never sent, running ones are cancelled and their workers ended.

>>> from avsync.curate.executors import run_tasks
>>> for item, outcome in run_tasks(setup, items, executor="local", max_workers=2):   # doctest: +SKIP
...     print(item, outcome["status"])
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
WORKER_DIED = "the worker process died while analysing this file (out of memory, or a crash in native code)"


class WorkerSetup(Protocol):
    """What every worker needs, sent once: ``key`` names it (workers cache one handler per key),
    ``threads`` is how many CPU threads one worker may use, ``make()`` builds the handler."""

    key: str
    threads: int

    def make(self) -> Callable[[Any], dict]: ...


class WorkerDied(Exception):
    """The worker running an item died; ``isolated``: it was the only item in flight, so that
    item is the cause."""

    def __init__(self, isolated: bool) -> None:
        super().__init__(WORKER_DIED)
        self.isolated = isolated


# ---------------------------------------------------------------------------------------------
# worker side (module level, so both multiprocessing and Ray can import it by name)

_handlers: dict[str, Callable[[Any], dict]] = {}


def _limit_threads(threads: int) -> None:
    for var in ("AVSYNC_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass


def _handler(setup: WorkerSetup) -> Callable[[Any], dict]:
    handler = _handlers.get(setup.key)
    if handler is None:
        _limit_threads(setup.threads)
        _handlers.clear()  # one model per worker
        handler = _handlers[setup.key] = setup.make()
    return handler


def call_handler(setup: WorkerSetup, item: Any) -> dict:
    """Runs ``item`` through the worker's handler for ``setup``; never raises for the item's
    own failures (the handler turns them into outcomes), but a failure to build the handler
    (bad weights, a missing package) becomes an error outcome too."""
    try:
        return _handler(setup)(item)
    except Exception as exc:  # noqa: BLE001 - one file's failure is an outcome, never the run's end
        from avsync.cli import one_line

        return {"status": "error", "error": one_line(exc)}


_pool_setup: WorkerSetup | None = None


def _pool_init(setup: WorkerSetup) -> None:
    global _pool_setup
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _pool_setup = setup


def _pool_call(item: Any) -> dict:
    assert _pool_setup is not None
    return call_handler(_pool_setup, item)


# ---------------------------------------------------------------------------------------------
# backends: submit, wait for any, collect, stop


class _LocalBackend:
    def __init__(self, setup: WorkerSetup, max_workers: int) -> None:
        self.setup = setup
        self.max_workers = max_workers
        self.pool = None

    def _ensure_pool(self):  # noqa: ANN202
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: clean workers (no inherited torch/OpenMP thread state from the driver)
            self.pool = ProcessPoolExecutor(self.max_workers, mp_context=multiprocessing.get_context("spawn"), initializer=_pool_init, initargs=(self.setup,))
        return self.pool

    def submit(self, item: Any) -> Any:
        return self._ensure_pool().submit(_pool_call, item)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Any, in_flight: int) -> dict:
        from concurrent.futures.process import BrokenProcessPool

        try:
            return handle.result()
        except BrokenProcessPool:
            self.stop()  # the pool is unusable; a new one is made on the next submit
            raise WorkerDied(isolated=in_flight == 1) from None

    def stop(self, handles: Iterable[Any] = ()) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        for h in handles:
            h.cancel()
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:  # running analyses are not waited for
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=10)


class _RayBackend:
    def __init__(self, setup: WorkerSetup, max_workers: int, address: str | None) -> None:
        import ray

        self.ray = ray
        self.started_here = False
        if not ray.is_initialized():
            init: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
            if address:
                init["address"] = address
            else:
                # a local instance; logical CPUs >= the workers asked for, so none waits (on a
                # 2-core machine Ray would otherwise run fewer tasks than --max-workers)
                init["num_cpus"] = max(os.cpu_count() or 1, max_workers * setup.threads)
            ray.init(**init)
            self.started_here = True
        self.setup_ref = ray.put(setup)
        self.remote = ray.remote(num_cpus=setup.threads, max_retries=0)(call_handler)

    def submit(self, item: Any) -> Any:
        return self.remote.remote(self.setup_ref, item)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = self.ray.wait(handles, num_returns=1, timeout=timeout)
        return done

    def result(self, handle: Any, in_flight: int) -> dict:
        from ray.exceptions import ActorDiedError, WorkerCrashedError

        try:
            return self.ray.get(handle)
        except (WorkerCrashedError, ActorDiedError):
            raise WorkerDied(isolated=True) from None  # Ray reports the crash on this task only

    def stop(self, handles: Iterable[Any] = ()) -> None:
        for h in handles:
            try:
                self.ray.cancel(h, force=True)
            except Exception as exc:  # noqa: BLE001 - best effort when stopping
                log.debug("ray.cancel: %s", exc)
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False


def make_backend(setup: WorkerSetup, executor: str, max_workers: int, ray_address: str | None = None):  # noqa: ANN201
    if executor == "local":
        if ray_address:
            raise ValueError("--ray-address goes with --executor ray")
        return _LocalBackend(setup, max_workers)
    if executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError("--executor ray needs Ray: pip install 'avsync[ray]'") from None
        return _RayBackend(setup, max_workers, ray_address)
    raise ValueError(f"unknown executor {executor!r}: choose {' or '.join(EXECUTORS)}")


# ---------------------------------------------------------------------------------------------
# the scheduling loop


def run_tasks(
    setup: WorkerSetup,
    items: Iterable[Any],
    *,
    executor: str = "local",
    max_workers: int = 2,
    ray_address: str | None = None,
) -> Iterator[tuple[Any, dict]]:
    """Runs every item through the workers; yields ``(item, outcome)`` as each finishes.

    ``executor``: ``"local"`` (a process pool of ``max_workers``) or ``"ray"`` (Ray tasks,
    ``max_workers`` in flight, on the cluster at ``ray_address`` or a local instance; an
    instance already initialised in this process is used as it is). Items are pulled from
    ``items`` lazily, as workers become free.
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, got {max_workers}")
    backend = make_backend(setup, executor, max_workers, ray_address)
    pending = iter(items)
    suspects: deque[Any] = deque()  # in flight when a worker died: rerun one at a time
    in_flight: dict[Any, Any] = {}  # handle -> item
    exhausted = False
    try:
        while True:
            limit = 1 if suspects else max_workers
            while len(in_flight) < limit:
                if suspects:
                    item = suspects.popleft()
                elif not exhausted:
                    item = next(pending, _END)
                    if item is _END:
                        exhausted = True
                        break
                else:
                    break
                in_flight[backend.submit(item)] = item
            if not in_flight:
                return
            for handle in backend.wait(list(in_flight), timeout=1.0):
                item = in_flight.pop(handle)
                try:
                    outcome = backend.result(handle, len(in_flight) + 1)
                except WorkerDied as died:
                    if died.isolated:
                        yield item, {"status": "error", "error": WORKER_DIED}
                    else:
                        log.warning("a worker process died; retrying the %d files that were in flight one at a time", len(in_flight) + 1)
                        suspects.extend([item, *in_flight.values()])
                        in_flight.clear()
                        break
                    continue
                yield item, outcome
    finally:
        backend.stop(list(in_flight))


_END = object()


def files_per_minute(count: int, started: float) -> float:
    elapsed = time.perf_counter() - started
    return round(60.0 * count / elapsed, 3) if elapsed > 0 else 0.0
