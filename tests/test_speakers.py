"""Speaker detection: scores against independent references, hysteresis, the active speaker, RTTM,
stitching chunks, and who speaks when in a generated two-face conversation (known truth)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import medfilt

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

from avsync.lipsync.speakers import (  # noqa: E402
    SpeakerOptions,
    SpeakerResult,
    SpeakerTrack,
    decide_speakers,
    frame_scores,
    speaking_segments,
    track_scores,
    voiced_frames,
    window_scores,
)
from avsync.lipsync.speakers_long import box_iou, link_pieces, stitch_chunks  # noqa: E402

from speaker_helpers import SCRIPT_S, MouthEnergyNet, compare_with_truth, render_two_faces, runs, scripted_speeches, speaking_mask  # noqa: E402

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------
# scores


def test_track_baseline_is_the_reference_framewise_confidence():
    """At the best offset, baseline "track" gives the scorer's framewise confidence (the SyncNet
    reference's), except at the ends where the filter pads with the nearest window, not zeros."""
    from avsync.lipsync.scoring import SyncNetScorer

    scorer = SyncNetScorer(MouthEnergyNet(), vshift=6, exact=True)
    video, audio = torch.from_numpy(RNG.normal(size=(80, 5))).float(), torch.from_numpy(RNG.normal(size=(80, 5))).float()
    audio[3:] = video[:-3] + 0.3 * audio[3:]  # audio comes 3 frames late: offset -3
    score = scorer.score_embeddings(video, audio)
    assert score.offset_frames == -3
    ours = window_scores(score.distances, score.offset_frames, baseline="track")
    np.testing.assert_allclose(ours[4:-4], score.framewise_confidence[4:-4], atol=1e-5)
    d = score.distances.astype(np.float64)
    padded = np.pad(np.median(d.mean(0)) - d[:, 6 + 3], 4, mode="edge")  # the ends padded with the nearest window
    np.testing.assert_allclose(ours, medfilt(padded, 9)[4:-4], atol=1e-5)


def test_frame_baseline_is_each_windows_median_over_offsets():
    d = RNG.uniform(1, 3, size=(50, 11))
    expected = medfilt(np.median(d, axis=1) - d[:, 5 - 2], 9)
    np.testing.assert_allclose(window_scores(d, 2)[4:-4], expected[4:-4])
    np.testing.assert_allclose(window_scores(d, 2, median_taps=1), np.median(d, axis=1) - d[:, 3])
    # silence: every offset alike, whatever the distance: score 0
    assert np.all(window_scores(np.full((20, 11), 0.2), 0) == 0)


def test_out_of_range_offset_and_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match=r"speaker offset 7 is outside the searched range -5\.\.5"):
        window_scores(np.ones((10, 11)), 7)
    with pytest.raises(ValueError, match="low speaking threshold"):
        SpeakerOptions(high=1.0, low=2.0)
    with pytest.raises(ValueError, match="odd number of taps"):
        SpeakerOptions(median_taps=4)
    with pytest.raises(ValueError, match="baseline"):
        SpeakerOptions(baseline="clip")


def test_window_scores_land_on_their_centre_frames():
    w = np.arange(10, dtype=float)  # 15 frames -> 10 windows (the reference scores one fewer)
    f = frame_scores(w, 15)
    assert f.tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]
    assert np.isnan(frame_scores(np.zeros(0), 4)).all()


# ---------------------------------------------------------------------------------------------
# segments and the timeline


def _scores(*parts: tuple[int, float]) -> np.ndarray:
    return np.concatenate([np.full(n, v, np.float32) for n, v in parts])


def test_hysteresis_segments():
    opts = SpeakerOptions(high=3.0, low=1.5, min_speech_s=0.3, min_pause_s=0.3)  # 8 and 8 frames (7.5 rounded)
    s = _scores((10, 0), (20, 4), (5, 0), (10, 2), (20, 0), (5, 5), (20, 0), (30, 2), (10, 0), (12, 4), (10, 2), (9, 0))
    segs = speaking_segments(s, 100, opts)
    got = [(g.start_frame - 100, g.end_frame - 100) for g in segs]
    # 10-44: speech, its 5-frame dip bridged, the low tail kept; 65-69: too short; 90-119: never
    # reaches the high threshold; 130-151: speech with its low tail (the 9 quiet frames end it)
    assert got == [(10, 44), (130, 151)]
    assert segs[0].score == pytest.approx((20 * 4 + 5 * 0 + 10 * 2) / 35)
    assert segs[1].to_dict() == {"start_frame": 230, "end_frame": 251, "start_s": 9.2, "end_s": 10.08, "score": pytest.approx(3.091, abs=1e-3)}
    # a face out of view (NaN) is not speaking
    s2 = s.copy()
    s2[20:25] = np.nan
    assert [(g.start_frame, g.end_frame) for g in speaking_segments(s2, 0, opts)][0] == (10, 44)  # a 5-frame gap is bridged
    s2[15:35] = np.nan
    assert [(g.start_frame, g.end_frame) for g in speaking_segments(s2, 0, opts)][0] == (130, 151)


