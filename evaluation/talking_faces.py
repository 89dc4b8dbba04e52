"""Synthetic talking faces with a known audio-video offset, for training and testing lip sync.

Each clip is 25 fps video of one or two drawn faces (skin-tone head, hair, eyes that blink,
eyebrows, nose, lips, teeth) in front of a random room, with head motion and changing light,
and the speech of espeak-ng (random sentences, voices, rates and pitches). The mouth follows
the speech: its opening, width and teeth come from the phonemes espeak-ng reports while it
speaks (closed for p/b/m, rounded for o/u/w, wide for i/e, teeth for f/v/s/t ...), scaled by
the loudness of the voice. The audio is then shifted by a known number of frames.

Sign convention (SyncNet's, as in avsync): a positive ``offset_frames`` means the audio comes
BEFORE the video: what the mouth shows at frame ``i`` is heard at frame ``i - offset_frames``.

Outputs per clip: ``DIR/clip_0000.mp4`` (the full frame, for a face detector),
``DIR/crops/clip_0000.mp4`` (224x224 face crops framed like the SyncNet pipeline's, same audio;
``clip_0000_face0.mp4`` ... when there are two faces), ``DIR/clip_0000.json`` (all the ground
truth: per-frame face boxes and mouth opening, speaking intervals, voices, text) and, for the
whole set, ``DIR/truth.csv``.

Command line::

    python -m evaluation.talking_faces --output-dir DIR --count 20 --random-offsets 10 --seed 1
    python -m evaluation.talking_faces --output-dir DIR --count 5 --offset-frames 3 --faces 2

From Python::

    >>> from evaluation.talking_faces import generate_clip
    >>> truth = generate_clip("clip.mp4", seed=3, offset_frames=-4, crops_dir="crops")  # doctest: +SKIP
    >>> truth.offset_frames, truth.crops                                                  # doctest: +SKIP
    (-4, [PosixPath('crops/clip.mp4')])

``render_clip`` gives the same clip in memory (frames, crops, audio) without writing files.
Speech needs espeak-ng's library (Debian/Ubuntu: ``apt-get install espeak-ng``).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

FPS = 25.0
FRAME_SIZE = (640, 360)
CROP_SIZE = 224
CROP_PAD = 0.4  # SyncNet's crop_scale: the crop spans 2.8 half-box sizes, from the box top down
PAD_VALUE = 110  # SyncNet pads frames with this grey before cropping
_DETECTOR_BOX = (0.9, 0.845, 0.035)  # width, height, centre shift down: a detector's box relative to the head's outline
CSV_COLUMNS = [
    "clip_id", "video", "crops", "offset_frames", "offset_ms", "fps", "n_frames", "duration_s",
    "n_faces", "seed", "voices", "rates_wpm", "pitches", "speaking_s", "text",
]

# ---------------------------------------------------------------------------------------------
# Speech: libespeak-ng through ctypes, so that the phonemes come with their times. It runs in a
# short-lived child process: the library keeps state from one utterance to the next (its pitch
# flutter phase, its rand()), so in one long-lived process the same text would sound a little
# different each time; a fresh process per batch makes a clip depend on its seed only.

VOICES = ["en-us", "en", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-gb-x-gbclan", "en-us-nyc", "en-gb-x-gbcwmd"]
VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3", "klatt4", "iven", "john", "max", "linda", "anika"]

# Run with `python -I -S -c`: reads a JSON list of requests on stdin; for each writes one JSON
# header line ({"sample_rate", "n_bytes", "phonemes": [[sample, symbol], ...]} or {"error"})
# followed by the int16 samples. Only the standard library, so it starts in milliseconds.
_ESPEAK_WORKER = r"""
import ctypes, ctypes.util, json, sys
class EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]
class Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", EventId)]
out = sys.stdout.buffer
def fail(msg):
    out.write((json.dumps({"error": msg}) + "\n").encode()); out.flush(); sys.exit(1)
try:
    lib = ctypes.CDLL(ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1")
except OSError:
    fail("espeak-ng's library was not found: install espeak-ng (Debian/Ubuntu: apt-get install espeak-ng)")
lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                             ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
rate = lib.espeak_Initialize(2, 0, None, 0x0001 | 0x8000)  # synchronous, phoneme events, don't exit
if rate <= 0:
    fail("espeak-ng could not start (is espeak-ng-data installed?)")
chunks, phonemes = [], []
@ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))
def on_audio(wav, n, events):
    if n > 0:
        chunks.append(ctypes.string_at(wav, 2 * n))
    i = 0
    while events[i].type != 0:
        if events[i].type == 7:
            phonemes.append([events[i].sample, events[i].id.string.decode("ascii", "replace")])
        i += 1
    return 0
lib.espeak_SetSynthCallback(on_audio)
libc = ctypes.CDLL(None)
for req in json.loads(sys.stdin.buffer.read()):
    if lib.espeak_SetVoiceByName(req["voice"].encode()) != 0:
        fail("espeak-ng has no voice '%s'" % req["voice"])
    for param, key in ((1, "rate"), (3, "pitch"), (4, "pitch_range")):
        lib.espeak_SetParameter(param, int(req[key]), 0)
    del chunks[:], phonemes[:]
    libc.srand(1)
    data = req["text"].encode("utf-8")
    lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None)
    lib.espeak_Synchronize()
    pcm = b"".join(chunks)
    out.write((json.dumps({"sample_rate": rate, "n_bytes": len(pcm), "phonemes": phonemes}) + "\n").encode())
    out.write(pcm)
