"""``avsync apply --lossless``: copied streams are bit-identical to their inputs where the notes
say so, the outputs re-sync to zero, and files that cannot be trimmed exactly are re-encoded
with a note saying why."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

import avsync
from avsync.media.synthetic import Camera, make_cameras
from avsync.sync.lossless import apply_lossless

NAMES = ["a.mp4", "b.mkv", "c.m4a", "d.wav", "e.mkv"]
OFFSETS = [0.0, 1.3, -0.7, 0.4, -0.5]  # b starts last: the shared span starts with it


def packet_hashes(path: Path, stream: str) -> list[str]:
    """MD5 of every packet of one stream, as stored (edit lists do not hide packets here)."""
    proc = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries", "packet=data_hash",
                           "-show_data_hash", "MD5", "-of", "json", str(path)], capture_output=True, text=True, check=True)
    return [p["data_hash"] for p in json.loads(proc.stdout).get("packets", [])]


def is_contiguous_run(part: list[str], whole: list[str]) -> int:
    """Where ``part`` sits in ``whole`` as one unbroken run of identical packets (-1: it does not)."""
    for i in range(len(whole) - len(part) + 1):
        if whole[i] == part[0] and whole[i:i + len(part)] == part:
            return i
    return -1


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lossless")
    cams = [Camera(), Camera(fps=30.0), Camera(video=False), Camera(video=False, sample_rate=44100), Camera()]
    paths = make_cameras(folder, OFFSETS, duration_s=8.0, seed=5, cameras=cams, names=NAMES)
    before = {p: digest(p) for p in paths}
    result = avsync.sync([str(p) for p in paths])
    outputs, notes = apply_lossless(result, folder / "out")
    return paths, result, outputs, notes, before


def test_notes_say_what_was_done_for_each_file(made):
    paths, result, outputs, notes, _ = made
    assert [p.name for p in outputs] == ["a_synced.mp4", "b_synced.mkv", "c_synced.m4a", "d_synced.wav", "e_synced.mkv"]
    assert notes[0].startswith("outputs cover the ") and len(notes) == 1 + len(paths)
    by_file = dict(zip(NAMES, notes[1:]))
    assert "streams copied; trimmed" in by_file["a.mp4"] and "edit list" in by_file["a.mp4"]
    assert "streams copied unchanged" in by_file["b.mkv"]
    assert "streams copied; trimmed" in by_file["c.m4a"]
    assert "pcm_s16le samples copied unchanged" in by_file["d.wav"]
    assert "re-encoded" in by_file["e.mkv"] and "edit list" in by_file["e.mkv"]


def test_inputs_untouched(made):
    paths, _, _, _, before = made
    assert {p: digest(p) for p in paths} == before


def test_copied_streams_are_bit_identical_packets(made):
    paths, _, outputs, _, _ = made
    for src, out in zip(paths, outputs):
        if src.suffix in (".wav",) or src.name == "e.mkv":
            continue
        streams = ["a:0"] + (["v:0"] if avsync.probe(src)["has_video"] else [])
        for stream in streams:
            mine, theirs = packet_hashes(out, stream), packet_hashes(src, stream)
            assert len(mine) > 10
            at = is_contiguous_run(mine, theirs)
            assert at >= 0, (src.name, stream)
            if src.name == "b.mkv":  # the file that starts the span keeps its start
                assert at == 0


def test_pcm_samples_are_cut_exactly(made):
    paths, result, outputs, notes, _ = made
    src, out = paths[3], outputs[3]
    first = int(notes[4].split("cut at sample ")[1].split()[0])
    with wave.open(str(src)) as w:
        original = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    with wave.open(str(out)) as w:
        cut = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.array_equal(cut, original[first:first + cut.size])
    # The cut is where the shared span starts in this file.
    start = max(v.offset_s for v in result.videos)
    assert first == round((start - result.videos[3].offset_s) * 44100)


def test_outputs_resync_to_zero_and_last_the_same(made):
    _, _, outputs, _, _ = made
    again = avsync.sync([str(p) for p in outputs])
    for v in again.videos:
        assert v.status == "ok" and abs(v.offset_s) < 0.001, (v.path, v.offset_s)
    durations = [avsync.probe(p)["duration_s"] for p in outputs]
    assert max(durations) - min(durations) <= 0.1  # copied streams end at a packet boundary


def test_video_outputs_resync_within_a_frame_by_motion(made):
    _, _, outputs, _, _ = made
    videos = [str(p) for p in outputs if avsync.probe(p)["has_video"]]
    for v in avsync.sync(videos, method="visual").videos:
        assert v.status == "ok" and abs(v.offset_s) <= 1 / 25, (v.path, v.offset_s)


def test_drift_to_correct_is_re_encoded(made, tmp_path):
    paths, result, _, _, _ = made
    drifting = avsync.SyncResult.from_dict(result.to_dict())
    drifting.videos[2].drift_ppm = 300.0  # 2.4 ms over the span: retiming needed
    outputs, notes = apply_lossless(drifting, tmp_path, correct_drift=True, paths=[str(paths[0]), str(paths[2])])
    assert [p.name for p in outputs] == ["a_synced.mp4", "c_synced.m4a"]
    assert "streams copied" in notes[1] and "re-encoded" in notes[2] and "drift" in notes[2]


def test_no_shared_span_falls_back_to_re_encoding_everything(made, tmp_path):
    paths, result, _, _, _ = made
    apart = {str(paths[0]): 0.0, str(paths[3]): 30.0}  # the recorder starts after the camera ended
    outputs, notes = apply_lossless(apart, tmp_path, zip_path=tmp_path / "all.zip")
    assert notes[0].startswith("no span of") and all("re-encoded" in n for n in notes[1:])
    assert [p.name for p in outputs] == ["a_synced.mp4", "d_synced.wav", "all.zip"]


def test_cli_apply_lossless_prints_the_notes(made, tmp_path):
    paths, result, _, _, _ = made
    res = tmp_path / "result.json"
    result.save(res)
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "apply", str(paths[0]), str(paths[1]), "--offsets", str(res),
                           "--output-dir", str(tmp_path / "o"), "--lossless", "--log-file", ""], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [Path(p).name for p in summary["outputs"]] == ["a_synced.mp4", "b_synced.mkv"]
    assert "streams copied; trimmed" in summary["notes"][1] and "streams copied unchanged" in summary["notes"][2]


def test_trimmed_video_starts_with_the_frame_at_the_cut(made):
    """The copied packets decode to the very same pictures: the output's frames are the input's
    from the cut on (the first one at the cut or right after it), with times shifted by the cut."""
    from avsync.media.video import iter_frames

    paths, result, outputs, _, _ = made
    trim = max(v.offset_s for v in result.videos) - result.videos[0].offset_s

    def frames(path, start=None):
        chunks = list(iter_frames(path, 160, 90, start_s=start))
        return np.concatenate([f for f, _ in chunks]), np.concatenate([t for _, t in chunks])

    out, out_t = frames(outputs[0])
    src, src_t = frames(paths[0])
    assert out_t[0] == pytest.approx(0.0, abs=1e-6)
    n = 100  # 4 s: enough movement that only one alignment matches
    matches = [j for j in range(src.shape[0] - n) if np.array_equal(out[:n], src[j:j + n])]
    assert len(matches) == 1
    (j,) = matches
    assert trim - 1e-6 <= src_t[j] < trim + 1 / 25  # the frame at the cut or right after it
    assert np.allclose(out_t[:n] + src_t[j], src_t[j:j + n], atol=1e-6)
