"""Curating talking-head data at scale: long videos, batches and quality filtering.

- :mod:`~avsync.curate.chunking`: cut videos into chunks at fixed times or in silences
  (``avsync chunk-time``, ``avsync chunk-silence``).
- :mod:`~avsync.curate.long_video`: lip sync of a long video chunk by chunk, with the offset
  over time (``avsync long-video``).
- :mod:`~avsync.curate.batch`: lip sync over a folder of files (``avsync batch``) and the
  resumable engine the others use.
- :mod:`~avsync.curate.filtering`: sort a dataset into good and poor lip sync
  (``avsync filter``).
- :mod:`~avsync.curate.executors`: where the work runs: a local process pool or Ray.

Nothing heavy is imported until a function runs.
"""