out.flush()
"""


def _espeak(requests: Sequence[dict]) -> list[tuple[np.ndarray, int, list[tuple[int, str]]]]:
    """Synthesises ``requests`` ({text, voice, rate, pitch, pitch_range}) in one child process;
    returns (int16 samples, sample rate, [(sample, phoneme)]) for each."""
    try:
        proc = subprocess.run([sys.executable, "-I", "-S", "-c", _ESPEAK_WORKER], input=json.dumps(list(requests)).encode(),
                              capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError("espeak-ng took more than 120 s") from exc
    buf, pos, results = proc.stdout, 0, []
    while pos < len(buf):
        end = buf.index(b"\n", pos)
        head = json.loads(buf[pos:end])
        if "error" in head:
            raise (ValueError if "no voice" in head["error"] else RuntimeError)(head["error"])
        pos = end + 1 + head["n_bytes"]
        pcm = np.frombuffer(buf[end + 1 : pos], "<i2")
        results.append((pcm, int(head["sample_rate"]), [(int(s), str(p)) for s, p in head["phonemes"]]))
    if proc.returncode != 0 or len(results) != len(requests):
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"espeak-ng failed: {lines[-1] if lines else f'exit status {proc.returncode}'}")
    return results


@dataclass(frozen=True)
class Phoneme:
    start_s: float
    end_s: float
    symbol: str  # espeak-ng's mnemonic ("aI", "p", "_:" for a pause ...)


@dataclass
class Speech:
    """Mono speech with its phonemes (times in seconds from the first sample)."""

    samples: np.ndarray  # float32, full scale 1
    sample_rate: int
    phonemes: list[Phoneme] = field(default_factory=list)
    text: str = ""
    voice: str = ""
    rate: int = 0
    pitch: int = 0

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.sample_rate

    def speaking_intervals(self, min_pause_s: float = 0.25) -> list[tuple[float, float]]:
        """(start, end) seconds of speech; pauses shorter than ``min_pause_s`` are bridged."""
        out: list[list[float]] = []
        for p in self.phonemes:
            if _is_pause(p.symbol):
                continue
            if out and p.start_s - out[-1][1] < min_pause_s:
                out[-1][1] = max(out[-1][1], p.end_s)
            else:
                out.append([p.start_s, p.end_s])
        return [(round(a, 3), round(b, 3)) for a, b in out]


def _is_pause(symbol: str) -> bool:
    return not symbol or symbol.startswith("_")


@dataclass(frozen=True)
class VoiceStyle:
    """An espeak-ng voice ("en-us+f3"), its rate in words per minute, pitch and pitch range (0-100)."""

    voice: str
    rate: int
    pitch: int
    pitch_range: int


def speak_many(items: Sequence[tuple[str, VoiceStyle]]) -> list[Speech]:
    """espeak-ng's speech of each ``(text, voice)`` with the phoneme times it reports (one child
    process for all of them)."""
    requests = [{"text": text, "voice": v.voice, "rate": v.rate, "pitch": v.pitch, "pitch_range": v.pitch_range} for text, v in items]
    out = []
    for (text, v), (pcm, sr, events) in zip(items, _espeak(requests)):
        phonemes = []
        for k, (start, symbol) in enumerate(events):
            end = events[k + 1][0] if k + 1 < len(events) else pcm.size
            if end > start:
                phonemes.append(Phoneme(start / sr, end / sr, symbol))
        out.append(Speech(pcm.astype(np.float32) / 32768.0, sr, phonemes, text, v.voice, v.rate, v.pitch))
    return out


def speak(text: str, *, voice: str = "en-us", rate: int = 170, pitch: int = 50, pitch_range: int = 50) -> Speech:
    """espeak-ng's speech of ``text`` with the phoneme times it reports.

    >>> s = speak("Hello there.", voice="en-us+f3", rate=160)
    >>> [p.symbol for p in s.phonemes][:4]
    ['h', '@', 'l', 'oU']
    """
    return speak_many([(text, VoiceStyle(voice, rate, pitch, pitch_range))])[0]


def place_speech(parts: Sequence[tuple[float, Speech]], duration_s: float) -> Speech:
    """One track of ``duration_s`` seconds with each ``(start_s, speech)`` placed at its start
    (overlaps add up; what runs past the end is cut)."""
    if not parts:
        raise ValueError("place_speech needs at least one part")
    sr = parts[0][1].sample_rate
    out = np.zeros(int(round(duration_s * sr)), np.float32)
    phonemes: list[Phoneme] = []
    for start_s, sp in parts:
        i0 = int(round(start_s * sr))
        n = max(0, min(sp.samples.size, out.size - i0))
        out[i0 : i0 + n] += sp.samples[:n]
        t0 = i0 / sr
        phonemes += [Phoneme(t0 + p.start_s, min(duration_s, t0 + p.end_s), p.symbol) for p in sp.phonemes if t0 + p.start_s < duration_s]
    phonemes.sort(key=lambda p: p.start_s)
    first = parts[0][1]
    text = " ".join(sp.text for _, sp in parts)
    return Speech(out, sr, phonemes, text, first.voice, first.rate, first.pitch)


# Random sentences (our own word lists: varied consonants and vowels, no meaning needed).
_SUBJECTS = [
    "the old man", "my sister", "a small dog", "every pilot", "the baker", "our neighbour", "this company",
    "the young woman", "a tired farmer", "the children", "my friend Paul", "the captain", "your mother",
    "a quiet student", "the teacher", "Bob", "Maria", "the woman from Boston", "nobody", "the mayor",
]
_VERBS = [
    "bought", "painted", "found", "broke", "carried", "opened", "watched", "cooked", "borrowed", "fixed",
    "pushed", "wanted", "moved", "sold", "measured", "followed", "remembered", "hid", "checked", "shared",
]
_OBJECTS = [
    "a blue box", "the heavy table", "seven apples", "the broken window", "an umbrella", "the map of the city",
    "two pizzas", "the wooden boat", "a bottle of milk", "the purple bicycle", "a few books", "the morning paper",
    "a bowl of soup", "the white fence", "a pair of shoes", "the big piano", "some warm bread", "my phone",
]
_ENDINGS = [
    "yesterday", "before lunch", "in the garden", "at the market", "with great care", "last week",
    "on Monday morning", "after the storm", "by the river", "without a word", "near the bridge", "for fun", "",
]
_TEMPLATES = [
    "{S} {v} {o} {e}.", "{S} {v} {o}.", "Why did {s} buy {o}?", "Would you pass me {o}, please?",
    "I think {s} {v} {o} {e}.", "Look, {s} {v} {o} again!", "How much did you pay for {o}?",
    "Maybe we should meet at noon.", "Please be quiet for a moment.", "Hello, how are you today?",
    "Thank you very much, that was wonderful.", "Absolutely not!", "Good morning everybody.",
    "We counted {n} sheep {e}.", "It was {n} degrees {e}.", "Oh, wow, {o}!", "Who {v} {o}?",
]
_NUMBERS = ["two", "three", "seven", "eleven", "twenty four", "ninety nine", "a hundred", "fifty five", "sixty"]


def random_sentence(rng: np.random.Generator) -> str:
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    s = _SUBJECTS[rng.integers(len(_SUBJECTS))]
    text = template.format(
        S=s[:1].upper() + s[1:], s=s, v=_VERBS[rng.integers(len(_VERBS))], o=_OBJECTS[rng.integers(len(_OBJECTS))],
        e=_ENDINGS[rng.integers(len(_ENDINGS))], n=_NUMBERS[rng.integers(len(_NUMBERS))],
    )
    return " ".join(text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").split())


def random_voice(rng: np.random.Generator) -> VoiceStyle:
    base = VOICES[rng.integers(len(VOICES))]
    variant = VARIANTS[rng.integers(len(VARIANTS))]
    return VoiceStyle(base + (f"+{variant}" if variant else ""), int(rng.integers(125, 215)), int(rng.integers(25, 80)), int(rng.integers(20, 90)))


def _sentence_pool(rng: np.random.Generator, duration_s: float) -> list[str]:
    """Enough random sentences to fill ``duration_s`` even when spoken fast."""
    return [random_sentence(rng) for _ in range(int(duration_s / 0.8) + 2)]


def random_speech(rng: np.random.Generator, duration_s: float, voice: VoiceStyle | None = None) -> Speech:
    """Sentences with pauses between them filling ``duration_s`` (the last one may be cut)."""
    voice = voice or random_voice(rng)
    texts = _sentence_pool(rng, duration_s)
    gaps = rng.uniform(-0.25, 0.6, len(texts))  # espeak ends sentences with ~0.3 s of pause
    parts: list[tuple[float, Speech]] = []
    t = float(rng.uniform(0.0, 0.4))
    for sp, gap in zip(speak_many([(text, voice) for text in texts]), gaps):
        if t >= duration_s:
            break
        parts.append((t, sp))
        t += sp.duration_s + float(gap)
    return place_speech(parts, duration_s)


def conversation(rng: np.random.Generator, duration_s: float, n_speakers: int = 2) -> list[Speech]:
    """One track per speaker taking turns (one or two sentences each, sometimes overlapping),
    silent while the others talk."""
    voices = [random_voice(rng) for _ in range(n_speakers)]
    pools = [_sentence_pool(rng, duration_s) for _ in range(n_speakers)]
    spoken = speak_many([(text, v) for v, pool in zip(voices, pools) for text in pool])
    said = [spoken[k * len(pools[0]) : (k + 1) * len(pools[0])][::-1] for k in range(n_speakers)]
    parts: list[list[tuple[float, Speech]]] = [[] for _ in range(n_speakers)]
    t = float(rng.uniform(0.0, 0.5))
    who = int(rng.integers(n_speakers))
    while t < duration_s and said[who]:
        for _ in range(1 if rng.random() < 0.7 else 2):
            if said[who]:
                sp = said[who].pop()
                parts[who].append((t, sp))
                t += sp.duration_s - 0.2
        t += float(rng.uniform(-0.3, 0.5))
        who = (who + 1 + int(rng.integers(n_speakers - 1))) % n_speakers if n_speakers > 1 else who
    silence = Speech(np.zeros(1, np.float32), spoken[0].sample_rate)
    return [place_speech(p or [(0.0, silence)], duration_s) for p in parts]


# ---------------------------------------------------------------------------------------------
# Visemes: what the mouth does for each phoneme.

# (opening 0-1, width relative to rest, teeth showing 0-1)
_SHAPES = {
    "rest": (0.0, 1.0, 0.0),
    "closed": (0.0, 0.94, 0.0),  # p b m: lips pressed together
    "labiodental": (0.1, 1.0, 1.0),  # f v: lower lip under the upper teeth
    "round": (0.28, 0.7, 0.1),  # w u U o
    "round_open": (0.6, 0.8, 0.2),  # O 0
    "open": (0.95, 1.06, 0.3),  # a A V
    "mid": (0.55, 1.06, 0.5),  # e E @ 3
    "spread": (0.3, 1.22, 0.9),  # i I j
    "coronal": (0.22, 1.05, 0.8),  # t d n l s z S Z T D tS dZ
    "velar": (0.35, 1.0, 0.4),  # k g N h x
    "r": (0.25, 0.84, 0.4),
}
_VOWEL_CLASS = {"a": "open", "A": "open", "V": "open", "0": "round_open", "O": "round_open", "o": "round", "u": "round",
                "U": "round", "i": "spread", "I": "spread", "e": "mid", "E": "mid", "@": "mid", "3": "mid", "y": "round", "Y": "round"}


def viseme_classes(symbol: str) -> list[str]:
    """The mouth shapes of one espeak-ng phoneme: two for a diphthong ("aI": open then spread).

    >>> viseme_classes("aI"), viseme_classes("p"), viseme_classes("_:")
    (['open', 'spread'], ['closed'], ['rest'])
    """
    if _is_pause(symbol):
        return ["rest"]
    letters = "".join(c for c in symbol if c.isalpha() or c in "@0" or c == "3")
    if not letters:
        return ["rest"]
    head = letters[0]
    if head in "pbm":
        return ["closed"]
    if head in "fv":
        return ["labiodental"]
    if head == "w":
        return ["round"]
    if head in "jJ":
        return ["spread"]
    if head == "r":
        return ["r"]
    if head in _VOWEL_CLASS:
        vowels = [_VOWEL_CLASS[c] for c in letters if c in _VOWEL_CLASS]
        return vowels[:2] if len(vowels) > 1 and vowels[0] != vowels[1] else vowels[:1]
    if head in "kgNhxqG?":
        return ["velar"]
    return ["coronal"]


@dataclass
class MouthTrack:
    """Per video frame: opening (0 closed .. ~1.2 wide open), width (relative to rest), teeth (0-1)."""

    opening: np.ndarray
    width: np.ndarray
    teeth: np.ndarray


def mouth_track(speech: Speech, first_frame_s: float, n_frames: int, fps: float = FPS, articulation: float = 1.0) -> MouthTrack:
    """The mouth for frames ``0 .. n_frames-1``, frame ``i`` showing speech time
    ``first_frame_s + i / fps`` (averaged over the frame's 1/fps, as a camera exposes).

    Targets come from the phonemes, are smoothed over ~30 ms (co-articulation) and scaled by
    the speech's loudness, so a loud vowel opens the mouth more than a murmured one.
    """
    step = 0.005
    t = np.arange(0.0, max(speech.duration_s, first_frame_s + (n_frames + 1) / fps) + step, step)
    targets = np.tile(np.array(_SHAPES["rest"], np.float32), (t.size, 1))
    for p in speech.phonemes:
        shapes = viseme_classes(p.symbol)
        bounds = np.linspace(p.start_s, p.end_s, len(shapes) + 1)
        for k, shape in enumerate(shapes):
            i0, i1 = np.searchsorted(t, bounds[k]), np.searchsorted(t, bounds[k + 1])
            targets[i0:i1] = _SHAPES[shape]
    closed = np.zeros(t.size, bool)  # p/b/m close the lips whatever the loudness
    for p in speech.phonemes:
        if viseme_classes(p.symbol) == ["closed"]:
            closed[np.searchsorted(t, p.start_s) : np.searchsorted(t, p.start_s + 0.6 * (p.end_s - p.start_s))] = True
    kernel = np.exp(-0.5 * (np.arange(-12, 13) * step / 0.03) ** 2)
    kernel /= kernel.sum()
    smooth = np.stack([np.convolve(np.pad(targets[:, c], 12, mode="edge"), kernel, mode="valid") for c in range(3)], 1)

    # Loudness: RMS over 20 ms windows at the same 5 ms step, relative to the voiced level.
    idx = (t * speech.sample_rate).astype(int)
    power = np.concatenate([[0.0], np.cumsum(speech.samples.astype(np.float64) ** 2)])
    half = int(0.01 * speech.sample_rate)
    lo, hi = np.clip(idx - half, 0, speech.samples.size), np.clip(idx + half, 0, speech.samples.size)
    rms = np.sqrt((power[hi] - power[lo]) / np.maximum(hi - lo, 1))
    voiced = rms[rms > 0.1 * (rms.max() + 1e-9)]
    level = np.percentile(voiced, 90) if voiced.size else 1.0
    loudness = np.clip(0.45 + 0.75 * rms / (level + 1e-9), 0.3, 1.25)
    loudness = np.convolve(np.pad(loudness, 12, mode="edge"), kernel, mode="valid")

    opening = smooth[:, 0] * loudness * articulation
    opening[closed] = np.minimum(opening[closed], 0.02)

    # Average each frame's exposure: mean of the fine track over [t_i, t_i + 1/fps).
    edges = first_frame_s + np.arange(n_frames + 1) / fps
    def per_frame(x: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(x)])
        pos = np.interp(edges, t, np.arange(t.size))
        cum = np.interp(pos, np.arange(c.size), c)
        return (np.diff(cum) / np.maximum(np.diff(pos), 1e-9)).astype(np.float32)
    return MouthTrack(per_frame(opening), per_frame(smooth[:, 1]), per_frame(smooth[:, 2]))


# ---------------------------------------------------------------------------------------------
# Faces.

_SKIN = [(255, 224, 196), (241, 194, 160), (224, 172, 132), (198, 134, 96), (160, 102, 70), (128, 84, 58), (100, 66, 46), (234, 192, 170)]
_HAIR = [(20, 16, 14), (60, 40, 25), (110, 75, 40), (180, 140, 80), (200, 190, 170), (120, 40, 20), (40, 40, 45)]
_LIPS = [(170, 80, 80), (150, 70, 75), (190, 100, 100), (120, 60, 60), (200, 110, 110)]
_IRIS = [(60, 40, 20), (40, 80, 120), (60, 100, 60), (30, 25, 20), (90, 70, 40)]


@dataclass(frozen=True)
class FaceStyle:
    """How one person looks (colours 0-255 RGB, sizes relative to the face's half-width ``a``
    and half-height ``b``)."""

    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    lips: tuple[float, float, float]
    iris: tuple[float, float, float]
    shirt: tuple[float, float, float]
    hair_style: int  # 0 short, 1 long, 2 bald, 3 thick
    aspect: float  # a / b
    eye_y: float
    eye_dx: float
    mouth_w: float
    brow: float  # thickness
    beard: bool
    glasses: bool
    light: tuple[float, float, float]  # direction (x right, y down, z toward the camera)
    articulation: float  # how much this person opens the mouth


def random_face_style(rng: np.random.Generator) -> FaceStyle:
    def jitter(c: Sequence[float], amount: float) -> tuple[float, float, float]:
        return tuple(float(np.clip(v + rng.normal(0, amount), 0, 255)) for v in c)  # type: ignore[return-value]

    angle = rng.uniform(0, 2 * np.pi)
    side = rng.uniform(0.1, 0.7)
    light = np.array([side * np.cos(angle), side * np.sin(angle) - 0.2, 1.0])
    light /= np.linalg.norm(light)
    return FaceStyle(
        skin=jitter(_SKIN[rng.integers(len(_SKIN))], 8), hair=jitter(_HAIR[rng.integers(len(_HAIR))], 10),
        lips=jitter(_LIPS[rng.integers(len(_LIPS))], 10), iris=jitter(_IRIS[rng.integers(len(_IRIS))], 10),
        shirt=tuple(float(v) for v in rng.uniform(20, 230, 3)),  # type: ignore[arg-type]
        hair_style=int(rng.integers(4)), aspect=float(rng.uniform(0.7, 0.8)), eye_y=float(rng.uniform(-0.15, -0.07)),
        eye_dx=float(rng.uniform(0.34, 0.42)), mouth_w=float(rng.uniform(0.3, 0.4)), brow=float(rng.uniform(0.03, 0.06)),
        beard=bool(rng.random() < 0.12), glasses=bool(rng.random() < 0.08), light=tuple(float(v) for v in light),  # type: ignore[arg-type]
        articulation=float(rng.uniform(0.75, 1.15)),
    )


_SHIFT = 4  # fixed-point bits for sub-pixel, anti-aliased OpenCV drawing
_ONE = 1 << _SHIFT


def _pts(xy: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(xy) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _ellipse_pts(cx: float, cy: float, ax: float, ay: float, n: int = 48, t0: float = 0.0, t1: float = 2 * np.pi) -> np.ndarray:
    t = np.linspace(t0, t1, n)
    return np.stack([cx + ax * np.cos(t), cy + ay * np.sin(t)], 1)


class FaceSprite:
    """A face drawn once (RGBA, shaded) whose eyes and mouth are redrawn for every frame."""

    def __init__(self, style: FaceStyle, face_height: float) -> None:
        import cv2

        self.cv2 = cv2
        self.style = style
        b = face_height / 2
        a = b * style.aspect
        self.a, self.b = a, b
        w, h = int(np.ceil(2.9 * a)) + 4, int(np.ceil(2.7 * b)) + 4
        self.cx, self.cy = w / 2, h * 0.53
        rgb = np.zeros((h, w, 3), np.uint8)
        alpha = np.zeros((h, w), np.uint8)
        self._draw_head(rgb, alpha)
        self.shade, self.shine = self._shading(h, w)
        shaded = np.clip(rgb * self.shade[..., None] + self.shine[..., None], 0, 255).astype(np.uint8)
        self.base = cv2.GaussianBlur(shaded, (0, 0), max(0.6, b / 50))  # a camera's softness
        self.alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
        self.mouth_y = self.cy + 0.5 * b
        self.mouth_shade = float(self.shade[int(self.mouth_y), int(self.cx)])

    def _fill(self, img: np.ndarray, pts: np.ndarray, color: Sequence[float]) -> None:
        self.cv2.fillPoly(img, [_pts(pts)], tuple(float(c) for c in color), self.cv2.LINE_AA, _SHIFT)

    def _face_outline(self) -> np.ndarray:
        t = np.linspace(0, 2 * np.pi, 96)
        s = np.sin(t)
        narrow = 1 - 0.13 * np.clip(s, 0, None) ** 2  # the jaw narrows toward the chin
        return np.stack([self.cx + self.a * np.cos(t) * narrow, self.cy + self.b * s], 1)

    def _draw_head(self, rgb: np.ndarray, alpha: np.ndarray) -> None:
        st, a, b, cx, cy = self.style, self.a, self.b, self.cx, self.cy
        skin = np.array(st.skin)
        hair = np.array(st.hair)
        if st.hair_style == 1:  # long hair falls behind the head
            back = np.concatenate([_ellipse_pts(cx, cy - 0.1 * b, 1.22 * a, 1.15 * b, 48, np.pi, 2 * np.pi),
                                   [[cx + 1.22 * a, cy + 1.0 * b], [cx - 1.22 * a, cy + 1.0 * b]]])
            for img, col in ((rgb, hair * 0.8), (alpha, (255,))):
                self._fill(img, back, col)
        for side in (-1, 1):  # ears
            ear = _ellipse_pts(cx + side * 0.97 * a, cy + 0.02 * b, 0.14 * a, 0.22 * b)
            for img, col in ((rgb, skin * 0.9), (alpha, (255,))):
                self._fill(img, ear, col)
        outline = self._face_outline()
        for img, col in ((rgb, skin), (alpha, (255,))):
            self._fill(img, outline, col)
        if st.beard:
            t = np.linspace(0.05 * np.pi, 0.95 * np.pi, 40)
            jaw = np.stack([cx + a * np.cos(t) * (1 - 0.13 * np.sin(t) ** 2), cy + b * np.sin(t)], 1)
            inner = _ellipse_pts(cx, cy + 0.5 * b, 0.55 * a, 0.28 * b, 30, np.pi, 0)
            self._fill(rgb, np.concatenate([jaw, inner]), skin * 0.45 + hair * 0.55)
        if st.hair_style != 2:
            top = 1.08 if st.hair_style == 3 else 1.04
            t = np.linspace(np.pi, 2 * np.pi, 40)
            cap = np.stack([cx + top * a * np.cos(t), cy - 0.05 * b + top * 1.02 * b * np.sin(t)], 1)
            u = np.linspace(1, -1, 30)
            line_y = cy - b * (0.5 - 0.12 * (1 - u**2)) + 0.04 * b * np.sin(u * 9)
            hairline = np.stack([cx + u * top * a, line_y], 1)
            for img, col in ((rgb, hair), (alpha, (255,))):
                self._fill(img, np.concatenate([cap, hairline]), col)
        # Eyebrows, eyes (open; blinks are drawn per frame), nose.
        for side in (-1, 1):
            ex, ey = cx + side * st.eye_dx * a, cy + st.eye_y * b
            # A brow: an arch, thickest at the inner end, tapering outward.
            u = np.linspace(0, 1, 16)  # 0 inner .. 1 outer
            bx = ex - side * 0.2 * a + side * 0.42 * a * u
            by = ey - 0.17 * b - 0.06 * b * np.sin(np.pi * (0.25 + 0.75 * u))
            thick = st.brow * b * (1.6 - 1.1 * u)
            brow = np.concatenate([np.stack([bx, by - thick / 2], 1), np.stack([bx, by + thick / 2], 1)[::-1]])
            self._fill(rgb, brow, np.minimum(hair, skin) * 0.55)
            # An almond: upper lid arched, lower flatter; sclera a little grey, a large dark iris.
            t = np.linspace(0, np.pi, 16)
            upper = np.stack([ex - 0.17 * a * np.cos(t), ey - 0.075 * b * np.sin(t)], 1)
            lower = np.stack([ex + 0.17 * a * np.cos(t), ey + 0.045 * b * np.sin(t)], 1)
            self._fill(rgb, np.concatenate([upper, lower]), (215, 210, 205))
            self.cv2.circle(rgb, tuple(int(v * _ONE) for v in (ex, ey - 0.01 * b)), int(0.058 * b * _ONE), tuple(np.array(st.iris) * 0.8), -1, self.cv2.LINE_AA, _SHIFT)
            self.cv2.circle(rgb, tuple(int(v * _ONE) for v in (ex, ey - 0.01 * b)), int(0.026 * b * _ONE), (10, 10, 10), -1, self.cv2.LINE_AA, _SHIFT)
            self.cv2.polylines(rgb, [_pts(upper)], False, (35, 25, 25), max(1, int(0.025 * b)), self.cv2.LINE_AA, _SHIFT)
            crease = np.stack([ex - 0.16 * a * np.cos(t), ey - 0.11 * b * np.sin(t)], 1)
            self.cv2.polylines(rgb, [_pts(crease)], False, tuple(skin * 0.6), max(1, int(0.012 * b)), self.cv2.LINE_AA, _SHIFT)
            if st.glasses:
                self.cv2.ellipse(rgb, (int(ex * _ONE), int((ey + 0.02 * b) * _ONE)), (int(0.3 * a * _ONE), int(0.15 * b * _ONE)), 0, 0, 360,
                                 (40, 35, 35), max(1, int(0.012 * b)), self.cv2.LINE_AA, _SHIFT)
        if st.glasses:
            self.cv2.line(rgb, (int((cx - 0.1 * a) * _ONE), int((cy + st.eye_y * b) * _ONE)),
                          (int((cx + 0.1 * a) * _ONE), int((cy + st.eye_y * b) * _ONE)), (40, 35, 35), max(1, int(0.012 * b)), self.cv2.LINE_AA, _SHIFT)
        # The nose: the side away from the light in shadow, a rounded tip with the nostrils below.
        side = 1 if st.light[0] < 0 else -1
        shadow = np.array([[cx + side * 0.05 * a, cy - 0.12 * b], [cx + side * 0.11 * a, cy + 0.2 * b], [cx + side * 0.16 * a, cy + 0.27 * b],
                           [cx + side * 0.04 * a, cy + 0.3 * b], [cx + side * 0.06 * a, cy + 0.18 * b], [cx + side * 0.02 * a, cy - 0.1 * b]])
        self._fill(rgb, shadow, skin * 0.72)
        self._fill(rgb, _ellipse_pts(cx, cy + 0.24 * b, 0.1 * a, 0.05 * b), skin * 1.08)
        for side in (-1, 1):
            self._fill(rgb, _ellipse_pts(cx + side * 0.08 * a, cy + 0.28 * b, 0.055 * a, 0.03 * b), skin * 0.3)

    def _shading(self, h: int, w: int) -> np.ndarray:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        nx = (xx - self.cx) / (1.15 * self.a)
        ny = (yy - self.cy) / (1.15 * self.b)
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.02, 1))
        st = self.style
        lx, ly, lz = st.light
        lambert = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
        shade = 0.55 + 0.55 * lambert

        def blob(x: float, y: float, sx: float, sy: float) -> np.ndarray:
            return np.exp(-0.5 * (((xx - self.cx) / self.a - x) / sx) ** 2 - 0.5 * (((yy - self.cy) / self.b - y) / sy) ** 2)

        # Relief a face detector expects: eye sockets, nose bridge and its shadow, cheeks, chin.
        for side in (-1, 1):
            shade -= 0.32 * blob(side * st.eye_dx, st.eye_y, 0.22, 0.12)
            shade += 0.08 * blob(side * 0.45, 0.25, 0.15, 0.1)
        shade += 0.12 * blob(0.0, 0.05, 0.05, 0.15)
        shade -= 0.28 * blob(0.1 if lx < 0 else -0.1, 0.12, 0.06, 0.14)
        shade -= 0.3 * blob(0.0, 0.34, 0.14, 0.05)
        shade -= 0.15 * blob(0.0, 0.72, 0.18, 0.05)
        # Skin shines where the light reflects toward the camera (forehead, nose, cheekbones).
        hx, hy, hz = lx, ly, lz + 1.0
        norm = math.sqrt(hx * hx + hy * hy + hz * hz)
        spec = np.clip((nx * hx + ny * hy + nz * hz) / norm, 0, 1) ** 20
        shine = 45.0 * spec * (1 + 1.5 * blob(0.0, 0.05, 0.06, 0.2))
        return shade.astype(np.float32), shine.astype(np.float32)

    def draw(self, opening: float, width: float, teeth: float, blink: float) -> np.ndarray:
        """The RGBA sprite with this mouth and eyelids (``blink`` 0 open .. 1 shut)."""
        img = self.base.copy()
        self._draw_mouth(img, opening, width, teeth)
        if blink > 0.05:
            st = self.style
            for side in (-1, 1):
                ex, ey = self.cx + side * st.eye_dx * self.a, self.cy + st.eye_y * self.b
                shade = float(self.shade[int(ey), int(ex)])
                lid = np.concatenate([_ellipse_pts(ex, ey, 0.175 * self.a, 0.09 * self.b, 20, np.pi, 2 * np.pi),
                                      _ellipse_pts(ex, ey, 0.175 * self.a, 0.09 * self.b * (2 * blink - 1), 20, 0, np.pi)[::-1]])
                self._fill(img, lid, np.array(st.skin) * 0.92 * shade)
                lashes = _ellipse_pts(ex, ey, 0.17 * self.a, 0.09 * self.b * (2 * blink - 1), 16, 0.15, np.pi - 0.15)
                self.cv2.polylines(img, [_pts(lashes)], False, (30, 25, 25), max(1, int(0.015 * self.b)), self.cv2.LINE_AA, _SHIFT)
        return np.dstack([img, self.alpha])

    def _draw_mouth(self, img: np.ndarray, opening: float, width: float, teeth: float) -> None:
        st, b = self.style, self.b
        shade = self.mouth_shade
        cx, my = self.cx, self.mouth_y
        half_w = st.mouth_w * self.a * float(np.clip(width, 0.5, 1.5))
        gap = float(np.clip(opening, 0, 1.3)) * 0.3 * b  # distance between the lips
        roundness = float(np.clip((1.0 - width) / 0.3, 0, 1))  # rounded lips: a more circular opening
        u = np.linspace(-1, 1, 25)
        bulge = (1 - u**2) ** (0.5 + 0.3 * (1 - roundness))
        upper_in = my - 0.38 * gap * bulge
        lower_in = my + 0.62 * gap * bulge
        bow = 1 - 0.35 * np.exp(-(u / 0.18) ** 2)  # cupid's bow dip in the upper lip
        upper_out = upper_in - 0.075 * b * np.sqrt(1 - u**2) * bow - 0.004 * b
        lower_out = lower_in + 0.095 * b * np.sqrt(1 - u**2) + 0.004 * b
        x = cx + u * half_w
        lips = np.array(st.lips) * shade
        self._fill(img, np.concatenate([np.stack([x, upper_out], 1), np.stack([x, lower_out], 1)[::-1]]), lips)
        if gap > 0.012 * b:
            inner_x = cx + u * half_w * 0.92
            mouth = np.concatenate([np.stack([inner_x, upper_in], 1), np.stack([inner_x, lower_in], 1)[::-1]])
            self._fill(img, mouth, np.array((45, 18, 22)) * shade)
            if teeth > 0.05:
                depth = np.minimum(gap, 0.09 * b) * float(np.clip(teeth, 0, 1))
                top = np.stack([inner_x, upper_in], 1)
                edge = np.stack([inner_x, np.minimum(upper_in + depth * bulge, lower_in)], 1)
                self._fill(img, np.concatenate([top, edge[::-1]]), np.array((238, 236, 228)) * shade)
            if gap > 0.1 * b:
                self._fill(img, _ellipse_pts(cx, my + 0.5 * gap, 0.45 * half_w, 0.12 * gap, 20), np.array((170, 70, 80)) * shade)
        else:
            line = np.stack([x, my + 0.0 * u], 1)
            self.cv2.polylines(img, [_pts(line)], False, tuple(lips * 0.55), max(1, int(0.012 * b)), self.cv2.LINE_AA, _SHIFT)


# ---------------------------------------------------------------------------------------------
# Scene: background, motion, light.


def _smooth_walk(rng: np.random.Generator, t: np.ndarray, amplitude: float, max_hz: float = 0.6) -> np.ndarray:
    """A smooth random trajectory: a few sinusoids of random frequency and phase."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += np.sin(2 * np.pi * rng.uniform(0.05, max_hz) * t + rng.uniform(0, 2 * np.pi)) * rng.uniform(0.3, 1.0)
    return amplitude * out / 2.0


def _background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    base = rng.uniform(40, 210, 3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = rng.uniform(-0.5, 0.5, 2)
    img = base[None, None, :] * (1 + g[0] * (xx / w - 0.5) + g[1] * (yy / h - 0.5))[..., None]
    blobs = cv2.resize(rng.uniform(-40, 40, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = img + blobs
    for _ in range(int(rng.integers(2, 7))):  # furniture, frames, windows
        x0, y0 = rng.uniform(-0.1, 0.9) * w, rng.uniform(-0.1, 0.8) * h
        x1, y1 = x0 + rng.uniform(0.05, 0.4) * w, y0 + rng.uniform(0.05, 0.5) * h
        color = rng.uniform(20, 240, 3)
        cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), tuple(float(c) for c in color), -1)
        if rng.random() < 0.5:
            cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), tuple(float(c) * 0.5 for c in color), int(rng.integers(1, 5)))
    img += rng.normal(0, 4, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def crop_boxes(face_boxes: np.ndarray, smooth_frames: int = 5) -> np.ndarray:
    """SyncNet-style crop squares ``(x0, y0, side)`` for face boxes ``(x, y, w, h)``: half-size
    ``bs = max(w, h) / 2`` and centre smoothed over ``smooth_frames``; the crop spans
    ``cx ± (1 + pad)·bs`` across and ``cy - bs .. cy + (1 + 2·pad)·bs`` down (pad = 0.4)."""
    boxes = np.asarray(face_boxes, np.float64)
    cx = boxes[:, 0] + boxes[:, 2] / 2
    cy = boxes[:, 1] + boxes[:, 3] / 2
    bs = np.maximum(boxes[:, 2], boxes[:, 3]) / 2
    if smooth_frames > 1 and len(boxes) > 1:
        k = np.ones(smooth_frames) / smooth_frames
        pad = smooth_frames // 2
        cx, cy, bs = (np.convolve(np.pad(v, pad, mode="edge"), k, mode="valid")[: len(v)] for v in (cx, cy, bs))
    side = 2 * (1 + CROP_PAD) * bs
    return np.stack([cx - (1 + CROP_PAD) * bs, cy - bs, side], 1)


def crop_face(frame: np.ndarray, box: Sequence[float], size: int = CROP_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``frame`` for crop square ``box = (x0, y0, side)``;
    outside the frame is SyncNet's padding grey."""
    import cv2

    x0, y0, side = (float(v) for v in box)
    s = size / side
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float32)
    return cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)


