"""SyncNet training: the pairs it draws, its loss, checkpoints in both formats, resuming,
determinism, the command line, and (slow) that a short run learns to recover known shifts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("cv2")

from avsync.lipsync.model import SyncNetConfig  # noqa: E402
from avsync.lipsync.trainset import MFCC_WINDOW, PairSampler, TrainClip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def labelled_clip(n_frames: int = 60, offset: int = 0, size: int = 16) -> TrainClip:
    """A clip whose frame k is filled with the value k and whose MFCC row r holds r: the
    sampler's pairing can be read back from the numbers."""
    frames = np.repeat(np.arange(n_frames, dtype=np.uint8)[:, None, None, None], size, 1).repeat(size, 2).repeat(3, 3)
    clip = TrainClip("labelled", frames, np.zeros(n_frames * 640, np.float32), offset)
    clip._features = np.repeat(np.arange(4 * n_frames - 1, dtype=np.float32)[:, None], 13, 1)
    return clip


@pytest.mark.parametrize("offset", [0, 3, -4])
def test_sampler_pairs_each_video_window_with_its_synced_audio(offset):
    clip = labelled_clip(offset=offset)
    sampler = PairSampler([clip], span=8, max_shift=5, seed=1, augment=False)
    for _ in range(5):
        batch = sampler.sample(3)
        assert batch.video.shape == (3, 3, 12, 16, 16)
        for b in range(3):
            for i in range(8):
                first_frame = batch.video[b, 0, i, 0, 0]  # video window i of stretch b starts at this frame
                audio = batch.audio[batch.positive[b * 8 + i], 0]  # (13, 20) MFCC window
                first_row = audio[0, 0]
                # Audio window j covers MFCC rows 4j .. 4j+19; in sync: j = frame - offset.
                assert first_row == 4 * (first_frame - offset)
                assert np.array_equal(audio[0], first_row + np.arange(MFCC_WINDOW))
            # The stretch's audio windows run from -max_shift to +max_shift around the synced ones.
            own = np.flatnonzero(batch.owner == b)
            assert own.size == 8 + 2 * 5 and batch.positive[b * 8] - own[0] == 5


def test_short_clips_are_refused():
    with pytest.raises(ValueError, match="long enough"):
        PairSampler([labelled_clip(n_frames=12)], span=8, max_shift=5)


def test_shifted_clip_moves_the_audio():
    clip = labelled_clip(n_frames=40)
    clip.audio = np.arange(40 * 640, dtype=np.float32)
    later = clip.shifted(3)
    assert later.offset_frames == 3 and later.audio.size == clip.audio.size
    assert later.audio[0] == 3 * 640  # the audio comes 3 frames earlier: what was heard at frame 3 is heard at 0
    earlier = clip.shifted(-2)
    assert earlier.offset_frames == -2 and earlier.audio[2 * 640] == 0


def test_contrastive_loss_matches_its_definition():
    from avsync.lipsync.train import contrastive_loss
    from avsync.lipsync.trainset import PairBatch

    rng = np.random.default_rng(0)
    span, margin = 3, 2.0
    v = rng.normal(size=(2 * span, 4)).astype(np.float32)
    a = rng.normal(size=(10, 4)).astype(np.float32)
    owner = np.array([0] * 5 + [1] * 5)
    positive = np.array([1, 2, 3, 6, 7, 8])
    batch = PairBatch(np.zeros(1), np.zeros(1), positive, owner, np.array([0, 5]), np.array([1, 1]))
    got = float(contrastive_loss(torch.from_numpy(v), torch.from_numpy(a), batch, span, margin, other_weight=0.5, min_negative_shift=2))
    d = np.linalg.norm(v[:, None, :] - a[None, :, :], axis=2)
    want_terms = {"pos": [], "shifted": [], "other": []}
    for i in range(6):
        for j in range(10):
            hinge = max(margin - d[i, j], 0) ** 2
            if owner[j] != i // span:
                want_terms["other"].append(hinge)
            elif j == positive[i]:
                want_terms["pos"].append(d[i, j] ** 2)
            elif abs(j - positive[i]) >= 2:  # one frame off is neither a positive nor a negative
                want_terms["shifted"].append(hinge)
    want = np.mean(want_terms["pos"]) + np.mean(want_terms["shifted"]) + 0.5 * np.mean(want_terms["other"])
    assert got == pytest.approx(want, rel=1e-4)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    """Six 2-second face-crop clips (in sync) made by the talking-face generator."""
    tf = pytest.importorskip("evaluation.talking_faces")
    out = tmp_path_factory.mktemp("faces")
    tf.generate_set(out, 6, seed=5, duration_s=2.0, full=False, progress=False)
    return out / "crops"


