"""Audio decoding (avsync.read_audio and friends) against the ffmpeg CLI's own
``-ac 1 -ar RATE -f f32le`` output: the same number of samples (±1) and the same values within
resampler tolerance, for containers, codecs, channel layouts and sample rates of every kind."""

from __future__ import annotations

import numpy as np
import pytest
from core_media import AUDIO_FILES, ffmpeg_audio, ffprobe_audio_start, media

import avsync
from avsync import _core
from avsync.media.audio import iter_audio, read_audio_with_start

# Both sides run libswresample with the same settings; a different resampler would be ~1e-3 off.
TOLERANCE = 1e-5


def assert_same_audio(samples: np.ndarray, expected: np.ndarray) -> None:
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - expected.size) <= 1, (samples.size, expected.size)
    n = min(samples.size, expected.size)
    assert n > 0
    np.testing.assert_allclose(samples[:n], expected[:n], rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("name", AUDIO_FILES)
def test_matches_the_ffmpeg_cli(name):
    path = media(name)
    assert_same_audio(avsync.read_audio(path), ffmpeg_audio(path))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
@pytest.mark.parametrize("name", ["stereo_44k.wav", "opus.ogg", "surround_51.flac"])
def test_matches_the_ffmpeg_cli_at_other_rates(name, rate):
    path = media(name)
    assert_same_audio(avsync.read_audio(path, rate), ffmpeg_audio(path, rate))


def test_mp3_gapless_padding_is_removed():
    """The LAME header's encoder delay and padding are honoured: 1.5 s of sine gives 1.5 s of
    samples, not 1.5 s plus ~1,100 priming and padding samples."""
    path = media("gapless.mp3")
    assert abs(avsync.read_audio(path, 44100).size - 66150) <= 1
    assert abs(avsync.read_audio(path, 16000).size - 24000) <= 1


def test_pcm_at_the_target_rate_comes_through_unchanged():
    from scipy.io import wavfile

    path = media("f32_16k.wav")
    rate, original = wavfile.read(path)
    assert rate == 16000 and original.dtype == np.float32
    np.testing.assert_array_equal(avsync.read_audio(path, 16000), original)


def test_stereo_downmix():
    """Stereo to mono is FFmpeg's down-mix, each channel at -3 dB: (L + R) / sqrt(2) (checked at
    44.1 kHz, where nothing is resampled)."""
    from scipy.io import wavfile

    path = media("stereo_44k.wav")
    rate, stereo = wavfile.read(path)
    expected = stereo.astype(np.float64).sum(axis=1) * np.sqrt(0.5) / 32768.0
    np.testing.assert_allclose(avsync.read_audio(path, 44100), expected, rtol=0, atol=1e-6)


def test_delayed_audio_start_is_reported():
    """The audio of delayed_audio.mp4 starts 0.5 s (minus the AAC priming) after its video."""
    path = media("delayed_audio.mp4")
    samples, start = read_audio_with_start(path)
    assert start == pytest.approx(ffprobe_audio_start(path), abs=1e-6)
    assert start == pytest.approx(0.5 - 1024 / 44100, abs=1e-3)
    assert_same_audio(samples, ffmpeg_audio(path))


def test_start_is_zero_when_audio_starts_with_the_file():
    _, start = read_audio_with_start(media("h264_aac.mp4"))
    assert start == pytest.approx(ffprobe_audio_start(media("h264_aac.mp4")), abs=1e-6)


@pytest.mark.parametrize("chunk", [1000, 4096, 1 << 16])
def test_chunks_add_up_to_the_whole(chunk):
    path = media("h264_aac.mp4")
    chunks = list(iter_audio(path, 16000, chunk=chunk))
    assert all(c.size == chunk for c in chunks[:-1]) and 0 < chunks[-1].size <= chunk
    np.testing.assert_array_equal(np.concatenate(chunks), avsync.read_audio(path, 16000))


def test_core_read_audio_chunk_size_does_not_matter():
    path = str(media("opus.ogg"))
    whole, _ = _core.read_audio(path, 16000)
    small, _ = _core.read_audio(path, 16000, 333)
    np.testing.assert_array_equal(whole, small)
    with pytest.raises(ValueError, match="chunk"):
        _core.read_audio(path, 16000, 0)


def test_decoder_properties():
    decoder = _core.AudioDecoder(str(media("surround_51.flac")), 16000)
    assert decoder.sample_rate == 16000
    assert decoder.source_sample_rate == 48000
    assert decoder.source_channels == 6
    assert decoder.duration_s == pytest.approx(1.5, abs=0.01)
    assert decoder.decode_errors == 0
    with pytest.raises(ValueError, match="max_samples"):
        decoder.read(0)


@pytest.mark.parametrize("rate, error", [(16000.0, TypeError), (True, TypeError), (999, ValueError), (800000, ValueError)])
def test_bad_sample_rates(rate, error):
    with pytest.raises(error):
        avsync.read_audio(media("stereo_44k.wav"), rate)
    with pytest.raises(error):
        next(iter_audio(media("stereo_44k.wav"), rate))


def test_bad_chunk():
    with pytest.raises(ValueError, match="chunk"):
        next(iter_audio(media("stereo_44k.wav"), chunk=0))


@pytest.mark.realmedia
@pytest.mark.parametrize("name", ["multicam/timbl_1.mp3", "multicam/full-44100Hz-stereo.mp4", "multicam/r4_excerpt.ogg"])
def test_real_recordings_match_the_ffmpeg_cli(shared_media, name):
    path = shared_media / name
    assert_same_audio(avsync.read_audio(path), ffmpeg_audio(path))