# ---------------------------------------------------------------------------------------------
# Clips.


@dataclass
class FaceTruth:
    """Ground truth of one face in a clip (times in video seconds)."""

    voice: str
    rate: int
    pitch: int
    text: str
    speaking: list[tuple[float, float]]  # when this face's mouth speaks
    boxes: np.ndarray  # (n_frames, 4) x, y, w, h of the face as a detector frames it (brows to chin)
    mouth_opening: np.ndarray  # (n_frames,) 0 closed .. ~1.2 wide open
    mouth_xy: np.ndarray  # (n_frames, 2) centre of the mouth in the frame


@dataclass
class ClipTruth:
    clip_id: str
    seed: int
    offset_frames: int  # positive: the audio comes before the video
    fps: float
    n_frames: int
    size: tuple[int, int]
    faces: list[FaceTruth]
    video: Path | None = None
    crops: list[Path] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def to_json(self) -> dict:
        d = asdict(self)
        d["video"] = str(self.video) if self.video else None
        d["crops"] = [str(p) for p in self.crops]
        for f in d["faces"]:
            f["boxes"] = np.round(f["boxes"], 2).tolist()
            f["mouth_opening"] = np.round(f["mouth_opening"], 4).tolist()
            f["mouth_xy"] = np.round(f["mouth_xy"], 2).tolist()
            f["speaking"] = [list(iv) for iv in f["speaking"]]
        return d

    @classmethod
    def from_json(cls, d: dict) -> ClipTruth:
        faces = [FaceTruth(**{**f, "boxes": np.array(f["boxes"], np.float64), "mouth_opening": np.array(f["mouth_opening"], np.float32),
                              "mouth_xy": np.array(f["mouth_xy"], np.float64),
                              "speaking": [tuple(iv) for iv in f["speaking"]]}) for f in d["faces"]]
        return cls(**{**d, "faces": faces, "size": tuple(d["size"]), "video": Path(d["video"]) if d["video"] else None,
                      "crops": [Path(p) for p in d["crops"]]})

    def csv_row(self, root: Path | None = None) -> dict:
        def rel(p: Path | None) -> str:
            if p is None:
                return ""
            return os.path.relpath(p, root) if root else str(p)

        return {
            "clip_id": self.clip_id, "video": rel(self.video), "crops": ";".join(rel(p) for p in self.crops),
            "offset_frames": self.offset_frames, "offset_ms": round(1000 * self.offset_frames / self.fps, 3), "fps": self.fps,
            "n_frames": self.n_frames, "duration_s": round(self.duration_s, 3), "n_faces": len(self.faces), "seed": self.seed,
            "voices": "|".join(f.voice for f in self.faces), "rates_wpm": "|".join(str(f.rate) for f in self.faces),
            "pitches": "|".join(str(f.pitch) for f in self.faces),
            "speaking_s": "|".join(";".join(f"{a:.2f}-{b:.2f}" for a, b in f.speaking) for f in self.faces),
            "text": " | ".join(f.text for f in self.faces),
        }


