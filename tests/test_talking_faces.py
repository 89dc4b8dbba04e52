"""The synthetic talking-face generator: speech with phoneme times, mouths that follow it, the
audio shift's sign (by a round trip through the written file), crops, two faces, the CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
tf = pytest.importorskip("evaluation.talking_faces")

ROOT = Path(__file__).resolve().parents[1]


def frame_envelope(audio: np.ndarray, sample_rate: int, n_frames: int, fps: float = 25.0) -> np.ndarray:
    hop = sample_rate / fps
    return np.array([np.sqrt(np.mean(audio[int(i * hop) : int((i + 1) * hop)] ** 2) + 1e-12) for i in range(n_frames)])


def best_lag(mouth: np.ndarray, envelope: np.ndarray, max_lag: int = 12) -> int:
    """The lag L for which video frame i's mouth best matches audio frame i - L (SyncNet's sign)."""
    scores = {}
    for lag in range(-max_lag, max_lag + 1):
        i = np.arange(max(0, lag), min(len(mouth), len(envelope) + lag))
        scores[lag] = np.corrcoef(mouth[i], envelope[i - lag])[0, 1]
    return max(scores, key=scores.get)


def mouth_darkness(frames: list[np.ndarray], face: tf.FaceTruth) -> np.ndarray:
    """Per frame: the share of dark (open-mouth) pixels around the face's mouth, measured on the
    rendered pixels, independently of the renderer's own parameters."""
    out = []
    for frame, (mx, my), (x, y, w, h) in zip(frames, face.mouth_xy, face.boxes):
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        b = h / 1.69
        window = gray[int(my - 0.2 * b) : int(my + 0.25 * b), int(mx - 0.25 * w) : int(mx + 0.25 * w)]
        out.append((window < 0.55 * np.median(gray[int(y) : int(y + h), int(x) : int(x + w)])).mean())
    return np.array(out)


def test_viseme_classes():
    assert tf.viseme_classes("p") == ["closed"]
    assert tf.viseme_classes("m") == ["closed"]
    assert tf.viseme_classes("f") == ["labiodental"]
    assert tf.viseme_classes("u:") == ["round"]
    assert tf.viseme_classes("i:") == ["spread"]
    assert tf.viseme_classes("aI") == ["open", "spread"]
    assert tf.viseme_classes("oU") == ["round"]  # o and U are both rounded: one shape
    assert tf.viseme_classes("_:") == ["rest"]
    assert tf.viseme_classes("t") == ["coronal"]


def test_speech_phonemes_match_the_sound():
    sp = tf.speak("Maybe we should meet at noon, papa.", voice="en-us+f3", rate=160)
    assert sp.sample_rate > 8000 and sp.duration_s > 1.0
    assert all(b.start_s >= a.start_s for a, b in zip(sp.phonemes, sp.phonemes[1:]))
    # Vowels are loud, stops and pauses quiet: the reported times fit the samples.
    def rms(p: tf.Phoneme) -> float:
        seg = sp.samples[int(p.start_s * sp.sample_rate) : int(p.end_s * sp.sample_rate)]
        return float(np.sqrt(np.mean(seg**2))) if seg.size else 0.0

    vowels = [rms(p) for p in sp.phonemes if tf.viseme_classes(p.symbol)[0] in ("open", "mid", "spread", "round_open")]
    stops = [rms(p) for p in sp.phonemes if p.symbol in ("p", "t", "k", "b", "d", "_", "_:")]
    assert vowels and stops
    assert np.median(vowels) > 2.5 * np.median(stops)
    intervals = sp.speaking_intervals()
    assert intervals and intervals[0][0] < 0.2 and intervals[-1][1] <= sp.duration_s + 1e-6


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="no voice 'xx-nope'"):
        tf.speak("hello", voice="xx-nope")


@pytest.mark.parametrize("offset", [-6, 0, 4])
def test_audio_shift_sign_in_memory(offset):
    clip = tf.render_clip(11, duration_s=5.0, offset_frames=offset)
    n = clip.truth.n_frames
    assert clip.audio.size == round(n / 25 * clip.sample_rate)
    env = frame_envelope(clip.audio, clip.sample_rate, n)
    # Positive offset: the audio comes first, so video frame i matches audio frame i - offset.
    assert best_lag(clip.truth.faces[0].mouth_opening, env) == offset


