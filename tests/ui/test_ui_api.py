"""The web page's HTTP interface through Flask's test client: uploads, the background sync, the
result the page shows, downloads, logs, and the security rules."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the web page needs the [ui] extra")

from flask.testing import FlaskClient  # noqa: E402

from avsync.media.synthetic import Camera, make_cameras  # noqa: E402
from avsync.ui.app import create_app  # noqa: E402
from avsync.ui.files import safe_name, unique_name  # noqa: E402
from avsync.ui.jobs import Limits, confidence_band  # noqa: E402
from avsync.ui.plots import reduce_curve  # noqa: E402

H = {"X-Avsync": "1"}
OFFSET_CAM2 = 2.5
OFFSET_RECORDER = -1.25  # the recorder started 1.25 s before the reference camera


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """cam1 (reference), cam2 (+2.5 s, other framing and frame rate) and an audio-only recorder
    (-1.25 s) of one scene, plus an unrelated clip of another scene."""
    folder = tmp_path_factory.mktemp("ui_clips")
    cams = [Camera(), Camera(crop=(0.1, 0.1, 0.9, 0.85), fps=30.0, sample_rate=44100, audio_noise=0.003), Camera(video=False)]
    cam1, cam2, rec = make_cameras(folder, [0.0, OFFSET_CAM2, OFFSET_RECORDER], duration_s=8.0, seed=5, cameras=cams,
                                   names=["cam1.mp4", "cam2.mp4", "recorder.wav"])
    (other,) = make_cameras(folder / "other", [0.0], duration_s=8.0, seed=99, names=["other.mp4"])
    return {"cam1": cam1, "cam2": cam2, "recorder": rec, "other": other}


class BufferedClient(FlaskClient):
    """Reads every response whole, so files sent by the server are closed at once."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_app(work, limits=None):
    app = create_app(work, limits)
    app.testing = True
    app.test_client_class = BufferedClient
    return app


