"""Quality filtering, batches and the engine under them: thresholds, sorting, resuming, crashes,
Ctrl-C; on generated clips with known lip-sync offsets (local process pool)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")

from avsync.cli import main  # noqa: E402
from avsync.curate.batch import LipSyncSettings, interrupts_deferred  # noqa: E402
from avsync.curate.executors import WORKER_DIED, run_tasks  # noqa: E402
from avsync.curate.filtering import Thresholds, filter_videos  # noqa: E402
from avsync.curate.journal import Journal  # noqa: E402
from tests.curate_helpers import DATASET, VSHIFT, CrashingSetup, make_dataset, save_small_weights, tree_digest  # noqa: E402
from tests.lipsync_helpers import EnvelopeNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = LipSyncSettings(cropped=True, vshift=VSHIFT)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dataset"))


@pytest.fixture(scope="module")
def small_weights(tmp_path_factory):
    return save_small_weights(tmp_path_factory.mktemp("weights") / "small.pt")


# ---------------------------------------------------------------------------------------------
# thresholds


def test_presets_and_custom_thresholds():
    assert Thresholds.resolve() == Thresholds(5.0, 3, "default")
    assert [(t.min_confidence, t.max_abs_offset) for t in map(Thresholds.resolve, ("strict", "high", "medium", "relaxed"))] == [(8, 2), (6, 3), (4, 5), (2, 8)]
    assert Thresholds.resolve(min_confidence=7.5) == Thresholds(7.5, 3, "custom")
    assert Thresholds.resolve("medium", max_abs_offset=1) == Thresholds(4.0, 1, "medium+custom")
    with pytest.raises(ValueError, match="preset"):
        Thresholds.resolve("best")


@pytest.mark.parametrize(
    "conf,offset,quality,why",
    [(5.0, 3, "good", "confidence 5.000 >= 5"), (4.99, 0, "poor", "confidence 4.990 < 5"), (9.0, -4, "poor", "|offset| 4 > 3"),
     (1.0, 7, "poor", "confidence 1.000 < 5 and |offset| 7 > 3")],
)  # fmt: skip
def test_judge_gives_the_reason(conf, offset, quality, why):
    got, reason = Thresholds.resolve().judge({"status": "ok", "best": {"confidence": conf, "offset_frames": offset}})
    assert got == quality and why in reason
    assert Thresholds.resolve().judge({"status": "no_faces"})[0] == "no_faces"
    assert Thresholds.resolve().judge({"status": "error", "error": "'x.mp4': corrupt"}) == ("failed", "'x.mp4': corrupt")


# ---------------------------------------------------------------------------------------------
# the journal


def test_ctrl_c_waits_until_a_record_and_its_bookkeeping_are_both_done():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            steps.append("journal line")
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the signal is delivered here; it must not cut the block short
            steps.append("bookkeeping")
    assert steps == ["journal line", "bookkeeping"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_journal_survives_a_torn_last_line(tmp_path):
    j = Journal(tmp_path / "r.jsonl")
    j.append({"key": "a", "v": 1})
    with open(j.path, "ab") as fh:
        fh.write(b'{"key": "b", "v": ')  # the process died mid-write
    assert list(j.load()) == ["a"]
    j.append({"key": "c", "v": 3})
    j.append({"key": "a", "v": 2})
    loaded = j.load()
    assert sorted(loaded) == ["a", "c"] and loaded["a"]["v"] == 2


# ---------------------------------------------------------------------------------------------
# executors


@pytest.mark.slow
def test_a_worker_that_dies_fails_only_its_own_file():
    items = ["a", "crash-me", "bbb", "cc", "dddd"]
    got = dict(run_tasks(CrashingSetup(), items, executor="local", max_workers=2))
    assert set(got) == set(items)
    assert got["crash-me"] == {"status": "error", "error": WORKER_DIED}
    assert all(got[i]["status"] == "ok" and got[i]["value"] == len(i) for i in items if i != "crash-me")


# ---------------------------------------------------------------------------------------------
# filter


@pytest.mark.slow
def test_filter_sorts_by_offset_confidence_and_resumes(dataset, tmp_path):
    before = tree_digest(dataset)
    out = tmp_path / "sorted"
    s = filter_videos(dataset, out, weights=EnvelopeNet(), settings=SETTINGS, min_confidence=0.3, max_workers=2, progress=False)
    by_video = {r["video"]: r for r in s["results"]}
    assert sorted(by_video) == sorted([*DATASET, "broken.mp4"])
    for name, delay in DATASET.items():
        r = by_video[name]
        assert r["offset"] == -delay and r["confidence"] >= 0.3 and r["min_dist"] > 0 and r["processing_time_s"] > 0
        assert r["quality"] == ("good" if delay <= 3 else "poor"), r
    assert "|offset| 6 > 3" in by_video["sub/c_late6.mkv"]["reason"]
    assert by_video["broken.mp4"]["quality"] == "failed" and "broken.mp4" in by_video["broken.mp4"]["reason"]
    assert (s["total_videos"], s["good_quality"], s["poor_quality"], s["no_faces_detected"], s["processing_failed"]) == (4, 2, 1, 0, 1)
    assert s["filter_settings"]["min_confidence"] == 0.3 and s["filter_settings"]["max_abs_offset"] == 3 and s["complete"]
    # copies, byte for byte, in the same relative places; inputs untouched; nothing half-written
    assert tree_digest(out / "good_quality").keys() == {"a_sync.mkv", "b_late2.mkv"}
    assert tree_digest(out / "poor_quality").keys() == {"sub/c_late6.mkv"}
    assert tree_digest(out / "good_quality")["a_sync.mkv"][0] == before["a_sync.mkv"][0]
    assert tree_digest(dataset) == before
    assert not [p for p in out.rglob("*") if ".part" in p.name]
    assert json.loads((out / "sync_filter_results.json").read_text()) == s
    assert len(Journal(out / "sync_filter_results.jsonl").load()) == 4

    # another threshold: no analysis again (only the broken file is retried), files re-sorted
    s2 = filter_videos(dataset, out, weights=EnvelopeNet(), settings=SETTINGS, min_confidence=0.3, max_abs_offset=8, max_workers=2, progress=False)
    assert (s2["analysed"], s2["resumed"]) == (1, 3)
    assert (s2["good_quality"], s2["poor_quality"]) == (3, 0)
    assert tree_digest(out / "good_quality").keys() == {"a_sync.mkv", "b_late2.mkv", "sub/c_late6.mkv"}
    assert not (out / "poor_quality" / "sub" / "c_late6.mkv").exists()
    # other analysis settings: analysed again
    s3 = filter_videos(dataset, out, weights=EnvelopeNet(), settings=LipSyncSettings(cropped=True, vshift=VSHIFT - 1), mode="keep-all", max_workers=2, progress=False)
    assert s3["resumed"] == 0 and s3["analysed"] == 4


@pytest.mark.slow
def test_filter_link_and_move(dataset, tmp_path):
    work = tmp_path / "in"
    work.mkdir()
    for name in DATASET:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes((dataset / name).read_bytes())
    out = tmp_path / "linked"
    filter_videos(work, out, weights=EnvelopeNet(), settings=SETTINGS, min_confidence=0.3, mode="link", max_workers=1, progress=False)
    link = out / "good_quality" / "a_sync.mkv"
    assert link.is_symlink() and link.resolve() == (work / "a_sync.mkv").resolve()

    moved = tmp_path / "moved"
    s = filter_videos(work, moved, weights=EnvelopeNet(), settings=SETTINGS, min_confidence=0.3, mode="move", max_workers=1, progress=False)
    assert not any(p.is_file() for p in work.rglob("*.mkv"))
    assert (moved / "poor_quality" / "sub" / "c_late6.mkv").is_file() and s["good_quality"] == 2
    # a re-run still reports the moved files
    s2 = filter_videos(work, moved, weights=EnvelopeNet(), settings=SETTINGS, min_confidence=0.3, mode="move", max_workers=1, progress=False)
    assert s2["total_videos"] == 3 and s2["analysed"] == 0 and s2["good_quality"] == 2


@pytest.mark.slow
def test_ctrl_c_leaves_a_consistent_state_and_the_rerun_finishes(tmp_path, small_weights):
    """SIGINT to the whole process group (as a terminal's Ctrl-C) once the first file is done:
    exit 130, a summary of the finished files, no temporary files; a re-run does the rest."""
    data = tmp_path / "data"
    data.mkdir()
    from tests.lipsync_helpers import make_flash_video

    for i in range(6):
        make_flash_video(data / f"clip{i}.mkv", audio_delay_frames=i % 3, duration_s=2.0, seed=i)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "avsync.cli", "filter", "--input-dir", str(data), "--output-dir", str(out), "--weights", str(small_weights),
           "--cropped", "--vshift", "4", "--max-workers", "1", "--min-confidence", "0"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    journal = out / "sync_filter_results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and not (journal.is_file() and journal.read_text().count("\n") >= 1):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    summary = json.loads((out / "sync_filter_results.json").read_text())
    done = Journal(journal).load()
    assert not summary["complete"] and 1 <= summary["total_videos"] == len(done) < 6
    assert summary["good_quality"] == len(list((out / "good_quality").glob("*.mkv")))
    assert not [p for p in out.rglob("*") if ".part" in p.name or p.name.startswith(".")]

    assert main(["filter", "--input-dir", str(data), "--output-dir", str(out), "--weights", str(small_weights), "--cropped", "--vshift", "4",
                 "--max-workers", "2", "--min-confidence", "0", "--no-progress"]) == 0  # fmt: skip
    final = json.loads((out / "sync_filter_results.json").read_text())
    assert final["complete"] and final["total_videos"] == 6 and final["resumed"] == len(done) and final["analysed"] == 6 - len(done)
    assert final["good_quality"] + final["poor_quality"] == 6


# ---------------------------------------------------------------------------------------------
# batch


@pytest.mark.slow
def test_batch_cli_summary_layout_and_resume(dataset, tmp_path, small_weights, capsys):
    out = tmp_path / "batch"
    args = ["batch", "--chunks_dir", str(dataset), "--output_dir", str(out), "--weights", str(small_weights), "--cropped", "--vshift", "4",
            "--max_workers", "2", "--no-progress"]  # fmt: skip
    assert main(args) == 1  # broken.mp4 failed
    err = capsys.readouterr().err.strip()
    assert err.startswith("avsync batch: error: 1 of 4 files failed") and "broken.mp4" in err and "\n" not in err
    s = json.loads((out / "batch_processing_summary.json").read_text())
    assert s["counts"] == {"total": 4, "ok": 3, "no_faces": 0, "failed": 1, "analysed": 4, "resumed": 0}
    assert [f["name"] for f in s["failures"]] == ["broken.mp4"] and "broken.mp4" in s["failures"][0]["error"]
    assert s["timings"]["wall_s"] > 0 and s["timings"]["files_per_minute"] > 0
    for r in s["results"]:
        if r["status"] == "ok":
            offsets = (out / "syncnet_data" / "pywork" / Path(r["name"]).stem / "offsets.txt").read_text()
            assert offsets.startswith(f"TRACK 0: OFFSET {r['offset_frames']}, CONF ")
            assert r["tracks"][0]["confidence"] == r["confidence"]
    assert main(args) == 1
    s2 = json.loads((out / "batch_processing_summary.json").read_text())
    assert (s2["counts"]["resumed"], s2["counts"]["analysed"]) == (3, 1)
    assert [r["offset_frames"] for r in s2["results"]] == [r["offset_frames"] for r in s["results"]]


def test_cli_usage_errors_are_one_line(tmp_path, capsys, small_weights):
    code = main(["filter", "--input-dir", str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "o"), "--weights", str(small_weights)])
    assert code == 1 and "nowhere': no such folder" in capsys.readouterr().err
    code = main(["filter", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--weights", str(small_weights), "--ray-address", "auto"])
    assert code == 1 and "--ray-address goes with --executor ray" in capsys.readouterr().err
    code = main(["batch", "--chunks-dir", str(tmp_path), "--output-dir", str(tmp_path / "o"), "--weights", str(tmp_path / "none.model")])
    err = capsys.readouterr().err
    assert code == 1 and "none.model': SyncNet weights not found" in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["filter", "--input-dir", str(tmp_path), "--output-dir", "o", "--weights", "w", "--link", "--move"])
    assert info.value.code == 2
