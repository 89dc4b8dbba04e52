"""evaluation.run_batch and its ResourceMonitor: both methods per case, resumable results.csv,
failures recorded, diagnostics NPZ."""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _eval_media import make_tiny_original

from evaluation import offset_generation, run_batch
from evaluation.common import RESULT_COLUMNS
from evaluation.monitor import ResourceMonitor


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    make_tiny_original(root / "originals")
    code = offset_generation.main(["--originals", str(root / "originals"), "--output-dir", str(root / "cases"), "--offsets-ms=-400,600"])
    assert code == 0
    return root


def _results(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(root: Path, out: Path, *extra: str) -> int:
    return run_batch.main(["--metadata", str(root / "cases" / "metadata.csv"), "--results-dir", str(out),
                           "--diagnostics-dir", str(out / "diag"), *extra])


@pytest.fixture(scope="module")
def first_run(cases: Path) -> Path:
    out = cases / "results"
    assert _run(cases, out) == 0
    return out


def test_results_have_the_interface_columns_and_accurate_estimates(first_run: Path):
    with open(first_run / "results.csv", newline="") as fh:
        assert next(csv.reader(fh)) == RESULT_COLUMNS
    rows = _results(first_run / "results.csv")
    assert sorted((r["video_id"], r["method_type"]) for r in rows) == [
        ("tiny_+600ms", "audio"), ("tiny_+600ms", "visual"), ("tiny_-400ms", "audio"), ("tiny_-400ms", "visual")]
    for r in rows:
        true, est = float(r["true_offset_ms"]), float(r["estimated_offset_ms"])
        assert float(r["absolute_error_ms"]) == pytest.approx(abs(est - true), abs=1e-3)
        assert abs(est - true) <= (2.0 if r["method_type"] == "audio" else 40.0)
        assert 0.2 <= float(r["confidence_score"]) <= 1.0
        assert float(r["runtime_seconds"]) > 0 and float(r["peak_memory_mb"]) > 10 and float(r["peak_cpu_percent"]) > 0
        assert float(r["video_length_sec"]) == pytest.approx(6.0 + true / 1000, abs=0.1)
        assert r["motion_level"] and r["audio_energy_level"]
    details = [json.loads(line) for line in (first_run / "cases.jsonl").read_text().splitlines()]
    assert {d["status"] for d in details} == {"ok"} and len(details) == 4


def test_diagnostics_hold_the_signals_before_and_after_alignment(first_run: Path):
    d = np.load(first_run / "diag" / "tiny_+600ms.npz")
    for key in ("original_times", "original_energy", "copy_times", "copy_energy", "original_grid", "copy_grid"):
        assert d[key].size > 100
    assert float(d["true_offset_s"]) == pytest.approx(-0.6)
    assert abs(float(d["visual_offset_s"]) - -0.6) < 0.04 and abs(float(d["audio_offset_s"]) - -0.6) < 0.002
    # aligning by the estimate makes the two motion signals agree; unaligned they do not
    assert float(d["ncc_estimated"]) > 0.8 > float(d["ncc_before"]) + 0.3
    assert (first_run / "diag" / "tiny_+600ms.log").read_text().count("sync request") == 2


def test_rerun_skips_done_cases_and_force_redoes_them(cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "res"
    assert _run(cases, out, "--methods", "audio") == 0
    first = _results(out / "results.csv")
    capsys.readouterr()
    assert _run(cases, out, "--methods", "audio") == 0
    captured = capsys.readouterr()
    assert "2 of 2 cases already in" in captured.err and "[1/" not in captured.out
    assert _results(out / "results.csv") == first
    assert _run(cases, out, "--methods", "audio", "--force") == 0
    again = _results(out / "results.csv")
    assert len(again) == 2 and [r["video_id"] for r in again] == [r["video_id"] for r in first]


def test_a_torn_last_line_is_dropped_and_the_case_run_again(cases: Path, tmp_path: Path):
    out = tmp_path / "torn"
    assert _run(cases, out, "--methods", "audio") == 0
    text = (out / "results.csv").read_text()
    lines = text.splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines[:-1]) + lines[-1][:15])  # a crash mid-write
    assert _run(cases, out, "--methods", "audio") == 0
    rows = _results(out / "results.csv")
    assert len(rows) == 2 and all(r["estimated_offset_ms"] for r in rows)