def test_rendered_mouth_follows_the_speech():
    clip = tf.render_clip(2, duration_s=4.0)
    frames, crops = zip(*[(f, c[0]) for f, c in clip.frames()])
    assert frames[0].shape == (360, 640, 3) and frames[0].dtype == np.uint8
    assert crops[0].shape == (224, 224, 3)
    face = clip.truth.faces[0]
    assert np.corrcoef(mouth_darkness(list(frames), face), face.mouth_opening)[0, 1] > 0.8
    # The mouth is inside the face box and the box inside the frame.
    x, y, w, h = face.boxes.T
    mx, my = face.mouth_xy.T
    assert np.all((mx > x) & (mx < x + w) & (my > y + 0.5 * h) & (my < y + h))
    assert np.all((x > 0) & (y > 0) & (x + w < 640) & (y + h < 360))
    # Frames differ (head motion, light, noise) and the clip is deterministic for a seed.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 1.0
    again = tf.render_clip(2, duration_s=4.0)
    assert np.array_equal(next(iter(again.frames()))[0], frames[0]) and np.array_equal(again.audio, clip.audio)


def test_two_faces_each_follow_their_own_voice():
    clip = tf.render_clip(5, duration_s=8.0, n_faces=2)
    frames = [f for f, _ in clip.frames()]
    faces = clip.truth.faces
    assert len(faces) == 2 and all(f.speaking for f in faces)
    for k, face in enumerate(faces):
        seen = mouth_darkness(frames, face)
        own = np.corrcoef(seen, face.mouth_opening)[0, 1]
        other = np.corrcoef(seen, faces[1 - k].mouth_opening)[0, 1]
        assert own > 0.7 and own > other + 0.4, (k, own, other)
        # Outside its speaking intervals a face's mouth stays shut.
        t = np.arange(clip.truth.n_frames) / 25.0
        talking = np.zeros(t.size, bool)
        for a, b in face.speaking:
            talking |= (t >= a - 0.1) & (t <= b + 0.1)
        assert face.mouth_opening[~talking].max(initial=0) < 0.05
    # The two speakers take turns: they overlap for a small part of the clip at most.
    def mask(face: tf.FaceTruth) -> np.ndarray:
        t = np.arange(0, 8.0, 0.01)
        return np.any([(t >= a) & (t < b) for a, b in face.speaking], axis=0)

    assert (mask(faces[0]) & mask(faces[1])).mean() < 0.15


def test_written_clip_round_trip(tmp_path):
    import avsync

    truth = tf.generate_clip(tmp_path / "c.mp4", seed=4, duration_s=4.0, offset_frames=-5, crops_dir=tmp_path / "crops")
    assert truth.crops == [tmp_path / "crops" / "c.mp4"]
    for path, size in ((truth.video, (640, 360)), (truth.crops[0], (224, 224))):
        cap = cv2.VideoCapture(str(path))
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == size
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 100
        cap.release()
        audio = avsync.read_audio(path, 16000)
        assert abs(audio.size / 16000 - 4.0) < 0.05
        # Through AAC and the container the shift is still exactly -5 frames.
        assert best_lag(truth.faces[0].mouth_opening, frame_envelope(audio, 16000, 100)) == -5


def test_cli_writes_a_set_with_ground_truth_and_resumes(tmp_path):
    out = tmp_path / "set"
    cmd = [sys.executable, "-m", "evaluation.talking_faces", "--output-dir", str(out), "--count", "3",
           "--random-offsets", "8", "--seed", "7", "--duration", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((out / "truth.csv").read_text().splitlines()))
    assert [r["clip_id"] for r in rows] == ["clip_0000", "clip_0001", "clip_0002"]
    assert list(rows[0]) == tf.CSV_COLUMNS
    offsets = [int(r["offset_frames"]) for r in rows]
    assert all(-8 <= k <= 8 for k in offsets)
    for r in rows:
        assert (out / r["video"]).is_file() and (out / r["crops"]).is_file()
        assert float(r["offset_ms"]) == pytest.approx(40.0 * int(r["offset_frames"]))
        meta = json.loads((out / f"{r['clip_id']}.json").read_text())
        assert meta["offset_frames"] == int(r["offset_frames"]) and len(meta["faces"][0]["boxes"]) == 50
    # A second run keeps what is there (resume) and writes the same truth.
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == mtimes
    assert [int(r["offset_frames"]) for r in csv.DictReader((out / "truth.csv").read_text().splitlines())] == offsets


def test_cli_usage_errors(tmp_path):
    base = [sys.executable, "-m", "evaluation.talking_faces", "--output-dir", str(tmp_path)]
    for extra in (["--count", "0"], ["--count", "1", "--offset-frames", "2", "--random-offsets", "3"], ["--count", "1", "--size", "641x360"]):
        proc = subprocess.run(base + extra, cwd=ROOT, capture_output=True, text=True, check=False)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert "Traceback" not in proc.stderr