@dataclass
class TalkingClip:
    """A planned clip: iterate ``frames()`` to render it; ``audio`` is already shifted."""

    truth: ClipTruth
    audio: np.ndarray  # float32 mono, ``sample_rate``, exactly the video's duration
    sample_rate: int
    crop_size: int
    _render: object = None

    def frames(self) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        """Yields ``(frame, [crop per face])`` for every frame: RGB uint8, full size and 224x224."""
        return self._render()  # type: ignore[misc]


def render_clip(
    seed: int = 0,
    *,
    duration_s: float = 4.0,
    offset_frames: int = 0,
    n_faces: int = 1,
    fps: float = FPS,
    size: tuple[int, int] = FRAME_SIZE,
    crop_size: int = CROP_SIZE,
    clip_id: str = "clip",
    speeches: Sequence[Speech] | None = None,
) -> TalkingClip:
    """Plans a clip (speech, faces, motion, light) and returns it ready to render.

    ``speeches`` (one per face, each at least ``duration_s`` + 2·|offset| frames + 0.4 s long)
    replaces the generated speech; by default one face talks alone, or ``n_faces`` take turns.
    """
    import cv2

    if n_faces not in (1, 2):
        raise ValueError("n_faces must be 1 or 2")
    if duration_s <= 0.4:
        raise ValueError("duration_s must be more than 0.4 s")
    rng = np.random.default_rng(seed)
    n_frames = int(round(duration_s * fps))
    margin = abs(int(offset_frames)) + 5  # frames of speech before the first shown frame
    speech_s = (n_frames + 2 * margin) / fps
    if speeches is None:
        speeches = [random_speech(rng, speech_s)] if n_faces == 1 else conversation(rng, speech_s, n_faces)
    if len(speeches) != n_faces:
        raise ValueError("one speech per face")
    sr = speeches[0].sample_rate

    # Audio: what the mouths say at frame i is heard at frame i - offset_frames.
    mix = np.zeros(int(round(speech_s * sr)) + 1, np.float32)
    for sp in speeches:
        n = min(mix.size, sp.samples.size)
        mix[:n] += sp.samples[:n]
    start = int(round((margin + offset_frames) / fps * sr))
    n_audio = int(round(n_frames / fps * sr))
    audio = mix[start : start + n_audio]
    audio = np.pad(audio, (0, n_audio - audio.size))
    noise_db = rng.uniform(-60, -35)
    audio = audio + rng.normal(0, 10 ** (noise_db / 20), audio.size).astype(np.float32)
    audio *= 0.7 / max(1e-3, float(np.abs(audio).max()))

    w, h = size
    styles = [random_face_style(rng) for _ in range(n_faces)]
    t = np.arange(n_frames) / fps
    heights = rng.uniform(0.38, 0.58, n_faces) * h if n_faces == 1 else rng.uniform(0.34, 0.46, n_faces) * h
    faces = []
    for k in range(n_faces):
        base_x = w * (0.5 + rng.uniform(-0.15, 0.15) if n_faces == 1 else (0.28 + 0.44 * k) + rng.uniform(-0.04, 0.04))
        faces.append(_plan_face(rng, styles[k], heights[k], (base_x, h * rng.uniform(0.4, 0.55)), size, speeches[k], margin, n_frames, fps))

    background = _background(rng, size)
    gain = rng.uniform(0.75, 1.15) * (1 + _smooth_walk(rng, t, rng.uniform(0.0, 0.12), 0.4))
    noise_sigma = rng.uniform(0.5, 3.0)
    noise_rng = np.random.default_rng(seed + 1)
    noise_bank = [np.abs(noise_rng.normal(0, noise_sigma, (h, w, 1))).astype(np.uint8).repeat(3, 2) for _ in range(6)]
    truth = ClipTruth(clip_id, seed, int(offset_frames), fps, n_frames, (w, h), [f.truth for f in faces])
    crops_per_face = [crop_boxes(f.truth.boxes) for f in faces]

    def render() -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
        for i in range(n_frames):
            frame = background.copy()
            for face in faces:
                sprite, motion, mouth, blink = face.sprite, face.motion, face.mouth, face.blink
                _draw_body(frame, sprite, motion["x"][i], motion["y"][i], motion["scale"][i])
                rgba = sprite.draw(mouth.opening[i], mouth.width[i], mouth.teeth[i], blink[i])
                _paste(frame, rgba, (sprite.cx, sprite.cy), (motion["x"][i], motion["y"][i]), motion["roll"][i], motion["scale"][i])
            frame = cv2.convertScaleAbs(frame, alpha=float(gain[i]))
            cv2.add(frame, noise_bank[i % 6], dst=frame)
            cv2.subtract(frame, noise_bank[(i + 3) % 6], dst=frame)
            yield frame, [crop_face(frame, boxes[i], crop_size) for boxes in crops_per_face]

    return TalkingClip(truth, audio.astype(np.float32), sr, crop_size, render)


