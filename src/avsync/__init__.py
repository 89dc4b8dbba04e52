"""avsync: audio-visual synchronisation.

Multi-camera sync (GCC-PHAT on audio, motion energy on video), lip-sync measurement (SyncNet),
and the tools around them. Heavy modules (torch, matplotlib, the web server) are imported only
when the function that needs them is first used.

>>> import avsync
>>> result = avsync.sync(["cam1.mp4", "cam2.mp4"])          # doctest: +SKIP
>>> result.to_dict()["videos"][1]["offset_s"]               # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from avsync._core import __version__
from avsync.errors import AvsyncError, InvalidDataError, MediaError, NoStreamError
from avsync.media.audio import read_audio
from avsync.media.video import MotionSignal, motion_energy
from avsync.phat import PhatResult, gcc_phat

# Public names that live in modules we do not want to import at start-up. ``sync`` and
# ``lipsync`` are subpackages that can be called like functions (see avsync._callable).
_LAZY = {
    "sync": "avsync",
    "SyncResult": "avsync.sync.result",
    "apply_offsets": "avsync.sync.apply",
    "probe": "avsync.media.probe",
    "lipsync": "avsync",
    "LipSyncResult": "avsync.lipsync",
    "grab_frames": "avsync.review",
}

if TYPE_CHECKING:  # pragma: no cover
    from avsync.media.probe import probe
    from avsync.sync import sync
    from avsync.sync.apply import apply_offsets
    from avsync.sync.result import SyncResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'avsync' has no attribute {name!r}")
    value = import_module(f"avsync.{name}") if module == "avsync" else getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__",
    "AvsyncError",
    "MediaError",
    "NoStreamError",
    "InvalidDataError",
    "read_audio",
    "motion_energy",
    "MotionSignal",
    "gcc_phat",
    "PhatResult",
    *_LAZY,
]
