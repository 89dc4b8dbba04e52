"""`avsync speakers` on a real two-face recording (ankur_test_video_crop.mp4, 27.5 s, 640x360):
well-formed JSON and RTTM for both faces, in one pass and in linked chunks."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

from avsync.cli import main  # noqa: E402

from speaker_helpers import check_speakers_json, parse_rttm  # noqa: E402

pytestmark = [pytest.mark.realmedia, pytest.mark.slow]

FRAMES = 688  # 27.52 s at 25 fps


@pytest.fixture(scope="module")
def ankur(shared_media):
    return shared_media / "talking" / "ankur_test_video_crop.mp4"


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    from tests.curate_helpers import save_small_weights

    return save_small_weights(tmp_path_factory.mktemp("weights") / "small.model")


def _run(capsys, *args: str) -> dict:
    assert main(["speakers", *args, "--no-progress"]) == 0
    return json.loads(capsys.readouterr().out)


def _sides(doc: dict) -> list[dict]:
    """The tracks, left face first; both must stay on screen the whole clip."""
    tracks = sorted(doc["speakers"]["tracks"], key=lambda t: t["mean_box"][0])
    assert len(tracks) == 2
    assert tracks[0]["mean_box"][0] + tracks[0]["mean_box"][2] / 2 < 320 < tracks[1]["mean_box"][0] + tracks[1]["mean_box"][2] / 2
    assert all(t["end_frame"] - t["start_frame"] > 600 for t in tracks)
    return tracks


def test_one_pass_json_and_rttm_for_both_faces(ankur, small_weights, tmp_path, capsys):
    rttm = tmp_path / "ankur.rttm"
    doc = _run(capsys, str(ankur), "--weights", str(small_weights), "--rttm", str(rttm), "--speaker-high", "1.0", "--speaker-low", "0.5")
    assert doc["status"] == "ok" and doc["frames"] == FRAMES and doc["chunking"] is None
    check_speakers_json(doc["speakers"], FRAMES)
    tracks = _sides(doc)
    for t in tracks:
        assert None not in t["scores"] and len(t["pieces"]) == 1 and t["pieces"][0]["chunk"] is None
    rows = parse_rttm(rttm.read_text())
    assert rows and {r[0] for r in rows} == {"ankur_test_video_crop"}
    assert sorted((r[1], r[2], r[3]) for r in rows) == sorted(
        (s["start_s"], round(s["end_s"] - s["start_s"], 3), f"track{t['track']}") for t in tracks for s in t["segments"])  # fmt: skip
    assert all(0 <= r[1] and r[1] + r[2] <= FRAMES / 25 + 1e-6 for r in rows)


def test_chunks_are_linked_into_the_same_two_faces(ankur, small_weights, tmp_path, capsys):
    one = _sides(_run(capsys, str(ankur), "--weights", str(small_weights)))
    doc = _run(capsys, str(ankur), "--weights", str(small_weights), "--chunk-duration", "12", "--overlap", "4", "--work-dir", str(tmp_path / "w"))
    assert [(c["start_s"], c["end_s"], c["status"], c["tracks"]) for c in doc["chunking"]["chunks"]] == [
        (0.0, 12.0, "ok", 2), (8.0, 20.0, "ok", 2), (16.0, 27.52, "ok", 2)]  # fmt: skip
    check_speakers_json(doc["speakers"], FRAMES)
    chunked = _sides(doc)
    for a, b in zip(one, chunked):
        assert [p["chunk"] for p in b["pieces"]] == [0, 1, 2]  # one face, three chunks, cut in the middle of each overlap
        assert [(p["start_frame"], p["end_frame"]) for p in b["pieces"]] == [(0, 249), (250, 449), (450, 687)]
        assert (b["start_frame"], b["end_frame"]) == (0, FRAMES - 1) and None not in b["scores"]
        assert all(abs(u - v) < 5 for u, v in zip(a["mean_box"], b["mean_box"]))
