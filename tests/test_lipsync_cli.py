"""`avsync lipsync` on the command line: usage, errors, the JSON, the official-weights note."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

from avsync.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    from avsync.lipsync.model import random_syncnet, save_syncnet

    return save_syncnet(random_syncnet(7), tmp_path_factory.mktemp("weights") / "random_syncnet.model")


def test_weights_are_required():
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "lipsync", "x.mp4"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--weights" in proc.stderr


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--detector", "s3fd"], "--s3fd-weights"),
        (["--data-dir", "out"], "--data-dir and --reference go together"),
    ],
)
def test_usage_problems_are_one_line_errors(capsys, random_weights, extra, message):
    assert main(["lipsync", "x.mp4", "--weights", str(random_weights), *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("avsync lipsync: error:") and message in err and "\n" not in err


def test_missing_weights_and_missing_video(capsys, tmp_path, random_weights):
    assert main(["lipsync", "x.mp4", "--weights", str(tmp_path / "none.model")]) == 1
    assert "SyncNet weights not found" in capsys.readouterr().err
    assert main(["lipsync", str(tmp_path / "none.mp4"), "--weights", str(random_weights), "--cropped"]) == 1
    err = capsys.readouterr().err
    assert "none.mp4" in err and err.count("\n") == 2  # the note about the weights, then the error


@pytest.mark.slow
def test_no_faces_prints_the_json_and_fails(capsys, av_clip, random_weights, tmp_path):
    pytest.importorskip("onnxruntime")
    code = main(["lipsync", str(av_clip), "--weights", str(random_weights), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert code == 1 and "no face track found" in err
    assert json.loads(out)["status"] == "no_faces" == json.loads((tmp_path / "r.json").read_text())["status"]


@pytest.mark.slow
@pytest.mark.realmedia
def test_cropped_demo_clip_with_random_official_format_weights(capsys, shared_media, random_weights, tmp_path):
    """The SyncNet demo on example.avi: the CLI's numbers are the scorer's on the same decoded frames."""
    from avsync.lipsync.model import load_syncnet
    from avsync.lipsync.scoring import SyncNetScorer
    from avsync.media.video import iter_frames

    video = shared_media / "talking" / "example.avi"
    assert main(["lipsync", "--videofile", str(video), "--weights", str(random_weights), "--cropped", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "not the official syncnet_v2.model" in err
    result = json.loads(out)
    assert result["status"] == "ok" and result["frames"] == 317 and result["weights"]["official"] is False
    (track,) = result["tracks"]
    assert (track["start_frame"], track["end_frame"], track["mean_box"]) == (0, 316, [0.0, 0.0, 224.0, 224.0])
    frames = np.concatenate([f for f, _ in iter_frames(video, 224, 224, rgb=True)])
    score = SyncNetScorer(load_syncnet(random_weights)[0]).score_track(frames, __import__("avsync").read_audio(video))
    assert track["offset_frames"] == score.offset_frames
    assert track["confidence"] == pytest.approx(score.confidence, abs=1e-3)
    assert track["min_dist"] == pytest.approx(score.min_dist, abs=1e-3)


def test_empty_and_audio_only_files_are_one_line_errors(capsys, tmp_path, random_weights, ffmpeg):
    from tests.conftest import run_ffmpeg

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    wav = tmp_path / "speech.wav"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=1", str(wav))
    for path in (empty, wav):
        assert main(["lipsync", str(path), "--weights", str(random_weights), "--no-progress"]) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("avsync lipsync: error:") and path.name in err


def test_importing_the_subpackage_stays_light():
    code = "import sys, avsync.lipsync; print([m for m in ('torch', 'cv2', 'onnxruntime') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
