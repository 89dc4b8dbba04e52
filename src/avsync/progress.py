"""Progress bars on stderr for long work (tqdm), silent when disabled or not on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


class _NullBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass


@contextlib.contextmanager
def progress_bar(total: float | None = None, *, enabled: bool = True, **kwargs: Any) -> Iterator[Any]:
    """A tqdm bar when ``enabled`` and stderr is a terminal (or ``enabled="always"``), else a no-op."""
    if not enabled or (enabled is True and not sys.stderr.isatty()):
        yield _NullBar()
        return
    from tqdm import tqdm

    bar = tqdm(total=total, leave=False, dynamic_ncols=True, file=sys.stderr, **kwargs)
    try:
        yield bar
    finally:
        bar.close()
