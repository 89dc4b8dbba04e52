"""Speaker detection end to end: a written two-face conversation through face detection, tracking
and SyncNet (the hand-built network), the highlighted video_out.avi, long videos in chunks (and
resuming them), and the command line (JSON, RTTM, errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

from avsync.cli import main  # noqa: E402
from avsync.lipsync.speakers import SpeakerOptions  # noqa: E402

from speaker_helpers import SCRIPT_S, MouthEnergyNet, check_speakers_json, compare_with_truth, parse_rttm, scripted_speeches, speaking_mask  # noqa: E402

TOLERANCE = 8  # frames: through H.264 and the detector's boxes the mouths are blurrier than in memory


@pytest.fixture(scope="module")
def conversation(tmp_path_factory):
    """A 10 s 640x360 clip: the left face speaks, then the right one, a pause, the left again."""
    from evaluation.talking_faces import render_clip, write_clip

    path = tmp_path_factory.mktemp("speakers") / "talk.mp4"
    truth = write_clip(render_clip(4, duration_s=SCRIPT_S, n_faces=2, speeches=scripted_speeches()), path)
    return path, truth


def _face_of(track) -> int:  # noqa: ANN001
    """0 for the left face, 1 for the right one (the generator puts them at 28 % and 72 % of 640 px)."""
    x, _, w, _ = track.mean_box
    return 0 if x + w / 2 < 320 else 1


def _check_against_truth(tracks, truth, frames: int) -> None:  # noqa: ANN001
    assert sorted(_face_of(t) for t in tracks) == [0, 1]
    for t in tracks:
        mask = speaking_mask(truth.faces[_face_of(t)].speaking, frames)
        agreement, errors = compare_with_truth(t.segments, mask, t.start_frame, t.end_frame)
        assert agreement >= 0.9, (t.track, agreement)
        assert errors and all(isinstance(e, tuple) and max(map(abs, e)) <= TOLERANCE for e in errors), (t.track, errors)


def _magenta(frame: np.ndarray, box) -> float:  # noqa: ANN001
    """Share of magenta pixels (the speaker's colour) on the outline of ``box`` (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    h, w = frame.shape[:2]
    edge = np.concatenate([frame[max(0, y1 - 2) : y1 + 3, max(0, x1) : x2].reshape(-1, 3), frame[max(0, y1) : y2, max(0, x1 - 2) : x1 + 3].reshape(-1, 3)])
    r, g, b = edge[:, 0].astype(int), edge[:, 1].astype(int), edge[:, 2].astype(int)
    return float(np.mean((r > 170) & (b > 170) & (g < 110))) if edge.size else 0.0


@pytest.mark.slow
def test_pipeline_finds_who_speaks_and_highlights_them(conversation, tmp_path):
    from avsync.lipsync import LipSync
    from avsync.media.video import iter_frames

    video, truth = conversation
    result = LipSync(MouthEnergyNet()).run(video, data_dir=tmp_path, reference="talk", speakers=SpeakerOptions())
    spk = result.speakers
    assert len(result.tracks) == 2 and spk.frames == result.frames == 250
    _check_against_truth(spk.tracks, truth, spk.frames)
    saved = json.loads((tmp_path / "pywork" / "talk" / "result.json").read_text())
    assert saved["speakers"] == json.loads(json.dumps(spk.to_dict()))

    who = spk.frame_speakers()
    by_face = {_face_of(t): t for t in result.tracks}
    frames = np.concatenate([f for f, _ in iter_frames(tmp_path / "pyavi" / "talk" / "video_out.avi", 640, 360, rgb=True)])
    assert len(frames) == 250
    for face, moment in ((0, 1.4), (1, 4.2)):  # inside the left face's first turn, the right face's turn
        k = int(moment * 25)
        speaker, other = by_face[face], by_face[1 - face]
        assert who[k] == speaker.track
        assert _magenta(frames[k], speaker.boxes[k - speaker.start_frame]) > 0.3
        assert _magenta(frames[k], other.boxes[k - other.start_frame]) < 0.05
    k = int(6.0 * 25)  # the pause: nobody highlighted
    assert who[k] == -1 and all(_magenta(frames[k], t.boxes[k - t.start_frame]) < 0.05 for t in result.tracks)


@pytest.mark.slow
def test_long_video_in_chunks_links_faces_and_resumes(conversation, tmp_path):
    from avsync.lipsync.speakers_long import find_speakers

    video, truth = conversation
    work = tmp_path / "work"
    report = find_speakers(video, MouthEnergyNet(), chunk_duration_s=4.0, overlap_s=2.0, work_dir=work, progress=False)
    chunks = report.to_dict()["chunking"]["chunks"]
    assert [(c["start_s"], c["end_s"], c["status"], c["tracks"]) for c in chunks] == [(0.0, 4.0, "ok", 2), (2.0, 6.0, "ok", 2), (4.0, 8.0, "ok", 2), (6.0, 10.0, "ok", 2)]
    spk = report.speakers
    assert spk.frames == 250 and len(spk.tracks) == 2  # each face linked across the four chunks
    for t in spk.tracks:
        assert [p["chunk"] for p in t.pieces] == [0, 1, 2, 3]
        # the generated faces score near CenterFace's threshold: a track may lose a frame at either
        # end depending on the encoder build, never more
        assert t.start_frame <= 2 and t.end_frame >= 247 and not np.isnan(t.scores).any()
    _check_against_truth(spk.tracks, truth, spk.frames)

    again = find_speakers(video, MouthEnergyNet(), chunk_duration_s=4.0, overlap_s=2.0, work_dir=work, progress=False)
    assert all(c["resumed"] for c in again.to_dict()["chunking"]["chunks"])
    assert again.speakers.to_dict() == spk.to_dict()
    with pytest.raises(ValueError, match="another video or another chunking"):
        find_speakers(video, MouthEnergyNet(), chunk_duration_s=5.0, overlap_s=2.0, work_dir=work, progress=False)


# ---------------------------------------------------------------------------------------------
# the command line


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    from tests.curate_helpers import save_small_weights

    return save_small_weights(tmp_path_factory.mktemp("weights") / "small.model")


@pytest.mark.slow
def test_cli_json_rttm_and_lipsync_speakers(conversation, small_weights, tmp_path, capsys):
    video, _ = conversation
    out_json, out_rttm = tmp_path / "s.json", tmp_path / "s.rttm"
    code = main(["speakers", str(video), "--weights", str(small_weights), "--json", str(out_json), "--rttm", str(out_rttm), "--no-progress",
                 "--speaker-high", "0.2", "--speaker-low", "0.1"])  # fmt: skip
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc == json.loads(out_json.read_text())
    assert set(doc) == {"video", "fps", "frames", "status", "weights", "chunking", "speakers"}
    assert doc["status"] == "ok" and doc["chunking"] is None and doc["frames"] == 250
    assert len(doc["speakers"]["tracks"]) == 2
    check_speakers_json(doc["speakers"], 250)
    rows = parse_rttm(out_rttm.read_text())
    assert rows  # thresholds low enough for a random network's scores to make segments
    segments = sorted((s["start_s"], round(s["end_s"] - s["start_s"], 3), f"track{t['track']}") for t in doc["speakers"]["tracks"] for s in t["segments"])
    assert [(r[1], r[2], r[3]) for r in rows] == segments and all(r[0] == "talk" for r in rows)

    code = main(["lipsync", str(video), "--weights", str(small_weights), "--speakers", "--speaker-offset", "0", "--no-progress",
                 "--data-dir", str(tmp_path / "data"), "--reference", "talk", "--no-video-out"])  # fmt: skip
    lipsync = json.loads(capsys.readouterr().out)
    assert code == 0 and lipsync["speakers"]["settings"]["offset"] == 0
    assert [t["offset_frames"] for t in lipsync["speakers"]["tracks"]] == [0, 0]
    assert json.loads((tmp_path / "data" / "pywork" / "talk" / "result.json").read_text())["speakers"] == lipsync["speakers"]


def test_cli_usage_errors_and_bad_input_are_one_line(tmp_path, capsys, ffmpeg):
    from tests.conftest import run_ffmpeg

    missing = tmp_path / "none.mp4"
    (empty := tmp_path / "empty.mp4").write_bytes(b"")
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", str(tone := tmp_path / "tone.wav"))
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1", "-pix_fmt", "yuv420p", str(silent := tmp_path / "silent.mp4"))
    cases = [
        (missing, ["--speaker-offset", "20"], "--speaker-offset 20 is outside the searched offsets -15..15"),
        (missing, ["--speaker-low", "5"], "must not be above the high one"),
        (missing, ["--chunk-duration", "30", "--overlap", "40"], "--overlap shorter"),
        (missing, [], "none.mp4': no such file"),
        (empty, [], "empty.mp4': file is empty"),
        (tone, [], "tone.wav': no video stream"),
        (silent, [], "silent.mp4': no audio stream"),
        (silent, ["--json", str(silent)], "refusing to overwrite an input file"),
    ]
    for video, extra, message in cases:
        assert main(["speakers", str(video), "--weights", str(tmp_path / "w.model"), *extra]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("avsync speakers: error:") and message in err and "\n" not in err, err
    assert silent.stat().st_size > 0
    assert main(["lipsync", str(tmp_path / "none.mp4"), "--weights", str(tmp_path / "w.model"), "--speakers", "--speaker-baseline", "track",
                 "--speaker-low", "9"]) == 1  # fmt: skip
    assert "must not be above the high one" in capsys.readouterr().err
