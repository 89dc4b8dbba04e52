"""MFCC parity with python_speech_features (the reference's features) and the window layout."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")
psf = pytest.importorskip("python_speech_features")

from avsync.lipsync.features import audio_windows, int16_scale, mel_filterbank, mfcc  # noqa: E402


@pytest.mark.parametrize("n", [1, 399, 400, 401, 560, 16000, 16000 * 3 + 123])
def test_mfcc_matches_python_speech_features(n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 4000).clip(-32768, 32767).astype(np.int16)
    expected = psf.mfcc(x, 16000)
    got = mfcc(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-9)


def test_mfcc_of_speechlike_float_audio_scaled_to_int16():
    t = np.arange(16000 * 2) / 16000
    rng = np.random.default_rng(1)
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(t.size)
    scaled = int16_scale(x.astype(np.float32))
    np.testing.assert_allclose(mfcc(scaled), psf.mfcc(scaled.astype(np.int16), 16000), rtol=1e-4)


def test_silence_takes_the_epsilon_path_like_the_reference():
    x = np.zeros(4000, np.int16)
    np.testing.assert_allclose(mfcc(x), psf.mfcc(x, 16000), rtol=1e-4)


def test_filterbank_matches_reference():
    np.testing.assert_allclose(mel_filterbank(), psf.get_filterbanks(26, 512, 16000, 0, 8000), rtol=1e-12)


def test_int16_scale_rounds_and_clips():
    np.testing.assert_array_equal(int16_scale(np.array([0.0, 0.5, -1.0, 1.0, 2.0, 1 / 65536 * 3])), [0, 16384, -32768, 32767, 32767, 2])


def test_audio_windows_are_the_references_slices():
    feats = np.arange(90 * 13, dtype=np.float64).reshape(90, 13)
    win = audio_windows(feats, 20)
    assert win.shape == (20, 1, 13, 20) and win.dtype == np.float32
    cct = feats.T[None, None]  # the reference's (1, 1, 13, T)
    for i in (0, 7, 17):
        np.testing.assert_array_equal(win[i, 0], cct[0, 0, :, 4 * i : 4 * i + 20])
    # windows that run past the features are zero-padded
    assert np.all(win[19, 0, :, 90 - 76 :] == 0)
