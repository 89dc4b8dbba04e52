"""Offsets and confidences: the reference's computation, checked against a plain numpy version of
it, and the sign convention (positive: audio before video)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_signal = pytest.importorskip("scipy.signal")

from avsync.lipsync.model import SyncNetConfig, random_syncnet  # noqa: E402
from avsync.lipsync.scoring import LipEmbedder, SyncNetScorer  # noqa: E402

# A narrow network on the official 224-pixel crops: the same code paths at a 16th of the cost.
NARROW = SyncNetConfig(width=0.25, embed_dim=64)


@pytest.fixture(scope="module")
def narrow_net():
    return random_syncnet(5, NARROW)


def reference_scores(v: np.ndarray, a: np.ndarray, vshift: int):
    """The reference's calc_pdist and what follows, written with loops."""
    n, d = v.shape
    padded = np.vstack([np.zeros((vshift, d)), a, np.zeros((vshift, d))])
    dists = np.array([[np.linalg.norm(v[i] - padded[i + j] + 1e-6) for j in range(2 * vshift + 1)] for i in range(n)])
    mdist = dists.mean(0)
    best = int(np.argmin(mdist))
    median = np.sort(mdist)[len(mdist) // 2]
    fconf = scipy_signal.medfilt(median - dists[:, best], 9)
    return vshift - best, median - mdist[best], mdist[best], fconf


@pytest.mark.parametrize("shift", [-4, 0, 3])
def test_scores_match_a_loop_implementation_and_the_sign_convention(shift, narrow_net):
    rng = np.random.default_rng(shift + 10)
    n, d = 60, 16
    video = rng.standard_normal((n + 20, d))
    # audio window k holds what the video shows at window k + shift: the audio comes first when shift > 0
    audio = np.stack([video[k + shift + 8] for k in range(n)]) + 0.05 * rng.standard_normal((n, d))
    video = video[8 : 8 + n]
    scorer = SyncNetScorer(narrow_net, vshift=6)
    got = scorer.score_embeddings(torch.from_numpy(video).float(), torch.from_numpy(audio).float())
    off, conf, dist, fconf = reference_scores(video.astype(np.float32), audio.astype(np.float32), 6)
    assert got.offset_frames == off == shift
    assert got.confidence == pytest.approx(conf, rel=1e-4)
    assert got.min_dist == pytest.approx(dist, rel=1e-4)
    np.testing.assert_allclose(got.framewise_confidence, fconf, rtol=1e-4, atol=1e-4)
    assert got.distances.shape == (n, 13) and got.windows == n


def test_score_track_uses_the_references_window_count_and_input_layout(narrow_net):
    net = narrow_net
    scorer = SyncNetScorer(net, exact=True, batch_size=7)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (30, 224, 224, 3), dtype=np.uint8)
    audio = (rng.standard_normal(30 * 640 + 100) * 3000).astype(np.int16)
    score = scorer.score_track(crops, audio)
    assert score.windows == 30 - 5  # min(frames, samples // 640) - 5, as the reference
    # the same numbers when the network is fed by hand as the reference feeds it (BGR, 0-255)
    from avsync.lipsync.features import audio_windows, mfcc

    with torch.inference_mode():
        im = torch.from_numpy(crops[..., ::-1].astype(np.float32)).permute(3, 0, 1, 2)
        v = net.forward_lip(torch.stack([im[:, i : i + 5] for i in range(25)]))
        a = net.forward_aud(torch.from_numpy(audio_windows(mfcc(audio), 25)))
    manual = scorer.score_embeddings(v, a)
    assert manual.offset_frames == score.offset_frames
    assert manual.confidence == pytest.approx(score.confidence, rel=1e-5)


def test_streaming_embedder_equals_one_batch(narrow_net):
    scorer = SyncNetScorer(narrow_net, batch_size=4)
    crops = np.random.default_rng(2).integers(0, 256, (17, 224, 224, 3), dtype=np.uint8)
    emb = LipEmbedder(scorer, hold=True)
    for i, c in enumerate(crops):
        emb.push(c)
        if i == 11:
            emb.release()
    streamed = emb.finish()
    whole = scorer.embed_video(crops)
    assert streamed.shape == whole.shape == (13, 64)
    assert torch.allclose(streamed, whole, rtol=1e-4, atol=1e-3)


def test_too_short_tracks_are_refused_with_a_clear_message(narrow_net):
    scorer = SyncNetScorer(narrow_net)
    with pytest.raises(ValueError, match="at least 6 frames"):
        scorer.score_track(np.zeros((5, 224, 224, 3), np.uint8), np.zeros(16000, np.float32))


def test_the_network_sees_its_crop_region_of_the_face_crop():
    import cv2

    from avsync.lipsync.scoring import crops_to_tensor, network_crops

    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (6, 224, 224, 3), dtype=np.uint8)
    assert np.array_equal(network_crops(crops), crops)  # the official input: untouched
    cfg = SyncNetConfig.small()
    # (0.2, 0.35, 0.8, 0.95) of 224 pixels: columns 45..179, rows 78..213, area-resized to 64x64
    want = np.stack([cv2.resize(np.ascontiguousarray(c[78:213, 45:179]), (64, 64), interpolation=cv2.INTER_AREA) for c in crops])
    got = network_crops(crops, cfg.image_size, cfg.crop_region)
    assert got.shape == (6, 64, 64, 3) and np.array_equal(got, want)
    tensor = crops_to_tensor(crops, cfg.image_size, cfg.crop_region)
    assert torch.equal(tensor, torch.from_numpy(want[..., ::-1].copy()).permute(3, 0, 1, 2).float())  # BGR, (3, T, S, S)
    # The scorer feeds a small network its region: what lies outside it changes nothing.
    net = random_syncnet(2, cfg)
    scorer = SyncNetScorer(net, exact=True)
    outside = crops.copy()
    outside[:, :70] = 0  # the forehead and eyes
    outside[:, :, :40] = 255
    assert torch.equal(scorer.embed_video(crops), scorer.embed_video(outside))
    inside = crops.copy()
    inside[:, 120:160, 90:130] = 0  # the mouth
    assert not torch.allclose(scorer.embed_video(crops), scorer.embed_video(inside))