@dataclass
class _FacePlan:
    sprite: FaceSprite
    motion: dict[str, np.ndarray]  # per frame: x, y (head centre), roll (degrees), scale
    mouth: MouthTrack
    blink: np.ndarray
    truth: FaceTruth


def _plan_face(rng: np.random.Generator, style: FaceStyle, height: float, base_xy: tuple[float, float], frame_size: tuple[int, int],
               speech: Speech, margin: int, n_frames: int, fps: float) -> _FacePlan:
    """Motion, blinks, mouth and ground truth of one face; frame 0 shows speech time ``margin / fps``."""
    t = np.arange(n_frames) / fps
    duration_s = n_frames / fps
    w, h = frame_size
    motion = {
        "x": base_xy[0] + _smooth_walk(rng, t, rng.uniform(0.01, 0.05) * w),
        "y": base_xy[1] + _smooth_walk(rng, t, rng.uniform(0.01, 0.04) * h),
        "roll": _smooth_walk(rng, t, rng.uniform(1.0, 7.0)),
        "scale": 1 + _smooth_walk(rng, t, rng.uniform(0.0, 0.06)),
    }
    blink = np.zeros(n_frames, np.float32)
    for start in rng.uniform(0, duration_s, rng.poisson(0.3 * duration_s + 0.5)):
        i0 = int(start * fps)
        blink[i0 : i0 + 4] = [1.0, 1.0, 0.6, 0.2][: len(blink[i0 : i0 + 4])]
    sprite = FaceSprite(style, height)
    mouth = mouth_track(speech, margin / fps, n_frames, fps, style.articulation)
    lead = margin / fps
    speaking = [(round(max(0.0, a - lead), 3), round(min(duration_s, b - lead), 3))
                for a, b in speech.speaking_intervals() if b > lead and a < lead + duration_s]
    ang = np.deg2rad(motion["roll"])
    hw = motion["scale"] * np.sqrt((sprite.a * np.cos(ang)) ** 2 + (sprite.b * np.sin(ang)) ** 2)
    hh = motion["scale"] * np.sqrt((sprite.a * np.sin(ang)) ** 2 + (sprite.b * np.cos(ang)) ** 2)
    # The box a face detector draws (measured on CenterFace): a little inside the head's
    # outline, from the brows to the chin.
    bw, bh = 2 * hw * _DETECTOR_BOX[0], 2 * hh * _DETECTOR_BOX[1]
    boxes = np.stack([motion["x"] - bw / 2, motion["y"] + _DETECTOR_BOX[2] * 2 * hh - bh / 2, bw, bh], 1)
    below = (sprite.mouth_y - sprite.cy) * motion["scale"]  # the mouth below the head's centre, turned with the head
    mouth_xy = np.stack([motion["x"] + np.sin(ang) * below, motion["y"] + np.cos(ang) * below], 1)
    truth = FaceTruth(speech.voice, speech.rate, speech.pitch, speech.text, speaking, boxes, mouth.opening, mouth_xy)
    return _FacePlan(sprite, motion, mouth, blink, truth)


