"""Bad input to the native core: missing, empty, corrupt, truncated files and files without the
stream asked for. Each gives the documented exception from avsync.errors with a one-line
message naming the file and the reason; nothing crashes, hangs (every call runs under a time
limit) or leaks (repeated open/close keeps the resident memory flat)."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import numpy as np
import psutil
import pytest
from core_media import media

import avsync
from avsync import _core
from avsync.errors import AvsyncError, InvalidDataError, MediaError, NoStreamError
from avsync.media.audio import iter_audio
from avsync.media.probe import probe
from avsync.media.video import iter_frames, video_info

TIME_LIMIT_S = 60.0

READERS = {
    "read_audio": lambda p: avsync.read_audio(p),
    "iter_audio": lambda p: next(iter_audio(p)),
    "motion_energy": lambda p: avsync.motion_energy(p),
    "iter_frames": lambda p: next(iter_frames(p)),
    "video_info": video_info,
    "probe": probe,
}
AUDIO_READERS = ["read_audio", "iter_audio"]
VIDEO_READERS = ["motion_energy", "iter_frames", "video_info"]


def call_with_time_limit(fn, *args):
    """Runs fn(*args) on a thread; fails the test if it has not returned within the limit (a
    hang), and re-raises whatever it raised."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(TIME_LIMIT_S)
    if worker.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)}{args} did not return within {TIME_LIMIT_S:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def assert_message(exc: BaseException, path: Path, *reasons: str) -> None:
    message = str(exc)
    assert "\n" not in message, message
    assert str(path) in message, message
    assert any(r.lower() in message.lower() for r in reasons), message


# --- bad files ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    files = {"missing": folder / "missing.mp4", "directory": folder / "a_folder.mp4"}
    files["directory"].mkdir()
    files["empty"] = folder / "empty.mp4"
    files["empty"].write_bytes(b"")
    files["text"] = folder / "notes.mp4"
    files["text"].write_text("These are meeting notes, not a video.\n" * 50)
    files["random"] = folder / "random.mkv"
    files["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    # An MP4 whose index (moov, written at the end) was lost when the copy was cut short.
    whole = media("h264_aac.mp4").read_bytes()
    files["truncated_mp4"] = folder / "truncated.mp4"
    files["truncated_mp4"].write_bytes(whole[: len(whole) // 2])
    # A WAV cut inside its header.
    files["truncated_header"] = folder / "header_only.wav"
    files["truncated_header"].write_bytes(media("stereo_44k.wav").read_bytes()[:30])
    return files


CASES = [
    ("missing", MediaError, ("no such file",)),
    ("directory", MediaError, ("directory",)),
    ("empty", InvalidDataError, ("empty",)),
    ("text", InvalidDataError, ("not a media file", "invalid data")),
    ("random", InvalidDataError, ("not a media file", "invalid data")),
    ("truncated_mp4", InvalidDataError, ("not a media file", "invalid data")),
    ("truncated_header", MediaError, ("not a media file", "invalid data", "no audio could be decoded", "stream information")),
]


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("case, error, reasons", CASES, ids=[c[0] for c in CASES])
def test_unreadable_files(bad_files, reader, case, error, reasons):
    path = bad_files[case]
    with pytest.raises(error) as info:
        call_with_time_limit(READERS[reader], path)
    assert_message(info.value, path, *reasons)


@pytest.mark.parametrize("reader", AUDIO_READERS)
@pytest.mark.parametrize("name", ["video_only.mp4"])
def test_no_audio_stream(reader, name):
    path = media(name)
    with pytest.raises(NoStreamError) as info:
        call_with_time_limit(READERS[reader], path)
    assert_message(info.value, path, "no audio stream")


@pytest.mark.parametrize("reader", VIDEO_READERS)
@pytest.mark.parametrize("name", ["stereo_44k.wav", "audio_only.m4a", "cover_art.mp3"])
def test_no_video_stream(reader, name):
    """Audio-only files, including an mp3 whose only picture is its cover art."""
    path = media(name)
    with pytest.raises(NoStreamError) as info:
        call_with_time_limit(READERS[reader], path)
    assert_message(info.value, path, "no video stream")


def test_cover_art_is_not_video_but_the_audio_is_there():
    info = probe(media("cover_art.mp3"))
    assert info["has_video"] is False and info["has_audio"] is True
    assert [s["attached_pic"] for s in info["streams"] if s["type"] == "video"] == [True]
    assert avsync.read_audio(media("cover_art.mp3")).size == 16000


def test_error_classes_are_documented_builtins():
    """NoStreamError and InvalidDataError are ValueErrors (bad input); every one is a
    RuntimeError through MediaError, and an AvsyncError."""
    for cls in (MediaError, NoStreamError, InvalidDataError):
        assert issubclass(cls, AvsyncError) and issubclass(cls, RuntimeError)
    assert issubclass(NoStreamError, ValueError) and issubclass(InvalidDataError, ValueError)
    assert avsync.MediaError is MediaError and avsync.NoStreamError is NoStreamError


# --- damaged but partly readable ------------------------------------------------------------------


def test_truncated_streamable_file_decodes_what_is_there(tmp_path):
    """A Matroska file cut in half: the first half decodes, the same as from the whole file."""
    whole = media("vfr.mkv")
    cut = tmp_path / "cut.mkv"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    full_frames = np.concatenate([f for f, _ in iter_frames(whole)])
    frames = np.concatenate([f for f, _ in call_with_time_limit(lambda p: list(iter_frames(p)), cut)])
    assert 0 < frames.shape[0] < full_frames.shape[0]
    np.testing.assert_array_equal(frames[:-2], full_frames[: frames.shape[0] - 2])


def test_truncated_audio_decodes_what_is_there(tmp_path):
    whole = media("opus.ogg")
    cut = tmp_path / "cut.ogg"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    full = avsync.read_audio(whole)
    part = call_with_time_limit(avsync.read_audio, cut)
    assert 0.4 * full.size < part.size < 0.9 * full.size
    np.testing.assert_allclose(part[: part.size // 2], full[: part.size // 2], atol=1e-6)


@pytest.mark.parametrize("name", ["h264_aac.mp4", "opus.ogg", "vfr.mkv"])
def test_corrupted_middle_does_not_crash(tmp_path, name):
    """Random bytes over the middle third: decoding goes on (errors counted, not fatal) or stops
    with an avsync error; it neither crashes nor hangs."""
    source = media(name)
    data = bytearray(source.read_bytes())
    rng = np.random.default_rng(1)
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    damaged = tmp_path / f"damaged{source.suffix}"
    damaged.write_bytes(bytes(data))
    for reader in ("read_audio", "motion_energy"):
        if reader == "motion_energy" and name == "opus.ogg":
            continue
        try:
            result = call_with_time_limit(READERS[reader], damaged)
        except MediaError as exc:
            assert_message(exc, damaged, "")
        else:
            assert len(result) > 0


# --- no leaks ------------------------------------------------------------------------------------


def open_and_close_everything(video: Path, audio: Path, missing: Path) -> None:
    _core.AudioDecoder(str(audio), 16000).read(4096)
    _core.VideoDecoder(str(video), 32, 18).read(2)
    _core.MotionReader(str(video), 32, 18).read(2)
    _core.probe(str(video))
    _core.read_audio(str(audio), 8000)
    for bad, cls in ((missing, MediaError), (audio, NoStreamError)):
        with pytest.raises(cls):
            _core.VideoDecoder(str(bad), 32, 18)
    with pytest.raises(NoStreamError):
        _core.AudioDecoder(str(video), 16000)


def test_repeated_open_and_close_does_not_leak(tmp_path):
    video, audio, missing = media("video_only.mp4"), media("opus.ogg"), tmp_path / "missing.mp4"
    process = psutil.Process()
    for _ in range(20):  # warm-up: allocator pools, FFmpeg's lazily built tables
        open_and_close_everything(video, audio, missing)
    gc.collect()
    before = process.memory_info().rss
    for _ in range(150):
        open_and_close_everything(video, audio, missing)
    gc.collect()
    grown_mb = (process.memory_info().rss - before) / 2**20
    # One leaked decoder, frame or format context per round would be well over 20 MB here.
    assert grown_mb < 8, f"resident memory grew by {grown_mb:.1f} MB over 150 rounds"


def test_worker_thread_exceptions_reach_python():
    """An exception inside one of the std::threads GCC-PHAT uses comes back as a Python exception
    instead of terminating the process (std::terminate)."""
    for failing in range(4):
        with pytest.raises(RuntimeError, match=f"share {failing} failed"):
            _core._check_worker_exception(4, failing)
    _core._check_worker_exception(4, 99)  # no share fails: no exception
