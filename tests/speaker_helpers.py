"""Test helpers for speaker detection: a hand-built network with SyncNet's interface that "sees"
how open a drawn mouth is and "hears" how loud the voice is (no training, deterministic)."""

from __future__ import annotations

import numpy as np
import torch

from avsync.lipsync.model import SyncNetConfig
from evaluation.synthetic_speakers import compare_with_truth, runs, speaking_mask  # noqa: F401 - the tests import them from here

# Where SyncNet's crop framing puts the face and the mouth in a 224x224 crop (the face box's
# centre 80 px from the top, the crop 2.8 half-box sizes high): rows and columns of the crop.
FACE_ROWS, FACE_COLS = slice(50, 150), slice(60, 164)
MOUTH_ROWS, MOUTH_COLS = slice(98, 150), slice(78, 146)


def _voice_band_weights(low_hz: float = 250.0, high_hz: float = 2500.0) -> torch.Tensor:
    """Weights on MFCC coefficients 1-12 that give the mean log energy of the mel bands between
    ``low_hz`` and ``high_hz`` (where vowels, which open the mouth, are loud) minus the mean of all
    26 bands: the inverse of the MFCC's DCT and lifter, restricted to those bands."""
    def mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    centres = 700.0 * (10.0 ** (np.linspace(0.0, mel(np.array(8000.0)), 28)[1:-1] / 2595.0) - 1.0)
    k = np.arange(1, 13)
    inverse = np.sqrt(2 / 26) * np.cos(np.pi * np.outer(np.arange(26) + 0.5, k) / 26) / (1 + 11 * np.sin(np.pi * k / 22))
    band = (centres >= low_hz) & (centres <= high_hz)
    return torch.tensor(inverse[band].mean(0) - inverse.mean(0), dtype=torch.float32)


class MouthEnergyNet(torch.nn.Module):
    """SyncNet's interface (``forward_lip``, ``forward_aud``, ``config``) built by hand.

    Video embedding of a 5-frame window: per frame, the share of the mouth region that is an open
    mouth (much darker than the skin, or teeth: bright and grey), standardised over the window.
    Audio embedding of its 20 MFCC frames: per video frame, the log energy (c0) plus the tilt
    towards the voice band, standardised the same way. When a face's mouth moves with the voice
    the two shapes agree at the right offset and the distance is small; a shut mouth or silence
    gives a vector near zero, equally far from everything, so its confidence is about 0. ``gain``
    scales both, so that confidences on speech come out in the official SyncNet's range (3-6)."""

    def __init__(self, gain: float = 5.0) -> None:
        super().__init__()
        self.config = SyncNetConfig(embed_dim=5)
        self.gain = gain
        self.register_buffer("voice_band", _voice_band_weights())

    @staticmethod
    def _standardise(x: torch.Tensor, damping: float) -> torch.Tensor:
        x = x - x.mean(1, keepdim=True)
        return x / (x.std(1, keepdim=True) + damping)  # damping: a still window stays near zero

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 5, S, S) BGR 0-255
        value = x.max(1).values
        saturation = (value - x.min(1).values) / (value + 1.0)
        skin = value[:, :, FACE_ROWS, FACE_COLS].flatten(2).median(-1).values[..., None, None]
        v, s = value[:, :, MOUTH_ROWS, MOUTH_COLS], saturation[:, :, MOUTH_ROWS, MOUTH_COLS]
        opening = ((v < 0.55 * skin) | ((s < 0.1) & (v > 0.6 * skin))).float().mean((2, 3))
        return self.gain * self._standardise(opening, 0.005)

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 13, 20) MFCC
        m = x[:, 0]
        loud = m[:, 0, :] + torch.einsum("k,bkt->bt", self.voice_band, m[:, 1:, :])
        return self.gain * self._standardise(loud.reshape(x.shape[0], 5, 4).mean(-1), 1.0)


SCRIPT = (  # (face, start s, text): one face, the other, a pause for both, the first again
    (0, 0.3, "Would you pass me the blue box, please?"),
    (1, 3.1, "Maybe we should meet at noon by the bridge."),
    (0, 6.8, "Thank you very much, that was wonderful."),
)
SCRIPT_S = 10.0
VOICES = ("en-us", "en-gb-x-rp+f3")


def scripted_speeches(script=SCRIPT, duration_s: float = SCRIPT_S, lead_s: float = 0.2) -> list:  # noqa: ANN001
    """One speech track per face from ``(face, start_s, text)`` turns (times in the video; the
    generator shows speech time ``lead_s`` at its first frame)."""
    from evaluation.talking_faces import VoiceStyle, place_speech, speak_many

    spoken = speak_many([(text, VoiceStyle(VOICES[face], 165, 50, 50)) for face, _, text in script])
    parts = [[(lead_s + start, sp) for (f, start, _), sp in zip(script, spoken) if f == face] for face in (0, 1)]
    return [place_speech(p, duration_s + 2 * lead_s + 0.4) for p in parts]


def render_two_faces(seed: int, duration_s: float, speeches=None):  # noqa: ANN001, ANN201
    """A generated two-face conversation in memory: its truth, each face's 224x224 crops framed as
    SyncNet frames them, and the audio at 16 kHz. ``speeches``: one per face (default: random
    turns)."""
    from scipy.signal import resample_poly

    from evaluation.talking_faces import render_clip

    clip = render_clip(seed, duration_s=duration_s, n_faces=2, speeches=speeches)
    crops: list[list[np.ndarray]] = [[], []]
    for _, faces in clip.frames():
        for k, crop in enumerate(faces):
            crops[k].append(crop)
    audio = resample_poly(clip.audio.astype(np.float64), 16000, clip.sample_rate).astype(np.float32)
    return clip.truth, [np.stack(c) for c in crops], audio


def parse_rttm(text: str) -> list[tuple[str, float, float, str]]:
    """RTTM lines as (file, start, duration, speaker), each checked against the format."""
    rows = []
    for line in text.splitlines():
        f = line.split()
        assert len(f) == 10 and f[0] == "SPEAKER" and f[2] == "1" and f[5] == f[6] == f[8] == f[9] == "<NA>", line
        rows.append((f[1], float(f[3]), float(f[4]), f[7]))
    return rows


def check_speakers_json(doc: dict, frames: int) -> None:
    """The ``speakers`` object: tracks with one score per frame, segments inside them, and a
    timeline that covers every frame once."""
    assert set(doc) == {"settings", "frames", "tracks", "timeline"} and doc["frames"] == frames
    for t in doc["tracks"]:
        assert len(t["scores"]) == t["end_frame"] - t["start_frame"] + 1
        for s in t["segments"]:
            assert t["start_frame"] <= s["start_frame"] <= s["end_frame"] <= t["end_frame"]
    ends = [(turn["start_frame"], turn["end_frame"]) for turn in doc["timeline"]]
    assert ends[0][0] == 0 and ends[-1][1] == frames - 1 and all(b[0] == a[1] + 1 for a, b in zip(ends, ends[1:]))
