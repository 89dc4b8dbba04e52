"""Long videos: chunks, per-chunk lip sync, the offset over time (a jump is found), resuming."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from avsync.curate.batch import LipSyncSettings  # noqa: E402
from avsync.curate.long_video import overall, process_long_video  # noqa: E402
from tests.conftest import run_ffmpeg  # noqa: E402
from tests.curate_helpers import VSHIFT, save_small_weights  # noqa: E402
from tests.lipsync_helpers import EnvelopeNet, make_flash_video  # noqa: E402


def test_overall_weights_offsets_by_confidence_and_finds_drift_and_jumps():
    def row(t, off, conf, status="ok"):
        return {"start_s": t, "end_s": t + 30, "status": status, "offset_frames": off, "confidence": conf}

    steady = overall([row(0, 1, 8), row(25, 1, 9), row(50, 2, 1.0), row(75, 1, 7), row(100, None, None, "no_faces")])
    assert steady["weighted_offset_frames"] == pytest.approx((8 + 9 + 2 + 7) / 25, abs=1e-3)
    assert steady["jumps"] == [] and steady["consistent"] and steady["offset_range_frames"] == [1, 1]
    assert steady["chunks_without_faces"] == 1 and len(steady["offset_over_time"]) == 4
    assert steady["offset_over_time"][2]["reliable"] is False  # confidence 1 < 3: not used for drift or jumps

    drifting = overall([row(60 * k, k, 8) for k in range(6)])  # one frame more every minute
    assert drifting["drift_frames_per_minute"] == pytest.approx(1.0, abs=1e-6)
    assert len(drifting["jumps"]) == 0 and not drifting["consistent"]

    jumping = overall([row(0, 0, 8), row(25, 0, 8), row(50, 5, 8), row(75, 5, 8)])
    assert jumping["jumps"] == [{"between_s": [40.0, 65.0], "from_offset_frames": 0, "to_offset_frames": 5}]
    assert overall([row(0, None, None, "error")])["weighted_offset_frames"] is None


@pytest.fixture(scope="module")
def jumping_video(tmp_path_factory):
    """20 s: in sync for 10 s, then the audio 4 frames late."""
    d = tmp_path_factory.mktemp("long")
    a = make_flash_video(d / "a.mkv", audio_delay_frames=0, duration_s=10.0, seed=1)
    b = make_flash_video(d / "b.mkv", audio_delay_frames=4, duration_s=10.0, seed=3)  # a seed whose chunks all read -4
    out = d / "talk.mkv"
    run_ffmpeg("-i", str(a), "-i", str(b), "-filter_complex", "[0:v][0:a][1:v][1:a]concat=n=2:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le", str(out))  # fmt: skip
    return out


@pytest.mark.slow
def test_long_video_finds_the_jump_and_resumes(jumping_video, tmp_path):
    out = tmp_path / "out"
    settings = LipSyncSettings(cropped=True, vshift=VSHIFT)
    s = process_long_video(jumping_video, out, weights=EnvelopeNet(), chunk_duration_s=6, overlap_s=1, settings=settings, reliable_confidence=0.2, progress=False)
    chunks = s["chunks"]
    assert [(c["start_s"], c["end_s"]) for c in chunks] == [(0.0, 6.0), (5.0, 11.0), (10.0, 16.0), (15.0, 20.0)]
    assert [c["status"] for c in chunks] == ["ok"] * 4
    assert chunks[0]["offset_frames"] == 0 and chunks[2]["offset_frames"] == -4 and chunks[3]["offset_frames"] == -4
    for c in chunks:
        assert c["confidence"] > 0.2 and c["min_dist"] > 0 and len(c["tracks"]) == 1
        assert c["tracks"][0]["start_s"] == c["start_s"]
    whole = s["overall"]
    assert any(j["to_offset_frames"] == -4 and j["from_offset_frames"] == 0 for j in whole["jumps"]) and whole["consistent"] is False
    assert -4 < whole["weighted_offset_frames"] < 0
    assert [p["time_s"] for p in whole["offset_over_time"]] == [3.0, 8.0, 13.0, 17.5]
    # the layout
    assert sorted(p.name for p in (out / "chunks").iterdir()) == ["chunk_0000.mkv", "chunk_0001.mkv", "chunk_0002.mkv", "chunk_0003.mkv", "chunks.json"]
    assert sorted(p.name for p in (out / "audio").iterdir()) == [f"chunk_{i:04d}.wav" for i in range(4)]
    assert (out / "syncnet_data" / "pywork" / "chunk_0002" / "offsets.txt").read_text().startswith("TRACK 0: OFFSET -4, CONF ")
    assert (out / "offset_over_time.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "processing_summary.json").read_text()) == s

    # a re-run does only what is missing: here, one chunk's result
    (out / "audio" / "chunk_0001.wav").unlink()
    lines = (out / "lipsync_results.jsonl").read_text().splitlines()
    (out / "lipsync_results.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    again = process_long_video(jumping_video, out, weights=EnvelopeNet(), chunk_duration_s=6, overlap_s=1, settings=settings, reliable_confidence=0.2, progress=False)
    assert again["timings"]["analysed_chunks"] == 1 and again["timings"]["resumed_chunks"] == 3
    assert (out / "audio" / "chunk_0001.wav").is_file()
    assert [c["offset_frames"] for c in again["chunks"]] == [c["offset_frames"] for c in chunks]
    # another chunking in the same folder is refused rather than mixed
    with pytest.raises(ValueError, match="another video or another chunking"):
        process_long_video(jumping_video, out, weights=EnvelopeNet(), chunk_duration_s=8, overlap_s=1, settings=settings, progress=False)


@pytest.mark.slow
def test_long_video_cli(jumping_video, tmp_path, capsys):
    from avsync.cli import main

    weights = save_small_weights(tmp_path / "small.pt")
    out = tmp_path / "cli"
    code = main(["long-video", "--input_video", str(jumping_video), "--output_dir", str(out), "--weights", str(weights), "--chunk_duration", "10",
                 "--overlap", "2", "--cropped", "--vshift", "4", "--no-progress", "--no-plot"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "processing_summary.json").read_text())
    assert printed["overall"]["chunks"] == len(summary["chunks"]) == 3
    assert summary["settings"]["min_track"] == 5 and summary["settings"]["min_face_size"] == 10.0  # the long-video defaults
    assert all(c["status"] == "ok" and c["offset_frames"] is not None for c in summary["chunks"])
    assert not (out / "offset_over_time.png").exists()