def test_a_failing_case_is_recorded_and_the_rest_go_on(cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    meta = tmp_path / "meta"
    meta.mkdir()
    with open(cases / "cases" / "metadata.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    broken = dict(rows[0], video_id="broken", synthetic="does_not_exist.mp4")
    corrupt = dict(rows[0], video_id="corrupt", synthetic="corrupt.mp4")
    (meta / "corrupt.mp4").write_bytes(b"not a video at all" * 10)
    for r in rows:
        r["synthetic"] = str(cases / "cases" / r["synthetic"])
    with open(meta / "metadata.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([broken, corrupt, *rows])
    out = tmp_path / "out"
    code = run_batch.main(["--metadata", str(meta / "metadata.csv"), "--originals", str(cases / "originals"),
                           "--results-dir", str(out), "--methods", "audio"])
    assert code == 0
    res = {r["video_id"]: r for r in _results(out / "results.csv")}
    assert set(res) == {"broken", "corrupt", "tiny_-400ms", "tiny_+600ms"}
    assert res["broken"]["estimated_offset_ms"] == "" and res["corrupt"]["estimated_offset_ms"] == ""
    assert res["tiny_+600ms"]["estimated_offset_ms"] != ""
    details = {d["video_id"]: d for d in map(json.loads, (out / "cases.jsonl").read_text().splitlines())}
    assert "no such file" in details["broken"]["error"] and details["corrupt"]["status"] == "error"
    assert str(meta / "corrupt.mp4") in details["corrupt"]["error"]  # the real path, not the case's temporary link
    assert "no estimate" in capsys.readouterr().out
    # --retry-failed runs only those again
    assert run_batch.main(["--metadata", str(meta / "metadata.csv"), "--originals", str(cases / "originals"),
                           "--results-dir", str(out), "--methods", "audio", "--retry-failed"]) == 0
    assert len(_results(out / "results.csv")) == 4


def test_missing_metadata_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert run_batch.main(["--metadata", str(tmp_path / "nope.csv"), "--results-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("run_batch: error: ") and "nope.csv" in err and err.count("\n") == 1


def test_monitor_sees_a_busy_child_process():
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with ResourceMonitor(interval_s=0.05) as mon:
        subprocess.run([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 0.6: pass"], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    child_cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert mon.samples >= 5
    # The peak over windows is at least the child's average over the whole block (the machine may
    # be shared, so the child's share of a core is measured rather than assumed)...
    assert child_cpu_s > 0.05
    assert mon.peak_cpu_percent >= 0.8 * 100 * child_cpu_s / mon.elapsed_s
    # ...and no tick-sized window inflated it.
    assert mon.peak_cpu_percent < 100 * (os.cpu_count() or 1) * 1.1
    assert mon.elapsed_s >= 0.6


def test_monitor_sees_memory_growth():
    with ResourceMonitor(interval_s=0.02) as mon:
        block = np.ones(200 * 2**20 // 8)  # 200 MB, touched
        time.sleep(0.15)
        del block
    assert mon.peak_memory_mb - mon.start_memory_mb > 150


def test_monitor_rejects_a_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        ResourceMonitor(0)


def test_monitor_block_shorter_than_a_window_gets_its_average():
    with ResourceMonitor(interval_s=0.01, window_s=0.5) as mon:
        c0, t = time.process_time(), time.perf_counter()
        while time.perf_counter() - t < 0.15:
            pass
        used = time.process_time() - c0
    assert mon.peak_cpu_percent == pytest.approx(100 * used / mon.elapsed_s, abs=25)  # ticks of 10 ms over 0.15 s