def run_train(videos, output, **kw):
    from avsync.lipsync.train import TrainOptions, train_syncnet

    opts = {"minutes": None, "steps": 4, "val_every": 2, "progress": False, "batch": 2, "span": 4, "max_shift": 4}
    opts.update(kw.pop("options", {}))
    return train_syncnet(videos, output, cropped=True, options=TrainOptions(**opts), **kw)


@pytest.mark.slow
def test_training_is_deterministic_and_resumes_exactly(tiny_set, tmp_path, monkeypatch):
    from avsync.lipsync import train as train_mod
    from avsync.lipsync.model import load_syncnet

    first = run_train(tiny_set, tmp_path / "a.pt")
    assert first.steps == 4 and first.val_clips == 1 and len(first.history) == 2
    second = run_train(tiny_set, tmp_path / "b.pt")
    net_a, info = load_syncnet(tmp_path / "a.pt")
    net_b, _ = load_syncnet(tmp_path / "b.pt")
    assert info.config == SyncNetConfig.small() and not info.official
    assert all(torch.equal(x, y) for x, y in zip(net_a.state_dict().values(), net_b.state_dict().values()))
    def without_time(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert without_time(second.history) == without_time(first.history)

    # Interrupt the third run after 3 steps (as Ctrl-C would), then run the same thing again.
    original = train_mod.PairSampler.sample
    calls = {"n": 0}

    def interrupting(self, batch):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return original(self, batch)

    monkeypatch.setattr(train_mod.PairSampler, "sample", interrupting)
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_set, tmp_path / "c.pt", options={"checkpoint_every_s": 1e9})
    assert (tmp_path / "c.pt.resume").is_file() and not (tmp_path / "c.pt").exists()
    monkeypatch.setattr(train_mod.PairSampler, "sample", original)
    resumed = run_train(tiny_set, tmp_path / "c.pt")
    assert resumed.resumed_from == 3 and resumed.steps == 4
    assert not (tmp_path / "c.pt.resume").exists()
    net_c, _ = load_syncnet(tmp_path / "c.pt")
    assert all(torch.equal(x, y) for x, y in zip(net_a.state_dict().values(), net_c.state_dict().values()))

    # Different settings do not silently continue someone else's run.
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(train_mod.PairSampler, "sample", interrupting)
        calls["n"] = 0
        run_train(tiny_set, tmp_path / "d.pt")
    monkeypatch.setattr(train_mod.PairSampler, "sample", original)
    with pytest.raises(ValueError, match="other settings"):
        run_train(tiny_set, tmp_path / "d.pt", options={"seed": 9})


_TRAIN_AND_DIGEST = """
import hashlib, sys
from avsync.lipsync.model import load_syncnet
from avsync.lipsync.train import TrainOptions, train_syncnet
opts = TrainOptions(minutes=None, steps=6, val_every=100, progress=False)
train_syncnet(sys.argv[1], sys.argv[2], cropped=True, options=opts, fresh=True)
net, _ = load_syncnet(sys.argv[2])
digest = hashlib.sha256()
for name, value in sorted(net.state_dict().items()):
    digest.update(name.encode() + value.detach().contiguous().numpy().tobytes())
print(digest.hexdigest())
"""


