"""Log files with one request id on every line, so the lines of one run can be picked out of a
shared log (``grep REQUEST_ID logs/video_sync.log``)."""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

DEFAULT_LOG_FILE = Path("logs") / "video_sync.log"
_FORMAT = "%(asctime)s %(request_id)s %(levelname)s %(name)s: %(message)s"


class _RequestIdFilter(logging.Filter):
    def __init__(self, request_id: str) -> None:
        super().__init__()
        self.request_id = request_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = self.request_id
        return True


def new_request_id() -> str:
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def request_log(path: str | os.PathLike[str] | None, request_id: str, logger: str = "avsync") -> Iterator[str]:
    """Appends the ``logger`` records of this block to ``path`` (None: nowhere), each line
    stamped with ``request_id``."""
    if path is None:
        yield request_id
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(_RequestIdFilter(request_id))
    handler.setLevel(logging.INFO)
    log = logging.getLogger(logger)
    previous = log.level
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        yield request_id
    finally:
        log.removeHandler(handler)
        log.setLevel(previous)
        handler.close()
