"""Review, export and lossless apply on real recordings (../shared/media/multicam)."""

from __future__ import annotations

import pytest

import avsync
from avsync.nle import build_timeline
from avsync.review import review
from avsync.sync.lossless import apply_lossless
from tests.test_lossless import is_contiguous_run, packet_hashes

pytestmark = pytest.mark.realmedia

CLIPS = {"full.mp4": 0.0, "3-secs-in.mp4": 3.0, "7-secs-in.mp4": 7.0, "full-44100Hz-stereo.mp4": 0.0}


@pytest.fixture(scope="module")
def clips_result(shared_media):
    result = avsync.sync([str(shared_media / "multicam" / name) for name in CLIPS])
    for v, expected in zip(result.videos, CLIPS.values()):
        assert v.status == "ok" and abs(v.offset_s - expected) < 0.001
    return result


def test_review_of_clips_cut_from_one_video(clips_result, tmp_path):
    section = review(clips_result, tmp_path, moments=2, transients=3).section
    assert section["indicator_images"] and all((tmp_path / e["image"]).exists() for e in section["indicator_images"])
    assert len(section["transients"]) == 3 and all((tmp_path / t["image"]).exists() for t in section["transients"])
    # Audio-synced pairs: the residual at every shared transient is far below a millisecond.
    assert len(section["max_abs_residual_ms"]) == 3 and max(section["max_abs_residual_ms"].values()) < 1.0
    for entry in section["indicator_images"]:  # 10x18 px frames, each at its own time
        for path, cam in entry["cameras"].items():
            if cam["shown"]:
                assert cam["frame_time_s"] <= entry["time_s"] - clips_result[path].offset_s + 1e-6


def test_timeline_places_each_clip_within_a_frame(clips_result):
    timeline = build_timeline(clips_result)
    rate = timeline.global_start_time.rate
    for clip in timeline.find_clips():
        offset = clips_result[clip.metadata["avsync"]["path"]].offset_s
        zero_at = clip.range_in_parent().start_time.to_seconds() - clip.source_range.start_time.to_seconds()
        assert abs(zero_at - offset) <= 0.5 / rate + 1e-9


def test_lossless_clips_are_copied_bit_identical_and_resync(clips_result, shared_media, tmp_path):
    outputs, notes = apply_lossless(clips_result, tmp_path)
    assert all("streams copied" in n for n in notes[1:]), notes
    for v, out in zip(clips_result.videos, outputs):
        for stream in ("v:0", "a:0"):
            assert is_contiguous_run(packet_hashes(out, stream), packet_hashes(v.path, stream)) >= 0, (out, stream)
    again = avsync.sync([str(p) for p in outputs])
    assert all(v.status == "ok" and abs(v.offset_s) < 0.001 for v in again.videos)


@pytest.mark.slow
def test_mp3_recorders_lossless_and_reviewed(shared_media, tmp_path):
    a, b = (str(shared_media / "multicam" / n) for n in ("timbl_1.mp3", "timbl_2.mp3"))
    result = avsync.sync([a, b])
    assert abs(result.videos[1].offset_s - 12.254) < 0.01
    section = review(result, tmp_path / "review", transients=2).section
    assert section["transients"] and section["max_abs_residual_ms"][b] < 1.0
    outputs, notes = apply_lossless(result, tmp_path / "out")
    # timbl_2 starts the shared span: copied, and checked (its source has no LAME header, so the
    # copy must not get one); timbl_1 needs a cut that MP3 cannot express: re-encoded.
    assert "re-encoded" in notes[1] and "streams copied unchanged" in notes[2] and "checked" in notes[2]
    assert packet_hashes(outputs[1], "a:0") == packet_hashes(b, "a:0")[: len(packet_hashes(outputs[1], "a:0"))]
    again = avsync.sync([str(p) for p in outputs])
    assert abs(again.videos[1].offset_s) < 0.001
