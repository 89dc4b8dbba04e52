"""Offsets and confidences: the reference's computation, checked against a plain numpy version of
it, and the sign convention (positive: audio before video)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
scipy_signal = pytest.importorskip("scipy.signal")

from avsync.lipsync.model import random_syncnet  # noqa: E402
from avsync.lipsync.scoring import LipEmbedder, SyncNetScorer  # noqa: E402


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
def test_scores_match_a_loop_implementation_and_the_sign_convention(shift):
    rng = np.random.default_rng(shift + 10)
    n, d = 60, 16
    video = rng.standard_normal((n + 20, d))
    # audio window k holds what the video shows at window k + shift: the audio comes first when shift > 0
    audio = np.stack([video[k + shift + 8] for k in range(n)]) + 0.05 * rng.standard_normal((n, d))
    video = video[8 : 8 + n]
    scorer = SyncNetScorer(random_syncnet(0), vshift=6)
    got = scorer.score_embeddings(torch.from_numpy(video).float(), torch.from_numpy(audio).float())
    off, conf, dist, fconf = reference_scores(video.astype(np.float32), audio.astype(np.float32), 6)
    assert got.offset_frames == off == shift
    assert got.confidence == pytest.approx(conf, rel=1e-4)
    assert got.min_dist == pytest.approx(dist, rel=1e-4)
    np.testing.assert_allclose(got.framewise_confidence, fconf, rtol=1e-4, atol=1e-4)
    assert got.distances.shape == (n, 13) and got.windows == n


def test_score_track_uses_the_references_window_count_and_input_layout():
    net = random_syncnet(5)
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


def test_streaming_embedder_equals_one_batch():
    scorer = SyncNetScorer(random_syncnet(1), batch_size=4)
    crops = np.random.default_rng(2).integers(0, 256, (17, 224, 224, 3), dtype=np.uint8)
    emb = LipEmbedder(scorer, hold=True)
    for i, c in enumerate(crops):
        emb.push(c)
        if i == 11:
            emb.release()
    streamed = emb.finish()
    whole = scorer.embed_video(crops)
    assert streamed.shape == whole.shape == (13, 1024)
    assert torch.allclose(streamed, whole, rtol=1e-4, atol=1e-3)


def test_too_short_tracks_are_refused_with_a_clear_message():
    scorer = SyncNetScorer(random_syncnet(0))
    with pytest.raises(ValueError, match="at least 6 frames"):
        scorer.score_track(np.zeros((5, 224, 224, 3), np.uint8), np.zeros(16000, np.float32))
