"""Face tracking, shot cuts, crops and detector post-processing, against plain references."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
scipy_signal = pytest.importorskip("scipy.signal")

from avsync.lipsync.detectors import nms  # noqa: E402
from avsync.lipsync.faces import crop_face  # noqa: E402
from avsync.lipsync.tracking import FaceTracker, ShotCutDetector, iou, smooth_boxes  # noqa: E402


def test_iou_against_hand_values():
    assert iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(50 / 150)
    assert iou(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30])) == 0.0
    assert iou(np.array([0, 0, 10, 10]), np.array([0, 0, 10, 10])) == 1.0


def _run(tracker, frames):
    ended = []
    for k, dets in enumerate(frames):
        ended += tracker.update(k, np.asarray(dets, float).reshape(-1, 5))
    return ended + tracker.end_all()


def test_two_faces_give_two_tracks_and_gaps_are_interpolated():
    frames = []
    for k in range(60):
        dets = [[100 + k, 50, 160 + k, 120, 0.9]]
        if not 20 <= k < 30:  # the second face is missed for 10 frames
            dets.append([400, 60, 470, 140, 0.8])
        frames.append(dets)
    tracks = sorted(_run(FaceTracker(max_gap=25), frames), key=lambda t: t.boxes[0][0])
    assert len(tracks) == 2
    moving, still = tracks
    assert moving.detections == 60 and (moving.start, moving.last) == (0, 59)
    assert still.detections == 50 and (still.start, still.last) == (0, 59)
    np.testing.assert_allclose(still.boxes_until(59)[25], [400, 60, 470, 140])
    np.testing.assert_allclose(moving.boxes_between(10, 12)[:, 0], [110, 111, 112])


def test_a_gap_longer_than_max_gap_splits_the_track():
    frames = [[[100, 100, 200, 200, 1.0]] if not 10 <= k < 20 else [] for k in range(30)]
    tracks = _run(FaceTracker(max_gap=5), frames)
    assert sorted((t.start, t.last) for t in tracks) == [(0, 9), (20, 29)]


def test_interpolation_between_detections_is_linear():
    frames = [[[0, 0, 10, 10, 1.0]]] + [[] for _ in range(9)] + [[[9, 0, 19, 10, 1.0]]]
    (track,) = _run(FaceTracker(max_gap=25, iou_threshold=0.0), frames)
    np.testing.assert_allclose(track.boxes_until(10)[:, 0], np.arange(11) * 0.9)
    assert track.mean_size() == pytest.approx(10.0)


def test_shot_cut_detector_fires_on_a_cut_only():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
    b = 255 - a
    det = ShotCutDetector(min_shot=3)
    fired = [det.push(np.clip(a.astype(int) + k, 0, 255).astype(np.uint8)) for k in range(10)]
    fired += [det.push(b) for _ in range(5)]
    assert fired == [False] * 10 + [True] + [False] * 4


def test_smoothing_is_the_references_13_tap_median_away_from_the_ends():
    rng = np.random.default_rng(1)
    boxes = np.cumsum(rng.normal(0, 3, (50, 4)), axis=0) + [100, 100, 200, 200]
    got = smooth_boxes(boxes)
    s = np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2
    x = (boxes[:, 0] + boxes[:, 2]) / 2
    np.testing.assert_allclose(got[6:-6, 2], scipy_signal.medfilt(s, 13)[6:-6])
    np.testing.assert_allclose(got[6:-6, 0], scipy_signal.medfilt(x, 13)[6:-6])


def reference_crop(frame, cx, cy, bs, cs=0.4):
    """The reference's crop: pad the whole frame with grey, slice, resize."""
    import cv2

    bsi = int(bs * (1 + 2 * cs))
    padded = np.pad(frame, ((bsi, bsi), (bsi, bsi), (0, 0)), "constant", constant_values=(110, 110))
    my, mx = cy + bsi, cx + bsi
    face = padded[int(my - bs) : int(my + bs * (1 + 2 * cs)), int(mx - bs * (1 + cs)) : int(mx + bs * (1 + cs))]
    return cv2.resize(face, (224, 224))


@pytest.mark.parametrize("cx,cy,bs", [(320.0, 180.0, 50.0), (20.3, 15.7, 40.2), (630.0, 350.0, 90.0), (300.5, 100.25, 170.0)])
def test_crop_equals_the_references_padded_crop(cx, cy, bs):
    frame = np.random.default_rng(2).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_face(frame, cx, cy, bs), reference_crop(frame, cx, cy, bs))


def naive_nms(boxes, scores, threshold):
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if iou(boxes[i], boxes[j]) <= threshold]
    return keep


def test_nms_matches_a_naive_loop():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 100, (40, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 40, (40, 2))], axis=1)
    scores = rng.uniform(0, 1, 40)
    for t in (0.1, 0.3, 0.5):
        assert list(nms(boxes, scores, t)) == naive_nms(boxes, scores, t)


def test_centerface_decoding_of_a_synthetic_heatmap():
    from avsync.lipsync.detectors.centerface import decode

    heat = np.zeros((30, 40), np.float32)
    heat[10, 20] = 0.9  # a face centred at ((20 + 0.5) * 4, (10 + 0.5) * 4) = (82, 42)
    heat[10, 21] = 0.6  # its neighbour: suppressed by NMS
    scale = np.zeros((2, 30, 40), np.float32)
    scale[0] = np.log(40 / 4)  # height 40
    scale[1] = np.log(30 / 4)  # width 30
    boxes = decode(heat, scale, np.zeros((2, 30, 40), np.float32), (120, 160), 0.5, 0.3)
    assert boxes.shape == (1, 5)
    np.testing.assert_allclose(boxes[0], [82 - 15, 42 - 20, 82 + 15, 42 + 20, 0.9], rtol=1e-5)


def test_s3fd_layout_and_anchors():
    torch = pytest.importorskip("torch")
    from avsync.lipsync.detectors.s3fd import S3FD, S3FDNet, anchors

    state = S3FDNet().state_dict()
    assert len(state) == 65
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28, 31, 33]
    assert {k for k in state if k.startswith("vgg.")} == {f"vgg.{i}.{p}" for i in convs for p in ("weight", "bias")}
    assert state["conf.0.weight"].shape == (4, 256, 3, 3) and state["loc.3.weight"].shape == (4, 1024, 3, 3)
    assert state["L2Norm3_3.weight"].shape == (256,) and float(state["L2Norm4_3.weight"][0]) == 8.0
    a = anchors((64, 96), [(16, 24), (8, 12)])
    assert a.shape == (16 * 24 + 8 * 12, 4)
    np.testing.assert_allclose(a[1], [(1 + 0.5) * 4 / 96, 0.5 * 4 / 64, 16 / 96, 16 / 64])
    np.testing.assert_allclose(a[16 * 24 + 12 + 1], [1.5 * 8 / 96, 1.5 * 8 / 64, 32 / 96, 32 / 64])
    det = S3FD(S3FDNet(), threshold=0.5)
    with torch.no_grad():
        out = det.detect(np.zeros((64, 96, 3), np.uint8))
    assert out.ndim == 2 and out.shape[1] == 5
