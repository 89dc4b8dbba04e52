"""Editor timelines: every export is read back with OpenTimelineIO and every clip's position
checked against its offset."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import avsync
from avsync.media.synthetic import Camera, make_cameras
from avsync.nle import build_timeline, export_timeline, snap_rate
from avsync.sync.result import SyncResult, VideoSync

otio = pytest.importorskip("opentimelineio")

FORMATS = {"otio": "otio_json", "fcpxml": "fcpx_xml", "fcp7_xml": "fcp_xml"}


def layout(result_offsets: dict[str, float], path: Path, fmt: str) -> dict[str, dict]:
    """Reads an export back: for each clip (by name) where its media's time 0 sits on the
    timeline, its track kind and its source range, in seconds."""
    timeline = otio.adapters.read_from_file(str(path), adapter_name=FORMATS[fmt])
    if isinstance(timeline, otio.schema.SerializableCollection):
        (timeline,) = timeline.find_children(descended_from_type=otio.schema.Timeline)
    found = {}
    for track in timeline.tracks:
        for clip in track.find_clips():
            placed = clip.range_in_parent()
            found[clip.name] = {
                "zero_at": placed.start_time.to_seconds() - clip.source_range.start_time.to_seconds(),
                "start": placed.start_time.to_seconds(),
                "trim": clip.source_range.start_time.to_seconds(),
                "kind": track.kind,
                "url": clip.media_reference.target_url,
                "avsync": dict(clip.metadata.get("avsync", {})),  # a plain copy: the timeline goes away
            }
    return found


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nle")
    offsets = [0.0, 1.37, -0.83, 0.61]
    cams = [Camera(), Camera(fps=30.0), Camera(), Camera(video=False)]
    paths = make_cameras(folder, offsets, duration_s=6.0, seed=8, cameras=cams, names=["ref.mp4", "late.mp4", "early.mp4", "rec.wav"])
    result = avsync.sync([str(p) for p in paths])
    return result, folder


def test_sync_places_the_files(synced):
    result, _ = synced
    assert [round(v.offset_s, 3) for v in result.videos] == [0.0, 1.37, -0.83, 0.61]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_export_reads_back_with_every_clip_within_a_frame(synced, tmp_path, fmt):
    result, _ = synced
    out = tmp_path / {"otio": "t.otio", "fcpxml": "t.fcpxml", "fcp7_xml": "t.xml"}[fmt]
    assert export_timeline(result, **{fmt: out}) == [out]
    clips = layout({}, out, fmt)
    assert sorted(clips) == ["early.mp4", "late.mp4", "rec.wav", "ref.mp4"]
    rate = 25.0  # the reference's frame rate
    for v in result.videos:
        c = clips[Path(v.path).name]
        assert abs(c["zero_at"] - v.offset_s) <= 0.5 / rate + 1e-9, (fmt, v.path, c, v.offset_s)
        # Late starters get a gap, early ones a trimmed source: nothing before the timeline's start.
        assert c["start"] >= 0 and c["trim"] >= 0
        assert (c["trim"] > 0) == (v.offset_s < -0.5 / rate)
        assert Path(c["url"].replace("file://", "")).resolve() == Path(v.path).resolve()
    assert clips["rec.wav"]["kind"] == otio.schema.TrackKind.Audio
    assert clips["ref.mp4"]["kind"] == otio.schema.TrackKind.Video
    if fmt == "otio":
        meta = clips["late.mp4"]["avsync"]
        late = result.videos[1]
        assert meta["offset_s"] == late.offset_s and meta["confidence"] == late.confidence
        assert meta["drift_ppm"] == late.drift_ppm and meta["offset_frames"] == round(late.offset_s * 25)


def test_ntsc_rate_and_frame_rounding(tmp_path):
    result = SyncResult(reference="a.mp4", method="audio", max_offset_s=20.0, videos=[
        VideoSync(path=str(tmp_path / "a.mp4"), offset_s=0.0, confidence=1.0, duration_s=60.0, has_video=True, has_audio=True),
        VideoSync(path=str(tmp_path / "b.mp4"), offset_s=12.3456, confidence=0.8, drift_ppm=-40.0, duration_s=30.0, has_video=True),
        VideoSync(path=str(tmp_path / "c.wav"), offset_s=-7.777, confidence=0.9, duration_s=90.0, has_video=False, has_audio=True),
        VideoSync(path=str(tmp_path / "d.mp4"), offset_s=None, confidence=0.05, status="no_match", duration_s=5.0, has_video=True),
    ])
    rate = snap_rate(29.97)
    assert rate == pytest.approx(30000 / 1001)
    for fmt in FORMATS:
        out = tmp_path / f"n.{fmt}"
        if fmt == "fcpxml":  # the adapter works in whole frames per second: refused, not written wrong
            with pytest.raises(ValueError, match="FCPXML export supports 24, 25, 30, 50, 60 fps"):
                export_timeline(result, otio=tmp_path / "never.otio", fcpxml=out, rate=29.97)
            assert not (tmp_path / "never.otio").exists()  # nothing written when one target cannot be
            continue
        export_timeline(result, **{fmt: out}, rate=29.97)
        clips = layout({}, out, fmt)
        assert sorted(clips) == ["a.mp4", "b.mp4", "c.wav"]  # no_match is left out
        for v in result.videos[:3]:
            assert abs(clips[Path(v.path).name]["zero_at"] - v.offset_s) <= 0.5 / rate + 1e-6, (fmt, v.path)
    timeline = build_timeline(result, rate=29.97)
    assert [dict(d) for d in timeline.metadata["avsync"]["left_out"]] == [{"path": str(tmp_path / "d.mp4"), "status": "no_match"}]
    b = next(c for c in timeline.find_clips() if c.name == "b.mp4").metadata["avsync"]
    assert b["offset_frames"] == round(12.3456 * rate) and abs(b["rounding_s"]) <= 0.5 / rate
    assert b["drift_at_end_ms"] == pytest.approx(-40e-6 * 30.0 * 1e3)


def test_export_cli(synced, tmp_path):
    result, folder = synced
    res = folder / "result.json"
    result.save(res)
    out = tmp_path / "cli.otio"
    proc = subprocess.run([sys.executable, "-m", "avsync.cli", "export", str(res), "--otio", str(out), "--fcp7-xml", str(tmp_path / "x.xml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["written"] == [str(out), str(tmp_path / "x.xml")]
    assert len(layout({}, out, "otio")) == 4
    usage = subprocess.run([sys.executable, "-m", "avsync.cli", "export", str(res)], capture_output=True, text=True)
    assert usage.returncode == 2 and "at least one of" in usage.stderr
    bad = subprocess.run([sys.executable, "-m", "avsync.cli", "export", str(tmp_path / "missing.json"), "--otio", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "no such result file" in bad.stderr


def test_nothing_synced_is_a_clear_error(tmp_path):
    result = SyncResult(reference="a.mp4", method="audio", max_offset_s=20.0, videos=[
        VideoSync(path="a.mp4", offset_s=None, status="error", error="'a.mp4': no such file")])
    with pytest.raises(ValueError, match="nothing to export"):
        export_timeline(result, otio=tmp_path / "x.otio")
