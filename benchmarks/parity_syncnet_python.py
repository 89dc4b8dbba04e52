"""Parity with the SyncNet reference implementation (syncnet-python 0.2.3 from PyPI, a packaging
of joonson/syncnet_python), run in its own virtual environment, on the same inputs and the same
(seeded random) weights.

    python benchmarks/parity_syncnet_python.py --make-venv /tmp/syncnet-ref   # once
    python benchmarks/parity_syncnet_python.py --ref-python /tmp/syncnet-ref/bin/python [--video V]

What is compared:

1. Scores on the reference's own inputs: the frames the SyncNet demo dumps as JPEG
   (``ffmpeg -f image2``) and its ``audio.wav``, scored by the reference's
   ``SyncNetInstance.evaluate`` and by ``avsync.lipsync.scoring.SyncNetScorer`` (exact and fast
   paths): offset, confidence, min distance and per-frame confidences.
2. avsync's own ``--cropped`` run (decoded in memory, no JPEG round trip) on the same video.
3. MFCC: avsync against python_speech_features on that audio.
4. S3FD: the reference's ``S3FD.detect_faces`` and avsync's S3FD with the same random weights on
   one frame.

syncnet-python is never a dependency of avsync: it lives in the venv given by --ref-python.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("AVSYNC_MEDIA", ROOT.parent / "shared" / "media"))

REFERENCE_DRIVER = r"""
import importlib, json, sys, numpy, torch
inst = importlib.import_module("syncnet_python.SyncNetInstance")
inst = sys.modules["syncnet_python.SyncNetInstance"]  # the package shadows the module with the class
from syncnet_python.SyncNetModel import S
captured = {}
_medfilt = inst.signal.medfilt
def medfilt(x, kernel_size):
    y = _medfilt(x, kernel_size=kernel_size)
    captured["fconf"] = [float(v) for v in y]
    return y