def _track(n: int, start: int, scores: np.ndarray) -> SpeakerTrack:
    return SpeakerTrack(n, start, scores, 0, 5.0, [0, 0, 10, 10])


def test_active_speaker_timeline_takes_the_loudest_and_does_not_flicker():
    a = _scores((40, 4), (60, 0))  # frames 0-39 speaking
    b = _scores((30, 0), (12, 5), (1, 3.5), (57, 0))  # frames 30-42, above a at 30-41, below at 42
    c = _scores((10, 0), (20, 6))  # a track from frame 70 to 99, speaking 80-99
    tracks = [_track(0, 0, a), _track(1, 0, b), _track(2, 70, c)]
    res = decide_speakers(tracks, 110, SpeakerOptions())
    turns = [(t.start_frame, t.end_frame, t.track) for t in res.timeline]
    assert turns == [(0, 29, 0), (30, 42, 1), (43, 79, None), (80, 99, 2), (100, 109, None)]
    # two frames of track 0 louder inside track 1's turn: too short to take the turn back
    b2 = _scores((30, 0), (20, 5), (50, 0))
    a2 = a.copy()
    a2[35:37] = 6
    res = decide_speakers([_track(0, 0, a2), _track(1, 0, b2)], 100, SpeakerOptions())
    assert [(t.start_frame, t.end_frame, t.track) for t in res.timeline][:2] == [(0, 29, 0), (30, 49, 1)]
    who = res.frame_speakers()
    assert who.shape == (100,) and who[0] == 0 and who[35] == 1 and who[60] == -1
    empty = decide_speakers([], 50, SpeakerOptions())
    assert [(t.start_frame, t.end_frame, t.track) for t in empty.timeline] == [(0, 49, None)]


def test_json_schema_and_rttm():
    a = _scores((10, 0), (30, 4), (20, 0))
    b = _scores((30, 0), (25, 5))
    b[-3:] = np.nan
    res = decide_speakers([_track(0, 0, a), _track(1, 5, b)], 60, SpeakerOptions(offset=1))
    d = json.loads(json.dumps(res.to_dict()))
    assert set(d) == {"settings", "frames", "tracks", "timeline"}
    assert d["settings"] == {"offset": 1, "baseline": "frame", "high": 3.0, "low": 1.5, "min_speech_s": 0.3, "min_pause_s": 0.3, "median_taps": 9,
                             "voice_gate": True}
    t1 = d["tracks"][1]
    assert set(t1) == {"track", "start_frame", "end_frame", "start_s", "end_s", "offset_frames", "confidence", "mean_box", "speaking_s",
                       "segments", "scores", "pieces"}  # fmt: skip
    assert (t1["start_frame"], t1["end_frame"], len(t1["scores"])) == (5, 59, 55)
    assert t1["scores"][-3:] == [None] * 3 and t1["scores"][30] == 5.0
    assert t1["segments"] == [{"start_frame": 35, "end_frame": 56, "start_s": 1.4, "end_s": 2.28, "score": 5.0}]
    assert d["timeline"][0] == {"start_frame": 0, "end_frame": 9, "start_s": 0.0, "end_s": 0.4, "track": None}

    rttm = res.to_rttm("my clip")
    rows = [line.split() for line in rttm.splitlines()]
    assert [r[0] for r in rows] == ["SPEAKER", "SPEAKER"] and all(len(r) == 10 for r in rows)
    for r in rows:
        assert r[1] == "my_clip" and r[2] == "1" and r[5] == r[6] == r[8] == r[9] == "<NA>"
    assert [(float(r[3]), float(r[4]), r[7]) for r in rows] == [(0.4, 1.2, "track0"), (1.4, 0.88, "track1")]
    assert SpeakerResult([], 10).to_rttm("x") == ""


# ---------------------------------------------------------------------------------------------
# stitching chunks


def _piece(track: int, start: int, scores: np.ndarray, box: tuple[float, float, float, float], offset: int = 0) -> dict:
    return {"track": track, "start_frame": start, "offset_frames": offset, "confidence": 4.0,
            "scores": [None if np.isnan(v) else float(v) for v in scores], "boxes": [list(box)] * len(scores)}  # fmt: skip


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    np.testing.assert_allclose(box_iou(a, b), [1.0, 50 / 150, 0.0])