@pytest.fixture()
def app(tmp_path):
    app = make_app(tmp_path / "work", Limits(max_files=4, max_file_bytes=5 << 20))
    yield app
    app.extensions["avsync_jobs"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


def new_job(client) -> str:
    r = client.post("/api/jobs", headers=H)
    assert r.status_code == 201, r.json
    return r.json["id"]


def put(client, job: str, path: Path, name: str | None = None):
    return client.put(f"/api/jobs/{job}/files", query_string={"name": name or path.name}, data=path.read_bytes(), headers=H)


def wait_done(client, job: str, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/api/jobs/{job}").json
        if state["state"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    pytest.fail(f"the job did not finish within {timeout} s: {state}")


def sync(client, job: str, **settings) -> dict:
    r = client.post(f"/api/jobs/{job}/sync", json=settings, headers=H)
    assert r.status_code == 202, r.json
    return wait_done(client, job)


# --- a whole request -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("ui_work"))
    yield app
    app.extensions["avsync_jobs"].close()


@pytest.fixture(scope="module")
def finished(shared_app, clips):
    """One request run to the end: cam1 (reference), cam2 and the recorder, by audio."""
    client = shared_app.test_client()
    job = new_job(client)
    for key in ("cam1", "cam2", "recorder"):
        r = put(client, job, clips[key])
        assert r.status_code == 201, r.json
    state = sync(client, job, method="audio", reference="cam1.mp4", max_offset_s=10)
    return job, state


def test_request_syncs_reviews_and_downloads(shared_app, finished):
    client = shared_app.test_client()
    job, state = finished
    assert state["state"] == "done", state
    result = state["result"]
    rows = {v["path"]: v for v in result["videos"]}
    # Paths are the names the visitor uploaded, never server folders.
    assert set(rows) == {"cam1.mp4", "cam2.mp4", "recorder.wav"}
    assert result["reference"] == "cam1.mp4"
    assert rows["cam1.mp4"]["offset_s"] == 0.0
    assert rows["cam2.mp4"]["offset_s"] == pytest.approx(OFFSET_CAM2, abs=0.01)
    assert rows["recorder.wav"]["offset_s"] == pytest.approx(OFFSET_RECORDER, abs=0.01)
    for row in rows.values():
        assert row["status"] == "ok" and row["reason"] == ""
        assert row["band"] == confidence_band(row["confidence"])
    # Synced copies of every file, and a ZIP of exactly those.
    assert sorted(state["outputs"]) == ["cam1_synced.mp4", "cam2_synced.mp4", "recorder_synced.wav"]
    r = client.get(f"/api/jobs/{job}/zip")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(r.data)) as zf:
        assert sorted(zf.namelist()) == sorted(state["outputs"])
        assert zf.getinfo("cam2_synced.mp4").file_size > 10_000
    r = client.get(f"/api/jobs/{job}/outputs/cam2_synced.mp4")
    assert r.status_code == 200 and r.data[4:8] == b"ftyp"
    assert client.get(f"/api/jobs/{job}/outputs/cam2.mp4").status_code == 404  # inputs are not outputs
    # The result as a download.
    r = client.get(f"/api/jobs/{job}/result.json")
    assert json.loads(r.data)["videos"][1]["offset_s"] == pytest.approx(OFFSET_CAM2, abs=0.01)
    assert "attachment" in r.headers["Content-Disposition"]
    folder = shared_app.extensions["avsync_jobs"].jobs[job].folder
    assert str(folder) not in r.get_data(as_text=True)


def test_synced_outputs_line_up(shared_app, finished, tmp_path):
    """The downloaded copies start together: the reference's audio and cam2's agree at lag 0."""
    import avsync

    client = shared_app.test_client()
    job, _ = finished
    paths = []
    for name in ("cam1_synced.mp4", "cam2_synced.mp4"):
        p = tmp_path / name
        p.write_bytes(client.get(f"/api/jobs/{job}/outputs/{name}").data)
        paths.append(p)
    a, b = avsync.read_audio(paths[0]), avsync.read_audio(paths[1])
    assert abs(avsync.gcc_phat(a, b, 16000, max_delay_s=3).delay_s) < 0.01


def test_review_media_supports_byte_ranges(shared_app, finished, clips):
    client = shared_app.test_client()
    job, _ = finished
    r = client.get(f"/api/jobs/{job}/media/cam2.mp4", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206
    assert r.data == clips["cam2"].read_bytes()[:100]
    assert r.headers["Content-Type"] == "video/mp4"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert client.get(f"/api/jobs/{job}/media/recorder.wav").headers["Content-Type"] == "audio/wav"
    assert client.get(f"/api/jobs/{job}/media/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_plots_hold_motion_and_correlation_peaks(shared_app, finished):
    client = shared_app.test_client()
    job, _ = finished
    data = client.get(f"/api/jobs/{job}/plots").json
    lanes = {m["name"]: m for m in data["motion"]}
    assert lanes["recorder.wav"]["note"] == "audio only" and "energy" not in lanes["recorder.wav"]
    assert len(lanes["cam1.mp4"]["energy"]) == len(lanes["cam1.mp4"]["times_s"]) > 100
    curves = {c["name"]: c for c in data["correlation"]}
    assert set(curves) == {"cam2.mp4", "recorder.wav"}  # every file but the reference
    for name, expected in (("cam2.mp4", OFFSET_CAM2), ("recorder.wav", OFFSET_RECORDER)):
        c = curves[name]
        peak = c["lags_s"][max(range(len(c["values"])), key=c["values"].__getitem__)]
        assert peak == pytest.approx(expected, abs=0.02), name
        assert len(c["values"]) <= 1200


def test_log_shows_only_this_request(shared_app, clips, finished):
    client = shared_app.test_client()
    job, _ = finished
    other = new_job(client)
    put(client, other, clips["cam1"])
    lines = client.get(f"/api/jobs/{job}/log").json["lines"]
    assert lines and all(job in line for line in lines)
    text = "\n".join(lines)
    assert "received 'cam2.mp4'" in text and "cam2.mp4 offset +2.50" in text and "wrote cam2_synced.mp4" in text
    assert "/uploads/" not in text  # server folders left out
    other_lines = client.get(f"/api/jobs/{other}/log").json["lines"]
    assert all(other in line for line in other_lines) and not any("cam2" in line for line in other_lines)


def test_negative_offsets_with_another_reference(client, clips):
    job = new_job(client)
    put(client, job, clips["cam1"])
    put(client, job, clips["cam2"])
    state = sync(client, job, method="visual", reference="cam2.mp4", max_offset_s=0)
    rows = {v["path"]: v for v in state["result"]["videos"]}
    assert state["result"]["reference"] == "cam2.mp4" and state["result"]["method"] == "visual"
    assert rows["cam1.mp4"]["offset_s"] == pytest.approx(-OFFSET_CAM2, abs=0.05)
    assert rows["cam1.mp4"]["method"] == "visual"


@pytest.mark.slow
def test_both_methods_side_by_side(client, clips):
    job = new_job(client)
    for key in ("cam1", "cam2", "recorder"):
        put(client, job, clips[key])
    state = sync(client, job, method="both")
    rows = {v["path"]: v for v in state["result"]["videos"]}
    assert rows["cam2.mp4"]["audio_offset_s"] == pytest.approx(OFFSET_CAM2, abs=0.01)
    assert rows["cam2.mp4"]["visual_offset_s"] == pytest.approx(OFFSET_CAM2, abs=0.05)
    assert rows["recorder.wav"].get("visual_offset_s") is None
    curves = sorted((c["name"], c["method"]) for c in client.get(f"/api/jobs/{job}/plots").json["correlation"])
    # No motion curve for the recorder: it has no picture.
    assert curves == [("cam2.mp4", "audio"), ("cam2.mp4", "visual"), ("recorder.wav", "audio")]


def test_unrelated_file_is_reported_with_a_reason(client, clips):
    job = new_job(client)
    put(client, job, clips["cam1"])
    put(client, job, clips["other"])
    state = sync(client, job, method="audio")
    row = next(v for v in state["result"]["videos"] if v["path"] == "other.mp4")
    assert row["status"] == "no_match" and row["band"] == "poor" and row["offset_s"] is None
    assert row["reason"]
    assert state["outputs"] == [] and "nothing to download" in state["output_error"]
    assert client.get(f"/api/jobs/{job}/zip").status_code == 404


@pytest.mark.slow
def test_resync_with_other_settings_replaces_the_result(client, clips):
    job = new_job(client)
    put(client, job, clips["cam1"])
    put(client, job, clips["cam2"])
    first = sync(client, job, method="audio")
    second = sync(client, job, method="audio", reference="cam2.mp4")
    assert second["run"] == first["run"] + 1
    rows = {v["path"]: v for v in second["result"]["videos"]}
    assert rows["cam1.mp4"]["offset_s"] == pytest.approx(-OFFSET_CAM2, abs=0.01)


# --- bad input -------------------------------------------------------------------------------

def test_non_media_upload_is_refused_and_removed(client, app, tmp_path):
    job = new_job(client)
    r = client.put(f"/api/jobs/{job}/files", query_string={"name": "notes.mp4"}, data=b"just some text\n" * 50, headers=H)
    assert r.status_code == 400
    assert r.json["error"].startswith("'notes.mp4' is not a video or audio file")
    folder = app.extensions["avsync_jobs"].jobs[job].upload_dir
    assert list(folder.iterdir()) == []
    assert client.get(f"/api/jobs/{job}").json["files"] == []


def test_still_image_and_empty_file_are_refused(client, ffmpeg, tmp_path):
    png = tmp_path / "frame.png"
    subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(png)], check=True)
    job = new_job(client)
    r = put(client, job, png)
    assert r.status_code == 400 and r.json["error"] == "'frame.png' is a still image, not a video", r.json
    r = client.put(f"/api/jobs/{job}/files", query_string={"name": "empty.mp4"}, data=b"", headers={**H, "Content-Length": "0"})
    assert r.status_code == 400 and r.json["error"] == "'empty.mp4' is empty", r.json


def test_sync_needs_two_files(client, clips):
    job = new_job(client)
    r = client.post(f"/api/jobs/{job}/sync", json={"method": "audio"}, headers=H)
    assert r.status_code == 400 and "at least two" in r.json["error"] and "no file" in r.json["error"]
    put(client, job, clips["cam1"])
    r = client.post(f"/api/jobs/{job}/sync", json={"method": "audio"}, headers=H)
    assert r.status_code == 400 and "only 'cam1.mp4'" in r.json["error"]


@pytest.mark.parametrize("settings, message", [
    ({"method": "lipsync"}, "method must be one of"),
    ({"reference": "nope.mp4"}, "'nope.mp4' is not one of the uploaded files"),
    ({"max_offset_s": -1}, "maximum offset"),
    ({"max_offset_s": "far"}, "must be numbers"),
    ({"min_confidence": 2}, "minimum confidence"),
])
def test_bad_settings_get_clear_messages(client, clips, settings, message):
    job = new_job(client)
    put(client, job, clips["cam1"])
    put(client, job, clips["cam2"])
    r = client.post(f"/api/jobs/{job}/sync", json=settings, headers=H)
    assert r.status_code == 400 and message in r.json["error"], r.json
    r = client.post(f"/api/jobs/{job}/sync", data="not json", headers={**H, "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json["error"]


def test_visual_method_refuses_an_audio_only_reference(client, clips):
    job = new_job(client)
    put(client, job, clips["recorder"])
    put(client, job, clips["cam1"])
    r = client.post(f"/api/jobs/{job}/sync", json={"method": "visual"}, headers=H)
    assert r.status_code == 400 and "audio only" in r.json["error"]


# --- security --------------------------------------------------------------------------------

@pytest.mark.parametrize("sent, stored", [
    ("../../escape.mp4", "escape.mp4"),
    ("/etc/cam.mp4", "cam.mp4"),
    ("..\\..\\win.mp4", "win.mp4"),
    ("caméra 1 (final).mp4", "camera_1_final.mp4"),
    ("..", "upload"),
])
def test_file_names_are_sanitised(client, app, clips, sent, stored):
    job = new_job(client)
    r = put(client, job, clips["cam1"], name=sent)
    assert r.status_code == 201 and r.json["name"] == stored and r.json["original"] == sent
    folder = app.extensions["avsync_jobs"].jobs[job].upload_dir
    assert [p.name for p in folder.iterdir()] == [stored]
    assert not (folder.parent.parent / "escape.mp4").exists()


def test_same_names_do_not_collide(client, clips):
    job = new_job(client)
    assert put(client, job, clips["cam1"], name="GOPR0001.MP4").json["name"] == "GOPR0001.MP4"
    assert put(client, job, clips["cam2"], name="gopr0001.mp4").json["name"] == "gopr0001-2.mp4"


def test_safe_name_and_unique_name():
    assert safe_name("a/b/../../c.mkv") == "c.mkv"
    assert safe_name("\x00evil\n.mp4") == "evil.mp4"
    assert safe_name("CON.wav") == "CON_.wav"
    assert len(safe_name("x" * 500 + ".mov")) <= 120
    assert unique_name("a.mp4", ["A.MP4", "a-2.mp4"]) == "a-3.mp4"


def test_upload_limits(client, app, clips):
    job = new_job(client)
    big = b"\0" * ((5 << 20) + 1)
    r = client.put(f"/api/jobs/{job}/files", query_string={"name": "big.mp4"}, data=big, headers=H)
    assert r.status_code == 413 and "over the limit of 5.0 MB per file" in r.json["error"]
    for _ in range(4):
        assert put(client, job, clips["cam1"]).status_code == 201
    r = put(client, job, clips["cam2"])
    assert r.status_code == 413 and "at most 4 files" in r.json["error"]
    store = app.extensions["avsync_jobs"]
    assert sorted(p.name for p in store.jobs[job].upload_dir.iterdir()) == ["cam1-2.mp4", "cam1-3.mp4", "cam1-4.mp4", "cam1.mp4"]


def test_upload_needs_a_name_and_a_length(client):
    job = new_job(client)
    r = client.put(f"/api/jobs/{job}/files", data=b"x", headers=H)
    assert r.status_code == 400 and "file name" in r.json["error"]
    r = client.put(f"/api/jobs/{job}/files?name=a.mp4", input_stream=io.BytesIO(b"abc"),
                   headers={**H, "Transfer-Encoding": "chunked"})
    assert r.status_code == 411 and "Content-Length" in r.json["error"]


def test_interrupted_upload_leaves_nothing(app, clips):
    store = app.extensions["avsync_jobs"]
    job = store.create()
    data = clips["cam1"].read_bytes()
    with pytest.raises(ValueError, match="the upload stopped after"):
        store.add_upload(job, "cam1.mp4", io.BytesIO(data[:1000]), len(data))
    assert list(job.upload_dir.iterdir()) == [] and job.uploads == {} and job.receiving == 0


def test_request_limit(tmp_path, clips):
    """At most max_jobs requests hold files; empty ones (open tabs) are capped further out."""
    app = make_app(tmp_path, Limits(max_jobs=2))
    try:
        c = app.test_client()
        jobs = [new_job(c) for _ in range(3)]
        assert put(c, jobs[0], clips["cam1"]).status_code == 201
        assert put(c, jobs[1], clips["cam1"]).status_code == 201
        r = put(c, jobs[2], clips["cam1"])
        assert r.status_code == 503 and "busy with the files of 2 other requests" in r.json["error"]
        assert put(c, jobs[1], clips["cam2"]).status_code == 201  # a request already holding files goes on
        for _ in range(5):
            new_job(c)
        r = c.post("/api/jobs", headers=H)
        assert r.status_code == 503 and "busy with 8 open requests" in r.json["error"]
        assert c.delete(f"/api/jobs/{jobs[0]}", headers=H).status_code == 204
        assert put(c, jobs[2], clips["cam1"]).status_code == 201
    finally:
        app.extensions["avsync_jobs"].close()


def test_changes_need_the_page_header_and_same_origin(client, clips):
    r = client.post("/api/jobs")
    assert r.status_code == 403 and "X-Avsync" in r.json["error"]
    r = client.post("/api/jobs", headers={**H, "Origin": "http://evil.example"})
    assert r.status_code == 403
    job = new_job(client)
    r = client.put(f"/api/jobs/{job}/files?name=a.mp4", data=clips["cam1"].read_bytes())
    assert r.status_code == 403
    assert client.delete(f"/api/jobs/{job}").status_code == 403
    assert client.post("/api/jobs", headers={**H, "Origin": "http://localhost"}).status_code == 201


def test_loopback_server_refuses_other_host_names(client):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    r = client.get("/", headers={"Host": "evil.example:8000"})
    assert r.status_code == 421
    assert client.get("/", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/", headers={"Host": "[::1]:8000"}).status_code == 200


def test_pages_have_security_headers(client):
    r = client.get("/")
    assert r.status_code == 200 and b'<script type="module" src="/static/app.js">' in r.data
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    for name in ("app.js", "api.js", "upload.js", "review.js", "plots.js", "format.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and r.data, name
        assert b"http://" not in r.data and b"https://" not in r.data, f"{name} loads something from elsewhere"
    assert client.get("/api/jobs/" + "0" * 24).headers["Cache-Control"] == "no-store"


def test_unknown_and_malformed_ids(client):
    for job in ("0" * 24, "../../etc", "ZZZ", "0" * 23):
        assert client.get(f"/api/jobs/{job}").status_code == 404
    r = client.get("/api/jobs/" + "0" * 24)
    assert "expired" in r.json["error"]


# --- the working folder's life ---------------------------------------------------------------

def test_finish_removes_the_folder(client, app, clips):
    job = new_job(client)
    put(client, job, clips["cam1"])
    folder = app.extensions["avsync_jobs"].jobs[job].folder
    assert folder.is_dir()
    assert client.delete(f"/api/jobs/{job}", headers=H).status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/jobs/{job}").status_code == 404


def test_unused_requests_expire(client, app, clips):
    store = app.extensions["avsync_jobs"]
    old, fresh = new_job(client), new_job(client)
    put(client, old, clips["cam1"])
    old_folder = store.jobs[old].folder
    store.jobs[old].touched -= store.limits.keep_s + 1
    assert store.sweep() == [old]
    assert not old_folder.exists() and fresh in store.jobs
    assert client.get(f"/api/jobs/{old}").status_code == 404


def test_no_uploads_while_syncing(app, clips):
    store = app.extensions["avsync_jobs"]
    job = store.create()
    job.state = "syncing"
    with pytest.raises(ValueError, match="a sync is running"):
        store.add_upload(job, "cam1.mp4", io.BytesIO(b"x"), 1)
    assert store.sweep(now=time.monotonic() + 10 * store.limits.keep_s) == []  # running jobs are kept


def test_closing_the_server_removes_every_request(tmp_path, clips):
    app = make_app(tmp_path / "w")
    c = app.test_client()
    jobs = [new_job(c) for _ in range(2)]
    put(c, jobs[0], clips["cam1"])
    app.extensions["avsync_jobs"].close()
    assert list((tmp_path / "w").iterdir()) == []


# --- small pieces ----------------------------------------------------------------------------

def test_confidence_bands():
    assert [confidence_band(c) for c in (1.0, 0.8, 0.79, 0.5, 0.49, 0.2, 0.19, 0.0)] == [
        "excellent", "excellent", "good", "good", "fair", "fair", "poor", "poor"]


def test_reduce_curve_keeps_peaks():
    import numpy as np

    x = np.arange(100_000) / 1000.0
    y = np.random.default_rng(0).normal(0, 0.01, x.size)
    y[61_234] = 1.0
    y[7] = -0.5
    rx, ry = reduce_curve(x, y, 500)
    assert len(rx) == 500 and max(ry) == 1.0 and rx[ry.index(1.0)] == pytest.approx(61.234) and min(ry) == -0.5


# --- the command -----------------------------------------------------------------------------

def test_ui_command_usage():
    from avsync.cli import COMMANDS, main

    assert COMMANDS["ui"] == "avsync.cli.ui_cmd"
    with pytest.raises(SystemExit) as exc:
        main(["ui", "--port", "99999"])
    assert exc.value.code == 2
    assert main(["ui", "--max-files", "1"]) == 2


def test_server_process_serves_and_cleans_up(tmp_path):
    """`avsync ui --port 0` serves the page on 127.0.0.1 and removes its folders on SIGTERM."""
    import urllib.request

    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-m", "avsync.cli", "ui", "--port", "0", "--work-dir", str(work), "--log-file", ""],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, line + proc.stderr.read()
        url = line.split("serving on ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"avsync" in r.read()
        req = urllib.request.Request(url + "api/jobs", method="POST", headers=H)
        with urllib.request.urlopen(req, timeout=10) as r:
            job = json.loads(r.read())["id"]
        assert (work / job).is_dir()
        port = url.rsplit(":", 1)[1].strip("/")
        second = subprocess.run([sys.executable, "-m", "avsync.cli", "ui", "--port", port, "--work-dir", str(tmp_path / "w2"),
                                 "--log-file", ""], capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [f"avsync ui: error: cannot listen on 127.0.0.1:{port}: Address already in use: "
                                                      "another program uses it; choose another --port"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert not (work / job).exists()
    assert "Traceback" not in err


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc (Linux)")
def test_large_upload_streams_to_disk_not_memory(tmp_path):
    """300 MB through the real server: its peak memory grows by far less than the upload."""
    import http.client

    size_mb = 300
    big = tmp_path / "big.mov"
    with open(big, "wb") as f:
        f.truncate(size_mb << 20)  # sparse: no disk used until the server writes its copy
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-m", "avsync.cli", "ui", "--port", "0", "--work-dir", str(work), "--log-file", "",
                             "--max-file-mb", str(size_mb + 1)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        host, port = proc.stdout.readline().split("http://", 1)[1].split("/", 1)[0].split(":")
        before = _peak_rss_mb(proc.pid)
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        conn.request("POST", "/api/jobs", headers=H)
        job = json.loads(conn.getresponse().read())["id"]
        with open(big, "rb") as body:
            conn.request("PUT", f"/api/jobs/{job}/files?name=big.mov", body=body,
                         headers={**H, "Content-Length": str(size_mb << 20), "Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            answer = json.loads(resp.read())
        conn.close()
        peak = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    # The body arrived whole and was then refused as not media (zeros), so it was all read.
    assert resp.status == 400 and "not a video or audio file" in answer["error"], answer
    assert peak - before < 64, f"server peak memory grew by {peak - before:.0f} MB for a {size_mb} MB upload"


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc/PID/status")