def _draw_body(frame: np.ndarray, sprite: FaceSprite, x: float, y: float, scale: float) -> None:
    import cv2

    a, b = sprite.a * scale, sprite.b * scale
    st = sprite.style
    neck_top, neck_bottom = y + 0.6 * b, y + 1.35 * b
    cv2.rectangle(frame, (int(x - 0.45 * a), int(neck_top)), (int(x + 0.45 * a), int(neck_bottom)), tuple(c * 0.55 for c in st.skin), -1)
    cv2.ellipse(frame, (int(x), int(y + 2.3 * b)), (int(2.0 * a), int(1.1 * b)), 0, 180, 360, st.shirt, -1, cv2.LINE_AA)


def _paste(frame: np.ndarray, rgba: np.ndarray, anchor: tuple[float, float], at: tuple[float, float], roll_deg: float, scale: float) -> None:
    """Alpha-blends the sprite onto ``frame``: rotated by ``roll_deg`` and scaled about ``anchor``,
    which lands at ``at``. Only the region the sprite covers is touched."""
    import cv2

    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D(anchor, float(roll_deg), float(scale))
    m[:, 2] += (at[0] - anchor[0], at[1] - anchor[1])
    sh, sw = rgba.shape[:2]
    corners = np.array([[0, 0, 1], [sw, 0, 1], [0, sh, 1], [sw, sh, 1]], np.float64) @ m.T
    x0, y0 = np.floor(corners.min(0)).astype(int)
    x1, y1 = np.ceil(corners.max(0)).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    m[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(rgba, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    roi = frame[y0:y1, x0:x1]
    alpha = warped[..., 3:4].astype(np.float32) * (1 / 255)
    roi[:] = (roi + (warped[..., :3] - roi.astype(np.float32)) * alpha).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Writing.


class _Encoder:
    """ffmpeg reading raw RGB frames on stdin (and a WAV file) and writing H.264 + AAC."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, wav: Path) -> None:
        from avsync.media.ffmpeg import ffmpeg_binary

        self.path = path
        self.log = tempfile.TemporaryFile()
        cmd = [
            ffmpeg_binary(), "-hide_banner", "-nostdin", "-v", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", f"{fps:.6f}", "-i", "-",
            "-i", str(wav), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "22", "-pix_fmt", "yuv420p", "-g", "50",
            "-c:a", "aac", "-b:a", "96k", "-ar", "16000", "-ac", "1", str(path),
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.log)

    def write(self, frame: np.ndarray) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(np.ascontiguousarray(frame).tobytes())

    def close(self) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        code = self.proc.wait()
        self.log.seek(0)
        lines = self.log.read().decode("utf-8", "replace").strip().splitlines()
        self.log.close()
        if code != 0:
            raise RuntimeError(f"ffmpeg could not write '{self.path}': {lines[-1] if lines else f'exit status {code}'}")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self.log.close()


def write_clip(clip: TalkingClip, video: str | os.PathLike[str] | None, crops_dir: str | os.PathLike[str] | None = None) -> ClipTruth:
    """Renders ``clip`` to ``video`` (full frames) and, with ``crops_dir``, one 224x224 crop video
    per face (``crops_dir/STEM.mp4``, or ``STEM_face0.mp4`` ... for several faces). Files appear
    complete or not at all."""
    from avsync.media.ffmpeg import atomic_output
    from avsync.media.synthetic import write_wav

    truth = clip.truth
    if video is None and crops_dir is None:
        raise ValueError("nothing to write: give a video path or a crops folder")
    stem = Path(video).stem if video is not None else truth.clip_id
    n_faces = len(truth.faces)
    crop_paths = []
    if crops_dir is not None:
        crop_paths = [Path(crops_dir) / (f"{stem}.mp4" if n_faces == 1 else f"{stem}_face{k}.mp4") for k in range(n_faces)]
    with tempfile.TemporaryDirectory(prefix="avsync-faces-") as tmp, contextlib.ExitStack() as stack:
        wav = write_wav(Path(tmp) / "audio.wav", clip.audio, clip.sample_rate)
        full = _Encoder(stack.enter_context(atomic_output(video)), truth.size, truth.fps, wav) if video is not None else None
        crops = [_Encoder(stack.enter_context(atomic_output(p)), (clip.crop_size,) * 2, truth.fps, wav) for p in crop_paths]
        encoders = ([full] if full else []) + crops
        try:
            for frame, face_crops in clip.frames():
                if full is not None:
                    full.write(frame)
                for enc, crop in zip(crops, face_crops):
                    enc.write(crop)
            for enc in encoders:
                enc.close()
        except BaseException:
            for enc in encoders:
                enc.kill()
            raise
    truth.video = Path(video) if video is not None else None
    truth.crops = crop_paths
    return truth


def generate_clip(
    video: str | os.PathLike[str] | None,
    *,
    seed: int = 0,
    duration_s: float = 4.0,
    offset_frames: int = 0,
    n_faces: int = 1,
    crops_dir: str | os.PathLike[str] | None = None,
    size: tuple[int, int] = FRAME_SIZE,
    fps: float = FPS,
    clip_id: str | None = None,
) -> ClipTruth:
    """Generates and writes one clip (see the module docstring); returns its ground truth."""
    clip = render_clip(seed, duration_s=duration_s, offset_frames=offset_frames, n_faces=n_faces, size=size, fps=fps,
                       clip_id=clip_id or (Path(video).stem if video is not None else f"clip{seed}"))
    return write_clip(clip, video, crops_dir)


def clip_seed(seed: int, index: int) -> int:
    """The seed of clip ``index`` in a set generated with ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


def generate_set(
    output_dir: str | os.PathLike[str],
    count: int,
    *,
    offset_frames: int | None = 0,
    random_offsets: int | None = None,
    seed: int = 0,
    duration_s: float = 4.0,
    n_faces: int = 1,
    size: tuple[int, int] = FRAME_SIZE,
    crops: bool = True,
    full: bool = True,
    progress: bool = True,
) -> list[ClipTruth]:
    """``count`` clips in ``output_dir`` with ``truth.csv``; offsets are ``offset_frames`` or, with
    ``random_offsets=M``, uniform integers in [-M, M]. Clips already there (their JSON written)
    are kept, so an interrupted run resumes."""
    from avsync.media.ffmpeg import write_text_atomic
    from avsync.progress import progress_bar

    if count < 1:
        raise ValueError("count must be at least 1")
    if not (crops or full):
        raise ValueError("nothing to write: neither full frames nor crops")
    if random_offsets is not None and random_offsets < 0:
        raise ValueError("random_offsets must be >= 0")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    truths = []
    with progress_bar(count, enabled=progress, desc="talking faces", unit="clip") as bar:
        for i in range(count):
            s = clip_seed(seed, i)
            clip_id = f"clip_{i:04d}"
            meta = out / f"{clip_id}.json"
            if meta.is_file():
                truths.append(ClipTruth.from_json(json.loads(meta.read_text(encoding="utf-8"))))
                bar.update(1)
                continue
            k = int(np.random.default_rng(s).integers(-random_offsets, random_offsets + 1)) if random_offsets is not None else int(offset_frames or 0)
            truth = generate_clip(out / f"{clip_id}.mp4" if full else None, seed=s, duration_s=duration_s, offset_frames=k, n_faces=n_faces,
                                  crops_dir=out / "crops" if crops else None, size=size, clip_id=clip_id)
            write_text_atomic(meta, json.dumps(truth.to_json()))
            truths.append(truth)
            bar.update(1)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for tr in truths:
        writer.writerow(tr.csv_row(out))
    write_text_atomic(out / "truth.csv", buf.getvalue())
    return truths


def _parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': expected WIDTHxHEIGHT, e.g. 640x360") from None
    if w < 64 or h < 64 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"'{text}': width and height must be even and at least 64")
    return w, h


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.talking_faces", description=__doc__.split("\n\n")[0])
    p.add_argument("--output-dir", "--output_dir", required=True, type=Path)
    p.add_argument("--count", type=int, required=True, help="number of clips")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--offset-frames", "--offset_frames", type=int, default=0,
                   help="audio shift in frames for every clip (positive: audio before video)")
    g.add_argument("--random-offsets", "--random_offsets", type=int, metavar="M", help="a random shift in [-M, M] per clip")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duration", type=float, default=4.0, help="seconds per clip (default 4)")
    p.add_argument("--faces", type=int, choices=(1, 2), default=1, help="faces per clip; two take turns speaking")
    p.add_argument("--size", type=_parse_size, default=FRAME_SIZE, help="full frame size (default 640x360)")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--no-crops", "--no_crops", action="store_true", help="skip the 224x224 face crop videos")
    output.add_argument("--crops-only", "--crops_only", action="store_true", help="only the 224x224 face crop videos (training sets)")
    args = p.parse_args(argv)
    if args.count < 1:
        p.error("--count must be at least 1")
    if args.random_offsets is not None and args.random_offsets < 0:
        p.error("--random-offsets must be >= 0")
    if args.duration <= 0.4:
        p.error("--duration must be more than 0.4 s")
    try:
        truths = generate_set(args.output_dir, args.count, offset_frames=args.offset_frames, random_offsets=args.random_offsets,
                              seed=args.seed, duration_s=args.duration, n_faces=args.faces, size=args.size, crops=not args.no_crops, full=not args.crops_only)
    except KeyboardInterrupt:
        print("talking_faces: interrupted (run again to resume)", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"talking_faces: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    print(f"{len(truths)} clips in {args.output_dir}; ground truth in {args.output_dir / 'truth.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
