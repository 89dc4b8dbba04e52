"""Chunk plans, silence detection (against ffmpeg's silencedetect), exact cuts, the chunk CLIs."""

from __future__ import annotations

import json
import re
import subprocess

import numpy as np
import pytest

import avsync
from avsync.cli import main
from avsync.curate.chunking import chunk_by_time, detect_silences, keyframe_times, plan_silence_chunks, plan_time_chunks
from avsync.media.video import iter_frames
from tests.conftest import run_ffmpeg


def test_time_plan_covers_the_video_with_the_overlap():
    chunks = plan_time_chunks(70.0, duration_s=30, overlap_s=5)
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 30.0), (25.0, 55.0), (50.0, 70.0)]
    # a chunk that would add nothing past the previous one is not made
    assert [(c.start_s, c.end_s) for c in plan_time_chunks(55.0, duration_s=30, overlap_s=5)] == [(0.0, 30.0), (25.0, 55.0)]
    assert [(c.start_s, c.end_s) for c in plan_time_chunks(12.0, duration_s=30, overlap_s=5)] == [(0.0, 12.0)]
    many = plan_time_chunks(3600.0, duration_s=30, overlap_s=5)
    assert all(b.start_s - a.start_s == 25 for a, b in zip(many, many[1:])) and many[-1].end_s == 3600.0


@pytest.mark.parametrize("duration,overlap", [(30, 30), (30, -1), (0, 0)])
def test_time_plan_rejects_bad_settings(duration, overlap):
    with pytest.raises(ValueError, match="overlap|duration"):
        plan_time_chunks(60.0, duration_s=duration, overlap_s=overlap)


def test_silence_plan_cuts_in_the_middle_and_keeps_chunks_long_enough():
    silences = [(4.0, 6.0), (7.0, 8.0), (15.0, 16.0), (18.5, 19.5)]
    chunks = plan_silence_chunks(22.0, silences, min_chunk_s=5.0)
    # 7.5 is only 2.5 s after the cut at 5.0; 19.0 would leave 3 s at the end
    assert [(c.start_s, c.end_s) for c in chunks] == [(0.0, 5.0), (5.0, 15.5), (15.5, 22.0)]
    # with 20 s, a cut at 15.5 would leave 4.5 s: one cut only
    assert [(c.start_s, c.end_s) for c in plan_silence_chunks(20.0, silences, min_chunk_s=5.0)] == [(0.0, 5.0), (5.0, 20.0)]
    assert [(c.start_s, c.end_s) for c in plan_silence_chunks(20.0, [], min_chunk_s=5.0)] == [(0.0, 20.0)]


def _silencedetect(path) -> list[tuple[float, float]]:
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-af", "silencedetect=noise=-30dB:d=0.5", "-f", "null", "-"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    starts = [float(x) for x in re.findall(r"silence_start: ([\d.]+)", proc.stderr)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", proc.stderr)]
    return list(zip(starts, ends))


def _speech_with_gaps(path, pattern):
    """A WAV of tone bursts and digital silence: ``pattern`` is a list of (seconds, loud?)."""
    sr = 16000
    rng = np.random.default_rng(0)
    parts = [(0.3 * np.sin(2 * np.pi * 300 * np.arange(int(s * sr)) / sr) + 0.05 * rng.standard_normal(int(s * sr))) if loud else np.zeros(int(s * sr)) for s, loud in pattern]
    audio = np.concatenate(parts)
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return audio.astype(np.float32)


def test_silences_match_ffmpeg_silencedetect(tmp_path):
    wav = tmp_path / "speech.wav"
    audio = _speech_with_gaps(wav, [(2.0, True), (1.2, False), (3.0, True), (0.6, False), (1.5, True), (2.5, False), (1.0, True)])
    ours = detect_silences(audio, 16000, threshold_db=-30, min_silence_s=0.5)
    ref = _silencedetect(wav)
    assert len(ours) == len(ref) == 3
    for (a, b), (ra, rb) in zip(ours, ref):
        assert abs(a - ra) <= 0.011 and abs(b - rb) <= 0.011
    # the 0.6 s gap is not a silence of at least 1 s
    assert [round(b - a, 1) for a, b in detect_silences(audio, 16000, threshold_db=-30, min_silence_s=1.0)] == [1.2, 2.5]


@pytest.fixture(scope="module")
def counter_video(media_dir):
    """12 s, 25 fps, keyframes exactly every 4 s (and nowhere else), a frame counter drawn large,
    and a tone whose pitch rises with time (so audio positions can be checked too)."""
    path = media_dir / "counter.mp4"
    run_ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=12",
        "-f", "lavfi", "-i", "aevalsrc=0.3*sin(2*PI*(200+20*t)*t):s=16000:d=12",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "1000", "-sc_threshold", "0",
        "-force_key_frames", "expr:gte(t,n_forced*4)", "-c:a", "aac", "-shortest", str(path),
    )  # fmt: skip
    return path


def _first_frame(path, start_s=None):
    frames, times = next(iter_frames(path, 160, 120, start_s=start_s, chunk=1))
    return frames[0], float(times[0])


def test_keyframes_are_listed(counter_video):
    assert np.allclose(keyframe_times(counter_video), [0, 4, 8], atol=0.02)