@pytest.mark.slow
def test_training_repeats_bit_for_bit_in_separate_processes(tiny_set, tmp_path):
    """Separate processes with two CPU threads each, at the default batch sizes: the multi-way
    loss gathers overlapping audio windows, and gathering them with an index tensor summed their
    gradients on several threads in a varying order (the digests differed at every run)."""
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    digests = []
    for run in ("a", "b"):
        proc = subprocess.run([sys.executable, "-c", _TRAIN_AND_DIGEST, str(tiny_set), str(tmp_path / f"{run}.pt")],
                              capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        digests.append(proc.stdout.strip())
    assert len(digests[0]) == 64 and digests[0] == digests[1]


@pytest.mark.slow
def test_fine_tune_and_full_size_official_format(tiny_set, tmp_path):
    from avsync.lipsync.model import load_syncnet

    run_train(tiny_set, tmp_path / "small.pt", options={"steps": 1})
    tuned = run_train(tiny_set, tmp_path / "tuned.pt", init=tmp_path / "small.pt", options={"steps": 1, "lr": 1e-4})
    assert tuned.config == SyncNetConfig.small().to_dict()
    with pytest.raises(ValueError, match="leave out --size"):
        run_train(tiny_set, tmp_path / "x.pt", init=tmp_path / "small.pt", options={"size": "full"})
    run_train(tiny_set, tmp_path / "full.pt", options={"size": "full", "steps": 1, "val_fraction": 0.0})
    state = torch.load(tmp_path / "full.pt", weights_only=True)
    assert "netcnnlip.0.weight" in state and len(state) >= 102  # a bare state dict, as syncnet_v2.model
    net, info = load_syncnet(tmp_path / "full.pt")
    assert info.config.is_official


def test_cli_errors_are_one_line(tmp_path):
    cmd = [sys.executable, "-m", "avsync.cli", "train-syncnet", "--videos", str(tmp_path / "missing"), "--output", str(tmp_path / "m.pt"), "--steps", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "no such folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([*cmd, "--size", "huge"], capture_output=True, text=True, check=False)
    assert proc.returncode == 2


def test_held_out_clips_get_offsets_within_ten_frames():
    from avsync.lipsync.train import _shift_for_validation

    clips = [labelled_clip(offset=k) for k in (0, 0, 0, 7, -10, 0)]
    for c in clips:
        c.audio = np.random.default_rng(0).normal(size=c.audio.size).astype(np.float32)
    out = _shift_for_validation(clips, seed=3)
    assert [c.offset_frames for c in out][3:5] == [7, -10]  # known offsets in range are kept
    assert all(-10 <= c.offset_frames <= 10 for c in out)
    assert len({c.offset_frames for c in out}) > 2
    moved = out[0]
    k = moved.offset_frames
    if k > 0:  # the audio now comes k frames earlier
        assert np.array_equal(moved.audio[: -k * 640], clips[0].audio[k * 640 :])


@pytest.mark.slow
def test_short_training_recovers_known_shifts(learned_syncnet):
    """The issue's measurement, shortened (about two minutes here): the small model trained for
    150 steps on 48 generated clips recovers held-out shifts in [-10, 10] frames with
    ``avsync lipsync --cropped`` and through the full face pipeline, and calls synced clips more
    in sync than the same clips shifted by 5-10 frames. (The 10-minute version is
    benchmarks/train_syncnet_synthetic.py: 100 % there.)"""
    from evaluation.synthetic_syncnet import confidence_check, held_out_set, measure_offsets

    report, work = learned_syncnet  # train_on_generated_faces(work, clips=48, steps=150, seed=0, val_every=50)
    assert report.steps == 150 and report.val_clips == 7 and report.val_accuracy >= 0.8

    held_out = held_out_set(work / "held_out", 12, seed=404)
    assert len({t.offset_frames for t in held_out}) >= 6  # shifts of many sizes, both signs
    measured = measure_offsets(report.output, held_out, pipeline_clips=3)
    assert measured["within_1_frame"] >= 10 / 12, measured["results"]
    assert measured["pipeline_same_offset"] >= 2, measured["results"]

    conf = confidence_check(report.output, held_out)
    assert conf["shifted_offsets_within_1_frame"] >= 10 / 12
    assert conf["sync"]["same_clip_synced_higher"] >= 11 / 12 and conf["sync"]["all_pairs_synced_higher"] >= 0.9, conf

    # The command line gives the runner's numbers.
    first = measured["results"][0]
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "lipsync", str(held_out[0].crops[0]), "--cropped", "--weights", report.output,
                           "--no-progress"], capture_output=True, text=True, check=True)
    track = json.loads(proc.stdout)["tracks"][0]
    assert track["offset_frames"] == first["cropped"] and track["confidence"] == pytest.approx(first["confidence"], abs=2e-3)