def test_chunks_are_stitched_into_faces_and_segments_cross_the_cuts():
    """Three 4 s chunks overlapping by 2 s (frames 0-99, 50-149, 100-174). Left face speaks over
    frames 60-120, across both cuts (75 and 125); the right face appears in the second chunk's
    track list first; a third face only in the last chunk."""
    from avsync.curate.chunking import Chunk

    left, right, third = (10, 10, 60, 60), (200, 10, 250, 60), (400, 10, 450, 60)
    truth_left = np.zeros(175, np.float32)
    truth_left[60:121] = 4.0
    records = [
        {"status": "ok", "frames": 100, "pieces": [_piece(0, 0, truth_left[0:100], left), _piece(1, 20, np.zeros(80), right)]},
        {"status": "ok", "frames": 100, "pieces": [_piece(0, 0, np.zeros(100), right, 2), _piece(1, 0, truth_left[50:150], left)]},
        {"status": "ok", "frames": 75, "pieces": [_piece(0, 0, truth_left[100:175], left), _piece(1, 0, np.zeros(75), right),
                                                  _piece(2, 40, np.zeros(35), third)]},
    ]  # fmt: skip
    chunks = [Chunk(0, 0.0, 4.0), Chunk(1, 2.0, 6.0), Chunk(2, 4.0, 7.0)]
    tracks, total = stitch_chunks(chunks, records)
    assert total == 175 and len(tracks) == 3
    by_x = sorted(tracks, key=lambda t: t.mean_box[0])
    lt, rt, th = by_x
    assert (lt.start_frame, lt.end_frame, rt.start_frame, rt.end_frame, th.start_frame, th.end_frame) == (0, 174, 20, 174, 140, 174)
    assert lt.mean_box == pytest.approx([10, 10, 50, 50])
    assert [(p["chunk"], p["lipsync_track"], p["start_frame"], p["end_frame"]) for p in lt.pieces] == [(0, 0, 0, 74), (1, 1, 75, 124), (2, 0, 125, 174)]
    assert [(p["chunk"], p["lipsync_track"], p["offset_frames"]) for p in rt.pieces] == [(0, 1, 0), (1, 0, 2), (2, 1, 0)]
    assert rt.offset_frames == 0  # the offset of its longest piece
    np.testing.assert_array_equal(lt.scores, truth_left)
    res = decide_speakers(tracks, total, SpeakerOptions())
    segs = [(s.start_frame, s.end_frame) for s in res.tracks[lt.track].segments]
    assert segs == [(60, 120)]  # one segment across both cuts
    assert [t.track for t in tracks] == [0, 1, 2] and tracks[0].start_frame <= tracks[1].start_frame <= tracks[2].start_frame


def test_a_failed_chunk_breaks_the_links_but_not_the_rest():
    from avsync.curate.chunking import Chunk

    box = (10, 10, 60, 60)
    records = [
        {"status": "ok", "frames": 100, "pieces": [_piece(0, 0, np.full(100, 4.0), box)]},
        {"status": "error", "error": "boom"},
        {"status": "ok", "frames": 100, "pieces": [_piece(0, 0, np.full(100, 4.0), box)]},
    ]
    tracks, total = stitch_chunks([Chunk(0, 0.0, 4.0), Chunk(1, 2.0, 6.0), Chunk(2, 4.0, 8.0)], records)
    assert total == 200
    assert [(t.start_frame, t.end_frame) for t in tracks] == [(0, 74), (125, 199)]  # the failed chunk's frames are unknown


def test_links_need_overlapping_boxes_over_enough_frames():
    from avsync.lipsync.speakers_long import _Piece

    def piece(start, n, x):
        return _Piece(0, 0, start, np.zeros(n, np.float32), np.tile([x, 0, x + 50, 50], (n, 1)).astype(float), 0, 1.0)

    before = [piece(0, 100, 0), piece(0, 100, 300)]
    after = [piece(50, 100, 310), piece(50, 100, 5), piece(95, 50, 0)]
    assert link_pieces(before, after) == {0: 1, 1: 0}  # the third overlaps for 5 frames only
    assert link_pieces(before, [piece(50, 100, 150)]) == {}


# ---------------------------------------------------------------------------------------------
# a generated conversation


