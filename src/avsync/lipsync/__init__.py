"""Lip-sync measurement with SyncNet: offset and confidence per face track.

``avsync.lipsync`` is both this subpackage and a function (the module is callable):

>>> import avsync
>>> result = avsync.lipsync("talk.mp4", weights="syncnet_v2.model")      # doctest: +SKIP
>>> result.tracks[0].offset_frames, result.tracks[0].confidence          # doctest: +SKIP
(3, 10.021)
>>> result.to_dict()                                                      # doctest: +SKIP
{'video': 'talk.mp4', 'fps': 25.0, 'status': 'ok', 'tracks': [...], ...}

For many files, load the model and the detector once with :class:`LipSync`:

>>> runner = avsync.lipsync.LipSync("syncnet_v2.model")                  # doctest: +SKIP
>>> [runner.run(p).best for p in paths]                                   # doctest: +SKIP

Modules: ``model`` (the network, loading and saving weights), ``features`` (MFCC), ``scoring``
(offsets and confidences of pre-cropped tracks), ``detectors`` (CenterFace, S3FD), ``tracking``
(shot cuts, IoU tracks), ``faces`` (crops), ``pipeline`` (the in-memory pipeline), ``layout``
(SyncNet's output files, ``--fix``), ``speakers`` (who speaks when: ``run(..., speakers=True)``)
and ``speakers_long`` (the same for videos of any length, in chunks). torch and OpenCV are imported only when lip sync runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from avsync._callable import make_module_callable
from avsync.lipsync.result import STATUS_NO_FACES, STATUS_OK, LipSyncResult, TrackResult

if TYPE_CHECKING:  # pragma: no cover
    from avsync.lipsync.model import SyncNet
    from avsync.lipsync.speakers import SpeakerOptions


class LipSync:
    """A loaded SyncNet (and face detector) that measures lip sync in one video after another.

    ``weights``: a path to ``syncnet_v2.model`` (or an avsync checkpoint), or a loaded
    :class:`~avsync.lipsync.model.SyncNet`. Other keyword arguments are
    :class:`~avsync.lipsync.pipeline.LipSyncOptions` fields (``detector``, ``s3fd_weights``,
    ``min_track``, ``min_face_size``, ``facedet_scale``, ``crop_scale``, ``vshift``,
    ``batch_size``, ``device``, ``progress``...).
    """

    def __init__(self, weights: str | os.PathLike[str] | SyncNet, **options: Any) -> None:
        from avsync.lipsync.model import SyncNet, load_syncnet
        from avsync.lipsync.pipeline import LipSyncOptions
        from avsync.lipsync.scoring import SyncNetScorer, resolve_device

        self.options = LipSyncOptions(**options)
        device = resolve_device(self.options.device)
        if isinstance(weights, (str, os.PathLike)):
            net, self.weights_info = load_syncnet(weights, device)
            self.weights = self.weights_info.to_dict()
        else:  # a loaded network (anything with forward_lip / forward_aud and a config)
            net, self.weights_info = weights, None
            self.weights = {"path": None, "git_blob_id": None, "official": False}
        exact = not isinstance(net, SyncNet)  # the fast path folds SyncNet's own layers
        self.scorer = SyncNetScorer(net, device=device, batch_size=self.options.batch_size, vshift=self.options.vshift, exact=exact)
        self._detector = None

    @property
    def detector(self):  # noqa: ANN201 - a FaceDetector
        if self._detector is None:
            from avsync.lipsync.detectors import make_detector

            o = self.options
            self._detector = make_detector(o.detector, s3fd_weights=o.s3fd_weights, centerface_model=o.centerface_model, threshold=o.detect_threshold, device=o.device)
        return self._detector

    def run(
        self,
        path: str | os.PathLike[str],
        *,
        cropped: bool | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        reference: str | None = None,
        save_crops: bool = False,
        draw_video: bool = True,
        fix: str | os.PathLike[str] | None = None,
        speakers: SpeakerOptions | bool | None = None,
    ) -> LipSyncResult:
        """Measures ``path``. ``data_dir`` + ``reference`` write the SyncNet layout
        (``save_crops`` adds ``pycrop/``; ``draw_video`` ``pyavi/NAME/video_out.avi``); ``fix``
        writes a copy with the audio shifted by the most confident track's offset; ``speakers``
        (True or :class:`~avsync.lipsync.speakers.SpeakerOptions`) adds who speaks when
        (``result.speakers``, highlighted in ``video_out.avi``)."""
        import dataclasses
        import tempfile

        from avsync.lipsync.pipeline import run_lipsync

        if (data_dir is None) != (reference is None):
            raise ValueError("--data-dir and --reference go together")
        options = self.options if cropped is None else dataclasses.replace(self.options, cropped=cropped)
        with tempfile.TemporaryDirectory(prefix="avsync-crops-") as tmp:
            if save_crops and data_dir is not None:
                options = dataclasses.replace(options, crops_dir=tmp)
            detector = None if options.cropped else self.detector
            out = run_lipsync(path, self.scorer, options, weights=self.weights, detector=detector)
            if speakers:
                from avsync.lipsync.speakers import SpeakerOptions, speakers_from_lipsync

                chosen = speakers if isinstance(speakers, SpeakerOptions) else SpeakerOptions()
                out.result.speakers = speakers_from_lipsync(out.result, chosen, audio=out.audio)
            if data_dir is not None:
                from avsync.lipsync.layout import write_layout

                write_layout(out.result, data_dir, str(reference), audio=out.audio, crops_files=out.crops_files if save_crops else None, draw_video=draw_video, source_size=out.source_size)
        if fix is not None:
            from avsync.lipsync.layout import write_fixed

            best = out.result.best
            if best is None:
                raise ValueError(f"'{path}': no face track was found, so there is no offset to fix")
            write_fixed(path, best.offset_frames, fix)
        return out.result


def lipsync(
    path: str | os.PathLike[str],
    weights: str | os.PathLike[str] | SyncNet,
    detector: str = "centerface",
    *,
    cropped: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    reference: str | None = None,
    save_crops: bool = False,
    fix: str | os.PathLike[str] | None = None,
    speakers: SpeakerOptions | bool | None = None,
    **options: Any,
) -> LipSyncResult:
    """SyncNet offset and confidence for every face track of ``path`` (see :class:`LipSync` for
    the options and :class:`LipSyncResult` for the result). ``cropped=True`` treats the whole
    video as one face track, as the SyncNet demo does. A video without usable faces gives a
    result with status ``no_faces`` and no tracks. ``speakers`` adds who speaks when (see
    :mod:`avsync.lipsync.speakers`)."""
    runner = LipSync(weights, detector=detector, cropped=cropped, **options)
    return runner.run(path, data_dir=data_dir, reference=reference, save_crops=save_crops, fix=fix, speakers=speakers)


def find_speakers(path: str | os.PathLike[str], weights: str | os.PathLike[str] | SyncNet, **kwargs: Any):  # noqa: ANN201 - a SpeakerReport
    """Who speaks when in ``path``, for videos of any length (long ones in chunks): see
    :func:`avsync.lipsync.speakers_long.find_speakers` for the options.

    >>> report = avsync.lipsync.find_speakers("meeting.mp4", "syncnet_v2.model")   # doctest: +SKIP
    >>> report.speakers.to_rttm("meeting")                                           # doctest: +SKIP
    'SPEAKER meeting 1 0.520 2.160 <NA> <NA> track0 <NA> <NA>\n...'
    """
    from avsync.lipsync.speakers_long import find_speakers as run

    return run(path, weights, **kwargs)


__all__ = ["lipsync", "find_speakers", "LipSync", "LipSyncResult", "TrackResult", "STATUS_OK", "STATUS_NO_FACES"]

make_module_callable(__name__, "lipsync")
