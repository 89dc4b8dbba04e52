"""Exceptions raised by avsync.

Every message is one line that names the file and the reason.

- :class:`MediaError` (a ``RuntimeError``): a file could not be opened or decoded, or is missing.
- :class:`NoStreamError` (also a ``ValueError``): the file has no audio stream when audio was
  asked for, or no video stream when video was asked for.
- :class:`InvalidDataError` (also a ``ValueError``): the file is not usable media: empty,
  corrupt, or truncated before anything could be decoded.
"""

from __future__ import annotations


class AvsyncError(Exception):
    """Base class of every avsync error."""


class MediaError(AvsyncError, RuntimeError):
    """A media file could not be opened or decoded."""


class NoStreamError(MediaError, ValueError):
    """The file has no stream of the kind that was asked for."""


class InvalidDataError(MediaError, ValueError):
    """The file is empty, corrupt, or not media at all."""


__all__ = ["AvsyncError", "MediaError", "NoStreamError", "InvalidDataError"]