def test_who_speaks_when_in_a_generated_two_face_conversation():
    """Two drawn faces take turns (one, the other, a pause, the first again); each mouth follows
    its own voice. The hand-built network reads mouth opening and voice loudness, so the speaking
    segments must follow the ground truth within a few frames."""
    from avsync.lipsync.scoring import SyncNetScorer

    truth, crops, audio = render_two_faces(4, SCRIPT_S, scripted_speeches())
    scorer = SyncNetScorer(MouthEnergyNet(), exact=True)
    n = truth.n_frames
    voiced = voiced_frames(audio, n)
    tracks = []
    for k in (0, 1):
        score = scorer.score_track(crops[k], audio)
        assert abs(score.offset_frames) <= 1  # in sync (the audio window straddles frames: 0 or 1)
        scores = track_scores(score.distances, n, score.offset_frames, SpeakerOptions())
        scores[~voiced] = np.minimum(scores[~voiced], 0)  # the voice gate, as speakers_from_lipsync applies it
        tracks.append(SpeakerTrack(k, 0, scores, score.offset_frames, score.confidence, [0] * 4))
    res = decide_speakers(tracks, n, SpeakerOptions())
    masks = [speaking_mask(f.speaking, n) for f in truth.faces]
    assert [len(runs(m)) for m in masks] == [2, 1]
    for k in (0, 1):
        agreement, errors = compare_with_truth(res.tracks[k].segments, masks[k])
        assert agreement >= 0.95, (k, agreement)
        assert len(errors) == len(runs(masks[k])) and all(isinstance(e, tuple) and max(map(abs, e)) <= 4 for e in errors), (k, errors)
    # the active speaker is the one whose mouth moves; nobody in the pause
    who = res.frame_speakers()
    for k in (0, 1):
        assert np.mean(who[masks[k]] == k) > 0.95
    nobody = ~masks[0] & ~masks[1]
    assert nobody.sum() > 50 and np.mean(who[nobody] == -1) > 0.85


def test_the_voice_gate_finds_pauses_and_leaves_unbroken_sound_alone():
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.001, 100 * 640)  # 4 s of faint noise...
    audio[30 * 640 : 60 * 640] += rng.normal(0, 0.2, 30 * 640)  # ...with a loud stretch at frames 30-59
    voiced = voiced_frames(audio, 100)
    assert runs(voiced) == [(28, 61)]  # within 2 frames of the sound, as a 5-frame window reaches
    assert voiced_frames(rng.normal(0, 0.1, 50 * 640), 50).all()  # no pause: nothing gated
    assert not voiced_frames(np.zeros(0), 10).any()


def test_docstring_examples_and_the_light_import():
    import doctest
    import subprocess
    import sys

    import avsync.lipsync.speakers as module

    assert doctest.testmod(module).failed == 0
    code = "import sys, avsync.lipsync, avsync.lipsync.speakers; print([m for m in ('torch', 'cv2', 'onnxruntime') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"



def test_speakers_from_a_lipsync_result_gate_the_scores_at_the_tracks_offset():
    """A track matching best at offset 3 everywhere, and a voice only at frames 40-59: the lips
    that go with it are at frames 43-62 (the sound comes 3 frames first), give or take the
    window's 2 frames. Without the gate the whole track would be speech."""
    from avsync.lipsync.result import LipSyncResult, TrackResult
    from avsync.lipsync.speakers import speakers_from_lipsync

    d = np.full((95, 11), 6.0)
    d[:, 5 - 3] = 1.0
    track = TrackResult(0, 3, 5.0, 1.0, 0, 99, [0, 0, 50, 50], np.zeros(95), np.zeros((100, 4)), distances=d)
    result = LipSyncResult("x.mp4", [track], frames=100)
    rng = np.random.default_rng(2)
    audio = rng.normal(0, 0.001, 100 * 640)
    audio[40 * 640 : 60 * 640] += rng.normal(0, 0.2, 20 * 640)
    gated = speakers_from_lipsync(result, SpeakerOptions(), audio=audio)
    assert [(s.start_frame, s.end_frame) for s in gated.tracks[0].segments] == [(41, 64)]
    assert gated.tracks[0].offset_frames == 3 and gated.tracks[0].pieces[0]["lipsync_track"] == 0
    assert [(s.start_frame, s.end_frame) for s in speakers_from_lipsync(result, SpeakerOptions(voice_gate=False), audio=audio).tracks[0].segments] == [(0, 99)]
    assert [(s.start_frame, s.end_frame) for s in speakers_from_lipsync(result, SpeakerOptions(offset=0), audio=audio).tracks[0].segments] == []
    with pytest.raises(ValueError, match="no SyncNet distances"):
        speakers_from_lipsync(LipSyncResult("x.mp4", [TrackResult(0, 3, 5.0, 1.0, 0, 99, [0] * 4, np.zeros(95), np.zeros((100, 4)))], frames=100))
