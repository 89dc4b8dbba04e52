"""Speaker detection with learned weights: the small SyncNet trained briefly on generated talking
faces (shared with the training test through the ``learned_syncnet`` fixture) finds who speaks
when in a generated two-face conversation it has never seen."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

from avsync.lipsync.speakers import SpeakerOptions  # noqa: E402

from speaker_helpers import compare_with_truth, speaking_mask  # noqa: E402

# The small model's confidences are lower than the official weights' (speech scores about 1-5),
# so its thresholds are lower; and its per-frame scores are noisier, so a segment must last 0.5 s. Chosen on 10 other generated conversations (benchmarks/speakers_synthetic.py).
SMALL_MODEL = SpeakerOptions(high=1.5, low=0.5, min_speech_s=0.5)
# Measured on this clip with three models trained by this same call before training repeated bit
# for bit across processes (small differences in the weights move the scores):
# per-track agreement 0.87/0.83, 0.82/0.74 and 0.76/0.76 (the misses are the edges of turns: a
# segment starts up to 0.9 s early), the active speaker right on 98 %, 91 % and 85 % of the
# frames. Either face's truth alone ("always" or "never speaking") agrees on 54 % and 58 %.
AGREEMENT, ACTIVE = 0.65, 0.75


@pytest.mark.slow
def test_learned_weights_find_who_speaks(learned_syncnet, tmp_path):
    from avsync.lipsync import find_speakers
    from evaluation.synthetic_speakers import conversations, face_of, score_clip
    from evaluation.talking_faces import ClipTruth

    report, _ = learned_syncnet
    generated = conversations(tmp_path, 1, seed=7)[0]  # 10 s; the faces take turns
    truth = ClipTruth.from_json(json.loads((tmp_path / "clip_0000.json").read_text()))  # the truth as the generator wrote it
    assert [f.speaking for f in truth.faces] == [f.speaking for f in generated.faces]

    found = find_speakers(truth.video, report.output, options=SMALL_MODEL, progress=False)
    spk = found.speakers
    assert found.status == "ok" and spk.frames == truth.n_frames == 250
    assert sorted(face_of(t.mean_box, truth) for t in spk.tracks) == [0, 1]
    for t in spk.tracks:
        mask = speaking_mask(truth.faces[face_of(t.mean_box, truth)].speaking, spk.frames)
        agreement, _ = compare_with_truth(t.segments, mask, t.start_frame, t.end_frame)
        trivial = max(mask[t.start_frame : t.end_frame + 1].mean(), 1 - mask[t.start_frame : t.end_frame + 1].mean())
        assert agreement >= max(AGREEMENT, trivial + 0.1), (t.track, agreement, trivial, [s.to_dict() for s in t.segments])

    scored = score_clip(spk, truth)
    assert scored["active_frames"] >= 150  # most of the clip has exactly one speaker, seen by a track
    assert scored["active_accuracy"] >= ACTIVE, scored


def test_scoring_against_the_truth_counts_frames_by_hand():
    """``score_clip`` on a made-up 100-frame result: the left face speaks at frames 0-49, the
    right one at 50-89, nobody at 90-99; the right face's track only starts at frame 20."""
    import numpy as np

    from avsync.lipsync.speakers import SpeakerTrack, decide_speakers
    from evaluation.synthetic_speakers import score_clip, summarise
    from evaluation.talking_faces import ClipTruth, FaceTruth

    def face(x: float, speaking: list) -> FaceTruth:
        boxes = np.tile([x, 100.0, 80.0, 90.0], (100, 1))
        return FaceTruth("en", 160, 50, "", speaking, boxes, np.zeros(100, np.float32), boxes[:, :2])

    truth = ClipTruth("c", 0, 0, 25.0, 100, (640, 360), [face(140, [(0.0, 2.0)]), face(420, [(2.0, 3.6)])])
    left = np.r_[np.full(40, 4.0), np.zeros(60)].astype(np.float32)  # speaks at 0-39: 10 frames short
    right = np.r_[np.zeros(20), np.full(55, 4.0), np.zeros(5)].astype(np.float32)  # frames 20-99, speaks at 40-94
    tracks = [SpeakerTrack(3, 20, right, 0, 1.0, [415.0, 95, 90, 100]), SpeakerTrack(5, 0, left, 0, 1.0, [135.0, 105, 85, 80])]
    result = decide_speakers(tracks, 100, SpeakerOptions())
    row = score_clip(result, truth)
    by_track = {t["track"]: t for t in row["tracks"]}
    assert by_track[5]["face"] == 0 and by_track[3]["face"] == 1 and row["faces_found"]
    assert by_track[5]["agreement"] == pytest.approx(0.9)  # frames 40-49 missed
    assert by_track[3]["agreement"] == pytest.approx(65 / 80)  # frames 40-49 and 90-94 wrong, of 20-99
    # One speaker at frames 0-89, all seen; the active speaker is right at 0-39 and 50-89.
    assert row["active_frames"] == 90 and row["unseen_speaker_frames"] == 0
    assert row["active_accuracy"] == pytest.approx(80 / 90)
    assert row["silent_frames"] == 10 and row["silence_accuracy"] == pytest.approx(0.5)  # 95-99 nobody
    summary = summarise([row, row])
    assert summary["agreement_min"] == pytest.approx(0.8125) and summary["tracks"] == 4 and summary["active_frames"] == 180
