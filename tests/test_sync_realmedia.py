"""Multi-camera sync on real recordings from public projects' test data (../shared/media/multicam,
see SOURCES.md there for where each file comes from and what is known about it)."""

from __future__ import annotations

import pytest

import avsync

pytestmark = pytest.mark.realmedia


def offset(shared_media, ref: str, other: str, **kw) -> avsync.sync.result.VideoSync:
    folder = shared_media / "multicam"
    return avsync.sync([folder / ref, folder / other], **kw).videos[1]


def test_timbl_cut(shared_media):
    # timbl_2 is timbl_1 with its first 12.254 s cut off: it starts 12.254 s later.
    v = offset(shared_media, "timbl_1.mp3", "timbl_2.mp3")
    assert v.status == "ok" and v.confidence >= 0.5
    assert v.offset_s == pytest.approx(12.254, abs=1e-3)


def test_timbl_noisy_copy(shared_media):
    # Cut at about 12.22-12.24 s, with white noise added.
    v = offset(shared_media, "timbl_1.mp3", "timbl_3.mp3")
    assert v.status == "ok" and v.confidence >= 0.5
    assert 12.215 <= v.offset_s <= 12.245


@pytest.mark.parametrize("ref", ["full.mp4", "full-44100Hz-stereo.mp4"])
@pytest.mark.parametrize("clip,seconds", [("3-secs-in.mp4", 3.0), ("7-secs-in.mp4", 7.0)])
def test_clips_of_a_video(shared_media, ref, clip, seconds):
    v = offset(shared_media, ref, clip)
    assert v.status == "ok" and v.confidence >= 0.5
    assert v.offset_s == pytest.approx(seconds, abs=3e-3)


def test_three_minutes_prepended_whole_overlap(shared_media):
    v = offset(shared_media, "full.mp4", "full-with-prepad-sec-180.mp4", max_offset_s=0)
    assert v.status == "ok" and v.confidence >= 0.5
    # 180 s prepended, plus the encoder priming the file's notes measure (about 180.03 s).
    assert v.offset_s == pytest.approx(-180.03, abs=0.01)
    # With the default ±20 s range the answer lies outside: never a confident wrong number.
    narrow = offset(shared_media, "full.mp4", "full-with-prepad-sec-180.mp4")
    assert narrow.status != "ok" and narrow.offset_s is None


@pytest.mark.parametrize("clip", ["mpeg.cbr.194648.mp3", "mpeg.64.194648.mp3"])
def test_bumblebee_clip_at_asserted_sample(shared_media, clip):
    v = offset(shared_media, "mpeg.cbr.mp3", clip)
    assert v.status == "ok" and v.confidence >= 0.5
    assert v.offset_s == pytest.approx(194072 / 44100, abs=1e-3)


def test_bumblebee_far_clip_whole_overlap(shared_media):
    v = offset(shared_media, "mpeg.cbr.mp3", "mpeg.cbr.1601425.mp3", max_offset_s=0)
    assert v.status == "ok"
    assert v.offset_s == pytest.approx(1600849 / 44100, abs=1e-3)


@pytest.mark.parametrize("clip", ["mpeg.32.194648.mp3", "mpeg.32.gen10.194648.mp3", "mpeg.32.gen20.194648.mp3"])
def test_low_bitrate_reencodes_still_match_confidently(shared_media, clip):
    # 32 kbps, re-encoded up to 20 times: each generation adds encoder delay to the audio itself
    # (about 25 ms at the first, more with each), so only the neighbourhood is known.
    v = offset(shared_media, "mpeg.cbr.mp3", clip)
    assert v.status == "ok" and v.confidence >= 0.5
    assert 194072 / 44100 - 0.35 < v.offset_s <= 194072 / 44100 + 0.002


def test_two_mixes_of_one_song(shared_media):
    v = offset(shared_media, "Eigen-song-base.mp3", "Eigen-20sec.mp3")
    assert v.status == "ok" and v.confidence >= 0.5
    assert v.offset_s == pytest.approx(0.0156, abs=2e-3)


@pytest.mark.parametrize("a,b", [("r4_excerpt.ogg", "r4_excerpt2.ogg"), ("test.mp3", "pink_noise.mp3"),
                                 ("timbl_1.mp3", "r4_excerpt.ogg"), ("test.wav", "timbl_1.mp3")])
def test_unrelated_pairs_are_no_match(shared_media, a, b):
    for kw in ({}, {"max_offset_s": 0}):
        v = offset(shared_media, a, b, **kw)
        assert v.status == "no_match", (a, b, kw, v)
        assert v.confidence < 0.2 and v.offset_s is None


def test_mixed_rates_and_layouts_in_one_run(shared_media):
    folder = shared_media / "multicam"
    r = avsync.sync([folder / "full.mp4", folder / "full-44100Hz-stereo.mp4", folder / "3-secs-in.mp4", folder / "7-secs-in.mp4"])
    assert [v.status for v in r.videos] == ["ok"] * 4
    assert [v.offset_s for v in r.videos] == pytest.approx([0.0, 0.0, 3.0, 7.0], abs=3e-3)
    assert not r.inconsistent_pairs


@pytest.mark.parametrize("clip", ["sadtalker_WDA_KatieHill_000.mp4", "ankur_test_video_crop.mp4", "example.avi"])
def test_visual_on_a_second_camera_made_from_a_real_clip(shared_media, tmp_path, clip):
    """Another framing, scale, colour, noise, frame rate and codec, starting 1.2 s later."""
    from tests.conftest import run_ffmpeg

    src = shared_media / "talking" / clip
    cam2 = tmp_path / "cam2.mp4"
    run_ffmpeg("-ss", "1.2", "-i", str(src),
               "-vf", "crop=iw*0.8:ih*0.8:iw*0.05:ih*0.1,scale=360:-2,eq=brightness=0.06:contrast=1.2:saturation=0.7,noise=alls=12:allf=t",
               "-r", "30", "-c:v", "libx264", "-crf", "28", "-c:a", "aac", str(cam2))
    v = avsync.sync([src, cam2], method="both").videos[1]
    assert v.audio_offset_s == pytest.approx(1.2, abs=1e-3)
    assert v.visual_offset_s == pytest.approx(1.2, abs=1 / 25)


def test_unrelated_talking_clips_do_not_match_visually(shared_media):
    folder = shared_media / "talking"
    v = avsync.sync([folder / "sadtalker_WDA_AOC_000.mp4", folder / "retalking_face2.mp4"], method="visual").videos[1]
    assert v.status == "no_match" and v.confidence < 0.2
