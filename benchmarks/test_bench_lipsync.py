"""pytest-benchmark suite for lip sync's kernels: MFCC against python_speech_features, SyncNet's
video tower (plain against folded/oneDNN), CenterFace through onnxruntime against OpenCV's dnn.

    python -m pytest benchmarks/test_bench_lipsync.py --benchmark-only
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pytest_benchmark")

SIGNAL = (np.random.default_rng(0).standard_normal(16000 * 60) * 3000).astype(np.int16)  # one minute


def test_mfcc_avsync(benchmark):
    from avsync.lipsync.features import mfcc

    benchmark(mfcc, SIGNAL)


def test_mfcc_python_speech_features(benchmark):
    psf = pytest.importorskip("python_speech_features")
    benchmark(psf.mfcc, SIGNAL, 16000)


@pytest.fixture(scope="module")
def net():
    from avsync.lipsync.model import random_syncnet

    return random_syncnet(0)


@pytest.fixture(scope="module")
def windows():
    return torch.rand(20, 3, 5, 224, 224) * 255


@pytest.mark.parametrize("path", ["plain", "folded_onednn"])
def test_syncnet_video_tower_20_windows(benchmark, net, windows, path):
    from avsync.lipsync.model import InferenceSyncNet

    model = net if path == "plain" else InferenceSyncNet(net)
    with torch.inference_mode():
        benchmark.pedantic(model.forward_lip, args=(windows,), rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("backend", ["onnxruntime", "opencv"])
def test_centerface_480x270(benchmark, backend):
    pytest.importorskip("cv2")
    from avsync.lipsync.detectors.centerface import CenterFace

    try:
        det = CenterFace(backend=backend)
    except (FileNotFoundError, ImportError) as exc:
        pytest.skip(str(exc))
    image = np.random.default_rng(1).integers(0, 255, (270, 480, 3), dtype=np.uint8)
    benchmark(det.detect, image)