inst.signal.medfilt = medfilt
weights, tmp_dir = sys.argv[1], sys.argv[2]
net = S()
net.load_state_dict(torch.load(weights, map_location="cpu"))
net.eval()
class Opt: pass
opt = Opt(); opt.tmp_dir = tmp_dir; opt.batch_size = 20; opt.vshift = 15
offset, conf, dist = inst.SyncNetInstance(net=net, device="cpu").evaluate(opt)
print("RESULT " + json.dumps({"offset": offset, "conf": conf, "min_dist": dist, "fconf": captured["fconf"]}))
"""

S3FD_DRIVER = r"""
import json, sys, numpy, torch, cv2
from syncnet_python.detectors.s3fd import S3FD
from syncnet_python.detectors.s3fd.nets import S3FDNet
net = S3FDNet(device="cpu")
net.load_state_dict(torch.load(sys.argv[1], map_location="cpu"))
image = numpy.load(sys.argv[2])
boxes = S3FD(net=net, device="cpu").detect_faces(image, conf_th=float(sys.argv[3]), scales=[float(sys.argv[4])])
print("RESULT " + json.dumps(numpy.asarray(boxes).tolist()))
"""


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args], check=True)


def run_reference(python: str, code: str, *args: str) -> object:
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"the reference failed:\n{proc.stderr[-2000:]}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def make_venv(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "-q"]
    # torch pinned to the CPU build; syncnet-python without its declared extras (torchvision,
    # pandas, opencv-contrib): the parts compared here do not use them.
    subprocess.run([*pip, "torch==2.13.0", "numpy", "scipy", "python_speech_features", "opencv-python-headless", "ffmpeg-python", "scenedetect>=0.6,<0.7"], check=True)
    subprocess.run([*pip, "--no-deps", "syncnet-python==0.2.3"], check=True)
    print(f"reference environment ready: {path}/bin/python")


def random_s3fd_state(seed: int = 1) -> dict:
    """S3FD weights whose face scores spread over (0, 1) instead of saturating, so the comparison
    exercises ordering, thresholds and NMS."""
    import torch

    from avsync.lipsync.detectors.s3fd import S3FDNet

    gen = torch.Generator().manual_seed(seed)
    state = S3FDNet().state_dict()
    with torch.no_grad():
        for k, v in state.items():
            if k.startswith("L2Norm"):
                continue
            v.copy_(torch.randn(v.shape, generator=gen) * (1.0 / v[0].numel()) ** 0.5 if v.dim() > 1 else torch.randn(v.shape, generator=gen) * 0.01)
        for i in range(6):
            state[f"conf.{i}.weight"].mul_(4.0)
    return state


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref-python", help="python of a venv with syncnet-python 0.2.3")
    ap.add_argument("--make-venv", type=Path, help="create that venv here and exit")
    ap.add_argument("--video", type=Path, default=MEDIA / "talking" / "example.avi")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="write the comparison here")
    args = ap.parse_args()
    if args.make_venv:
        make_venv(args.make_venv)
        return
    if not args.ref_python:
        ap.error("--ref-python is required (make one with --make-venv DIR)")

    import cv2
    import python_speech_features
    import torch
    from scipy.io import wavfile

    import avsync
    from avsync.lipsync.detectors.s3fd import S3FD, S3FDNet
    from avsync.lipsync.features import mfcc
    from avsync.lipsync.model import random_syncnet, save_syncnet
    from avsync.lipsync.scoring import SyncNetScorer

    report: dict = {"video": str(args.video), "weights": f"random_syncnet(seed={args.seed}), saved in the official format"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        weights = tmp / "syncnet_random.model"
        net = random_syncnet(args.seed)
        save_syncnet(net, weights)
        # the SyncNet demo's own preprocessing
        frames_dir = tmp / "frames"
        frames_dir.mkdir()
        ffmpeg("-i", str(args.video), "-threads", "1", "-f", "image2", str(frames_dir / "%06d.jpg"))
        ffmpeg("-i", str(args.video), "-async", "1", "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000", str(frames_dir / "audio.wav"))

        ref = run_reference(args.ref_python, REFERENCE_DRIVER, str(weights), str(frames_dir))
        crops = np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted(frames_dir.glob("*.jpg"))])
        _, audio = wavfile.read(frames_dir / "audio.wav")
        rows = {"reference (syncnet-python 0.2.3)": (ref["offset"], ref["conf"], ref["min_dist"], np.asarray(ref["fconf"]))}
        for name, exact in (("avsync exact", True), ("avsync fast (folded, oneDNN)", False)):
            s = SyncNetScorer(net, exact=exact).score_track(crops, audio)
            rows[name] = (s.offset_frames, s.confidence, s.min_dist, s.framewise_confidence)
        own = avsync.lipsync(args.video, weights=weights, cropped=True)
        t = own.tracks[0]
        rows["avsync --cropped (in-memory decode, no JPEG)"] = (t.offset_frames, t.confidence, t.min_dist, t.framewise_confidence)
        ref_f = rows["reference (syncnet-python 0.2.3)"][3]
        report["scores"] = []
        print(f"{'run':48s} {'offset':>6s} {'conf':>9s} {'min_dist':>9s} {'max |dfconf|':>12s}")
        for name, (off, conf, dist, fconf) in rows.items():
            d = float(np.max(np.abs(fconf - ref_f))) if len(fconf) == len(ref_f) else float("nan")
            print(f"{name:48s} {off:6d} {conf:9.4f} {dist:9.4f} {d:12.2e}")
            report["scores"].append({"run": name, "offset_frames": off, "confidence": conf, "min_dist": dist, "framewise_max_abs_diff": d})

        feats = python_speech_features.mfcc(audio, 16000)
        ours = mfcc(audio)
        report["mfcc_max_rel_diff"] = float(np.max(np.abs(ours - feats) / np.maximum(np.abs(feats), 1e-12)))
        print(f"MFCC vs python_speech_features: max relative difference {report['mfcc_max_rel_diff']:.2e}")

        s3fd_weights = tmp / "s3fd_random.pth"
        torch.save(random_s3fd_state(), s3fd_weights)
        image = crops[len(crops) // 2]
        np.save(tmp / "frame.npy", image)
        scale, threshold = 0.5, 0.6
        ref_boxes = np.asarray(run_reference(args.ref_python, S3FD_DRIVER, str(s3fd_weights), str(tmp / "frame.npy"), str(threshold), str(scale)))
        det = S3FD(S3FDNet(), threshold=threshold)
        det.net.load_state_dict(torch.load(s3fd_weights))
        small = cv2.resize(image, (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        our_boxes = det.detect(small)
        our_boxes[:, :4] *= np.array([image.shape[1] / small.shape[1], image.shape[0] / small.shape[0]] * 2, np.float32)
        same = our_boxes.shape == ref_boxes.shape and np.allclose(our_boxes, ref_boxes, atol=1e-3)
        report["s3fd"] = {"reference_boxes": len(ref_boxes), "avsync_boxes": len(our_boxes), "max_abs_diff": float(np.max(np.abs(our_boxes - ref_boxes))) if same or our_boxes.shape == ref_boxes.shape else None}
        print(f"S3FD on one frame (random weights, threshold {threshold}): reference {len(ref_boxes)} boxes, avsync {len(our_boxes)}, same: {same}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