@pytest.mark.parametrize("overlap,methods", [(0.0, ["copy"] * 3), (1.5, ["reencode", "reencode", "copy"])])
def test_chunks_start_exactly_where_planned(counter_video, tmp_path, overlap, methods):
    """Chunks whose ends are both keyframes (or the end of the file) are copied, the others
    re-encoded; either way they hold exactly the planned stretch of video and audio."""
    chunks = chunk_by_time(counter_video, tmp_path, duration_s=4.0 + overlap, overlap_s=overlap, progress=False)
    step = 4.0
    assert [c.start_s for c in chunks] == [0.0, step, 2 * step]
    assert [c.method for c in chunks] == methods
    for c in chunks:
        info = avsync.probe(c.path)
        frames = sum(len(t) for _, t in iter_frames(c.path, 16, 16))
        assert frames == round(c.duration_s * 25), (c, frames)
        assert abs(len(avsync.read_audio(c.path)) / 16000 - c.duration_s) < 0.07, c  # AAC pads its last 1024-sample frame
        assert abs(info["duration_s"] - c.duration_s) < 0.05, (c, info["duration_s"])
        # the chunk's first frame is the source's frame at the chunk's start
        got, _ = _first_frame(c.path)
        want, t = _first_frame(counter_video, c.start_s)
        assert abs(t - c.start_s) < 0.02
        assert np.mean(np.abs(got.astype(float) - want.astype(float))) < 3.0
        # and its audio starts with the source's audio there
        a = avsync.read_audio(c.path)[:1600]
        src = avsync.read_audio(counter_video)[int(c.start_s * 16000) : int(c.start_s * 16000) + 1600]
        assert np.corrcoef(a, src)[0, 1] > 0.9
    manifest = json.loads((tmp_path / "chunks.json").read_text())
    assert [c["start_s"] for c in manifest["chunks"]] == [0.0, 4.0, 8.0] and manifest["overlap_s"] == overlap


def test_chunk_time_cli(counter_video, tmp_path, capsys):
    assert main(["chunk-time", str(counter_video), "--output_dir", str(tmp_path), "--duration", "5", "--overlap", "1", "--no-progress"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(c["start_s"], c["end_s"]) for c in printed] == [(0.0, 5.0), (4.0, 9.0), (8.0, 12.0)]
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["counter_chunk_0000.mp4", "counter_chunk_0001.mp4", "counter_chunk_0002.mp4"]


def test_chunk_silence_cli_cuts_in_the_middle_of_silences(media_dir, tmp_path, capsys):
    wav = tmp_path / "speech.wav"
    _speech_with_gaps(wav, [(6.0, True), (2.0, False), (7.0, True), (1.0, False), (1.0, True), (2.0, False), (5.0, True)])
    video = tmp_path / "talk.mp4"
    run_ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=24", "-i", str(wav), "-c:v", "libx264", "-preset", "veryfast",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video))  # fmt: skip
    out = tmp_path / "chunks"
    code = main(["chunk-silence", str(video), "--output-dir", str(out), "--threshold", "-30", "--min-silence", "0.8", "--min-chunk", "5", "--no-progress"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    # silences 6-8, 15-16 and 17-19: cuts at 7 and 15.5; 18 would leave a chunk of 2.5 s after 15.5
    bounds = [(c["start_s"], c["end_s"]) for c in printed]
    assert len(bounds) == 3
    assert abs(bounds[0][1] - 7.0) < 0.06 and abs(bounds[1][1] - 15.5) < 0.06 and abs(bounds[2][1] - 24.0) < 0.1
    manifest = json.loads((out / "chunks.json").read_text())
    assert len(manifest["silences"]) == 3 and manifest["min_chunk_s"] == 5.0


def test_chunk_errors_are_one_line(tmp_path, capsys):
    assert main(["chunk-time", str(tmp_path / "missing.mp4"), "--output-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.mp4" in err and "no such file" in err
    assert main(["chunk-time", str(tmp_path / "x.mp4"), "--output-dir", str(tmp_path), "--duration", "5", "--overlap", "5"]) == 1


def _audio_from_first_frame(path):
    """16 kHz audio from the moment of the first video frame (as players line them up)."""
    from avsync.media.audio import read_audio_with_start
    from avsync.media.video import video_info

    samples, audio_start = read_audio_with_start(path)
    lead = int(round((float(video_info(path).get("start_s") or 0.0) - audio_start) * 16000))
    return samples[lead:] if lead >= 0 else np.concatenate([np.zeros(-lead, np.float32), samples])


@pytest.mark.realmedia
@pytest.mark.slow
@pytest.mark.parametrize("name", ["retalking_face1.mp4", "latentsync_demo1_video.mp4", "example.avi", "ankur_test_video_crop.mp4"])
def test_real_clips_are_cut_where_planned(shared_media, tmp_path, name):
    """Variable frame rate, HEVC portrait, AVI and a long H.264 clip: every chunk lasts what was
    planned, and its audio and video start together as in the source."""
    video = shared_media / "talking" / name
    total = avsync.probe(video)["duration_s"]
    chunks = chunk_by_time(video, tmp_path, duration_s=4.0, overlap_s=1.0, progress=False)
    assert chunks[-1].end_s == pytest.approx(total) and all(c.path.endswith(".mkv" if name.endswith(".avi") else ".mp4") for c in chunks)
    src_audio = _audio_from_first_frame(video)
    for c in chunks:
        info = avsync.probe(c.path)
        assert abs(info["duration_s"] - c.duration_s) < 0.1, (c, info["duration_s"])
        # the chunk's audio, from its first video frame, is the source's from the chunk's start
        a = _audio_from_first_frame(c.path)
        first = int(round((c.start_s + 0.5) * 16000))
        ref = src_audio[first : first + 8000]
        mine = a[8000:16000]
        n = min(len(mine), len(ref))
        if n > 4000 and np.std(ref[:n]) > 1e-3:
            full = np.correlate(mine[:n], ref[:n], "full")[n - 1 - 320 : n + 320]  # lags -320..320 samples
            lag = int(np.argmax(full)) - 320
            assert abs(lag) <= 16, (c, lag)  # 1 ms
