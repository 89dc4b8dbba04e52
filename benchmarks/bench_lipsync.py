"""Lip sync end to end: avsync's in-memory pipeline against the SyncNet reference pipeline's
approach, side by side on the same clips with the same SyncNet weights and the same detector.

    python benchmarks/bench_lipsync.py [--clips a.mp4 b.mp4 ...] [--weights W] [--json out.json]

The reference approach (joonson/syncnet_python's run_pipeline.py + run_syncnet.py), rebuilt here
step by step so both sides share the detector and the network:

1. ``ffmpeg -qscale:v 2 -async 1 -r 25`` to a constant-rate AVI; 2. every frame dumped as JPEG;
3. the audio to a 16 kHz WAV; 4. every JPEG read back and passed to the face detector; 5. a
third decode of the AVI for shot detection (HSV content differences, PySceneDetect's rule);
6. tracks cropped by reading the JPEGs again, written to an AVI, muxed with the audio slice by
ffmpeg; 7. for SyncNet, each crop AVI dumped to JPEG and WAV again, read back, and scored by the
unmodified network (``SyncNetScorer(exact=True)``, the reference's arithmetic). The reference
detects faces with S3FD at facedet_scale 0.25: its network runs on every frame here too (random
weights whose face scores are pushed to zero: the same cost as the official file, no boxes),
while the boxes used for tracking come from CenterFace, so both sides score the same tracks.

avsync decodes once, detects on a downscaled copy, crops in memory and feeds a batch-norm-folded
oneDNN copy of the same network. Reported: seconds of processing per minute of video for the
reference approach with S3FD (as it runs), with CenterFace only (its I/O and arithmetic alone),
and avsync; and the ratios.

Also: SyncNet numbers on ``--cropped`` input (example.avi) from both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("AVSYNC_MEDIA", ROOT.parent / "shared" / "media")) / "talking"
DEFAULT_CLIPS = [
    "example.avi",
    "sadtalker_WDA_AOC_000.mp4",
    "retalking_face1.mp4",
    "retalking_face2.mp4",
    "latentsync_demo1_video.mp4",
    "ankur_test_video_crop.mp4",
]


def ffmpeg(*args: str | os.PathLike) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *map(str, args)], check=True)


def reference_pipeline(video: Path, scorer, detector, work: Path, *, s3fd=None, min_track: int = 50, min_face_size: float = 50.0, cropped: bool = False) -> tuple[list[tuple], float]:
    """The reference's approach (see the module docstring); returns (offset, conf, min_dist) per
    track and the seconds spent in S3FD (run on every frame at facedet_scale 0.25 when given)."""
    import cv2
    from scipy.io import wavfile

    from avsync.lipsync.faces import crop_face
    from avsync.lipsync.tracking import FaceTracker, ShotCutDetector

    work.mkdir(parents=True, exist_ok=True)
    crops: list[Path] = []
    s3fd_s = 0.0
    if cropped:
        crops = [video]
    else:
        avi = work / "video.avi"
        ffmpeg("-i", video, "-qscale:v", "2", "-async", "1", "-r", "25", avi)
        frames_dir = work / "frames"
        frames_dir.mkdir()
        ffmpeg("-i", avi, "-qscale:v", "2", "-threads", "1", "-f", "image2", frames_dir / "%06d.jpg")
        ffmpeg("-i", avi, "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000", work / "audio.wav")
        flist = sorted(frames_dir.glob("*.jpg"))
        # face detection on every frame, read back from JPEG
        dets = []
        for f in flist:
            img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
            h, w = img.shape[:2]
            s = min(1.0, 480 / max(w, h))
            small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
            b = detector.detect(small)
            b[:, :4] /= s
            dets.append(b)
            if s3fd is not None:  # the reference's detector: S3FD on the frame scaled by 0.25
                t = time.perf_counter()
                s3fd.detect(cv2.resize(img, (0, 0), fx=0.25, fy=0.25, interpolation=cv2.INTER_LINEAR))
                s3fd_s += time.perf_counter() - t
        # shot detection: another decode of the AVI
        cap = cv2.VideoCapture(str(avi))
        shots, cuts, k = ShotCutDetector(), [], 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if shots.push(cv2.resize(frame, (128, max(2, round(128 * frame.shape[0] / frame.shape[1]))))):
                cuts.append(k)
            k += 1
        cap.release()
        tracker, tracks = FaceTracker(), []
        for i, b in enumerate(dets):
            if i in cuts:
                tracks += tracker.end_all()
            tracks += tracker.update(i, b)
        tracks += tracker.end_all()
        tracks = [t for t in tracks if t.detections > min_track and t.mean_size() > min_face_size]
        from scipy.signal import medfilt

        for n, t in enumerate(tracks):
            boxes = t.boxes_until(t.last)
            s = medfilt(np.maximum(boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2, 13)
            x = medfilt((boxes[:, 0] + boxes[:, 2]) / 2, 13)
            y = medfilt((boxes[:, 1] + boxes[:, 3]) / 2, 13)
            tmp_avi = work / f"{n:05d}t.avi"
            out = cv2.VideoWriter(str(tmp_avi), cv2.VideoWriter_fourcc(*"MJPG"), 25, (224, 224))
            for i, fidx in enumerate(range(t.start, t.last + 1)):
                image = cv2.imread(str(flist[fidx]))  # read the JPEG again, as the reference does
                out.write(crop_face(image, x[i], y[i], s[i]))
            out.release()
            ffmpeg("-i", work / "audio.wav", "-ss", f"{t.start / 25:.3f}", "-to", f"{(t.last + 1) / 25:.3f}", work / f"{n:05d}.wav")
            ffmpeg("-i", tmp_avi, "-i", work / f"{n:05d}.wav", "-c:v", "copy", "-c:a", "copy", work / f"{n:05d}.avi")
            crops.append(work / f"{n:05d}.avi")
    results = []
    for n, crop in enumerate(crops):
        d = work / f"eval{n}"
        d.mkdir()
        ffmpeg("-i", crop, "-threads", "1", "-f", "image2", d / "%06d.jpg")
        ffmpeg("-i", crop, "-async", "1", "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000", d / "audio.wav")
        images = np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted(d.glob("*.jpg"))])
        _, audio = wavfile.read(d / "audio.wav")
        sc = scorer.score_track(images, audio)
        results.append((sc.offset_frames, round(sc.confidence, 3), round(sc.min_dist, 3)))
    return results, s3fd_s


def s3fd_without_faces():
    """S3FD with random weights and face scores pushed to zero: the official network's cost per
    frame, without a flood of random boxes through NMS (its weights are not available here)."""
    import torch

    from avsync.lipsync.detectors.s3fd import S3FD, S3FDNet

    net = S3FDNet()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / p[0].numel()) ** 0.5)
        for i, conf in enumerate(net.conf):
            conf.bias[-1] = -40.0  # the face score's logit
    return S3FD(net, threshold=0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description="avsync lip sync vs the reference pipeline's approach")
    ap.add_argument("--clips", nargs="*", default=DEFAULT_CLIPS)
    ap.add_argument("--weights", type=Path, help="SyncNet weights (default: a seeded random model in the official format)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-s3fd", action="store_true", help="leave S3FD's cost out of the reference side")
    args = ap.parse_args()

    import torch

    from avsync.lipsync import LipSync
    from avsync.lipsync.detectors import make_detector
    from avsync.lipsync.model import load_syncnet, random_syncnet, save_syncnet
    from avsync.lipsync.scoring import SyncNetScorer
    from avsync.media.probe import probe

    with tempfile.TemporaryDirectory(prefix="avsync-bench-") as tmp:
        tmp = Path(tmp)
        weights = args.weights or save_syncnet(random_syncnet(0), tmp / "syncnet_random.model")
        net, info = load_syncnet(weights)
        ref_scorer = SyncNetScorer(net, exact=True)
        detector = make_detector("centerface")
        ours = LipSync(weights)
        rows = []
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; weights git blob {info.git_blob_id}", flush=True)
        s3fd = None if args.no_s3fd else s3fd_without_faces()
        head = f"{'clip':30s} {'min':>5s} {'tracks':>6s} {'ref+S3FD':>9s} {'ref+CF':>8s} {'avsync':>8s} {'x vs S3FD':>9s} {'x vs CF':>8s}"
        print(head + "   (seconds per minute of video)", flush=True)
        for name in args.clips:
            clip = MEDIA / name
            minutes = probe(clip)["duration_s"] / 60
            t = time.perf_counter()
            ref, s3fd_s = reference_pipeline(clip, ref_scorer, detector, tmp / f"ref-{name}", s3fd=s3fd)
            t_ref = time.perf_counter() - t
            t = time.perf_counter()
            res = ours.run(clip)
            t_ours = time.perf_counter() - t
            mine = [(tr.offset_frames, round(tr.confidence, 3), round(tr.min_dist, 3)) for tr in res.tracks]
            row = {"clip": name, "minutes": minutes, "reference_with_s3fd_s": t_ref, "reference_centerface_s": t_ref - s3fd_s, "avsync_s": t_ours, "reference_tracks": ref, "avsync_tracks": mine}
            rows.append(row)
            print(_line(name, minutes, f"{len(mine)}/{len(ref)}", row), flush=True)
        total = {k: sum(r[k] for r in rows) for k in ("reference_with_s3fd_s", "reference_centerface_s", "avsync_s")}
        print(_line("all clips", sum(r["minutes"] for r in rows), "", total))

        # --cropped: the SyncNet demo on example.avi
        demo = MEDIA / "example.avi"
        ref_c = reference_pipeline(demo, ref_scorer, detector, tmp / "ref-cropped", cropped=True)[0][0]
        own = ours.run(demo, cropped=True).tracks[0]
        own_c = (own.offset_frames, round(own.confidence, 3), round(own.min_dist, 3))
        print(f"--cropped example.avi: reference approach (JPEG round trip) offset/conf/min_dist {ref_c}; avsync (in-memory) {own_c}")

        if args.json:
            args.json.write_text(json.dumps({"rows": rows, "total": total, "cropped": {"reference": ref_c, "avsync": own_c}}, indent=2) + "\n")


def _line(name: str, minutes: float, tracks: str, r: dict) -> str:
    per_min = [r[k] / minutes for k in ("reference_with_s3fd_s", "reference_centerface_s", "avsync_s")]
    return (
        f"{name:30s} {minutes:5.2f} {tracks:>6s} {per_min[0]:9.1f} {per_min[1]:8.1f} {per_min[2]:8.1f} "
        f"{per_min[0] / per_min[2]:8.2f}x {per_min[1] / per_min[2]:7.2f}x"
    )


if __name__ == "__main__":
    sys.exit(main())
