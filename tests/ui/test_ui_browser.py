"""The web page in a real browser: `avsync ui` in a subprocess, driven by headless Chromium
(Debian's chromium + chromium-driver, through Selenium).

Uploads two generated clips with a known offset and an audio-only recorder, syncs them against the
later clip (so the others get negative offsets and the reference is "not yet started" at the start
of the timeline), reads the offsets from the page, moves the seek bar and checks each player's
currentTime, plays them together, downloads the ZIP and checks its contents, then finishes the
request and checks its folder is gone.

Chromium missing is a failure, not a skip: `bash scripts/setup.sh --dev` installs it, and CI must
run this test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OFFSET = 2.5  # cam2 started 2.5 s after cam1
RECORDER = -1.0  # the recorder started 1 s before cam1
TIMEOUT = 90


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> tuple[Path, Path, Path, Path]:
    from avsync.media.synthetic import Camera, make_cameras

    folder = tmp_path_factory.mktemp("browser_clips")
    cam1, cam2, recorder = make_cameras(folder, [0.0, OFFSET, RECORDER], duration_s=8.0, seed=11,
                                        cameras=[Camera(), Camera(), Camera(video=False)], names=["cam1.mp4", "cam2.mp4", "recorder.wav"])
    notes = folder / "notes.txt"
    notes.write_text("not a video\n")
    return cam1, cam2, recorder, notes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`avsync ui --port 0` in a subprocess: (url, work folder)."""
    work = tmp_path_factory.mktemp("browser_work")
    proc = subprocess.Popen([sys.executable, "-m", "avsync.cli", "ui", "--port", "0", "--work-dir", str(work), "--log-file", ""],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        pytest.fail(f"avsync ui did not start: {line}{proc.stderr.read()}")
    yield line.split("serving on ", 1)[1].split()[0], work
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    driver_path = _find("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("headless Chromium is needed: apt-get install chromium chromium-driver (bash scripts/setup.sh --dev installs them)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is needed: pip install -e '.[test]'")
    downloads = tmp_path_factory.mktemp("downloads")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for downloads
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1600", "--no-first-run"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False,
                                           "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    yield driver
    driver.quit()


def wait_for(driver, condition, what: str, timeout: float = TIMEOUT):
    """Polls ``condition(driver)`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition(driver)
        except Exception as exc:  # noqa: BLE001 - the page may be mid-update
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    banner = driver.find_element("id", "banner").text
    pytest.fail(f"timed out waiting for {what} (last: {last!r}; page banner: {banner!r})")


def media_times(driver) -> dict[str, dict]:
    return driver.execute_script(
        "const out = {}; for (const m of document.querySelectorAll('#players video, #players audio'))"
        " out[m.dataset.name] = {t: m.currentTime, d: m.duration, ready: m.readyState, paused: m.paused, offset: +m.dataset.offset};"
        " return out;")


def seek_to(driver, t: float) -> None:
    """Moves the universal seek bar as a drag does: a new value, then an input event."""
    driver.execute_script("const s = document.getElementById('seek'); s.value = String(arguments[0]);"
                          " s.dispatchEvent(new Event('input', {bubbles: true}));", t)


def expected_time(t: float, offset: float, duration: float) -> float:
    return min(max(t - offset, 0.0), duration)


def test_upload_sync_review_download_in_chromium(browser, server, clips):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, work = server
    cam1, cam2, recorder, notes = clips
    d = browser
    d.get(url)
    job = wait_for(d, lambda d: d.find_element(By.ID, "request-id").text, "the page to open a request")
    assert (work / job).is_dir()
    file_input = d.find_element(By.ID, "file-input")

    # One file, and a text file: both refused with a clear message.
    file_input.send_keys(f"{cam1}\n{notes}")
    wait_for(d, lambda d: "video + audio" in d.find_element(By.CSS_SELECTOR, "li.file[data-name='cam1.mp4']").text, "cam1 uploaded")
    bad = d.find_element(By.CSS_SELECTOR, "li.file[data-name='notes.txt']")
    assert "is not a video or audio file" in bad.text
    d.find_element(By.ID, "sync-button").click()
    error = wait_for(d, lambda d: d.find_element(By.ID, "sync-error").text, "the one-file error")
    assert "at least two" in error

    # The second camera and the recorder; sync against cam2, so the others (which started
    # earlier) get negative offsets.
    file_input.send_keys(f"{cam2}\n{recorder}")
    wait_for(d, lambda d: "video + audio" in d.find_element(By.CSS_SELECTOR, "li.file[data-name='cam2.mp4']").text, "cam2 uploaded")
    wait_for(d, lambda d: "audio, " in d.find_element(By.CSS_SELECTOR, "li.file[data-name='recorder.wav']").text, "the recorder uploaded")
    Select(d.find_element(By.ID, "reference")).select_by_value("cam2.mp4")
    max_offset = d.find_element(By.ID, "max-offset")
    max_offset.clear()
    max_offset.send_keys("10")
    d.find_element(By.ID, "sync-button").click()

    row = wait_for(d, lambda d: d.find_element(By.CSS_SELECTOR, "#results tr[data-name='cam1.mp4']"), "the results table")
    shown = row.find_element(By.CSS_SELECTOR, "td.offset").text
    offset = float(shown.replace("−", "-"))
    assert offset == pytest.approx(-OFFSET, abs=0.02), shown
    assert row.find_element(By.CSS_SELECTOR, ".band").text in ("excellent", "good")
    assert row.find_element(By.CSS_SELECTOR, "td.status").text == "ok"
    rec_offset = float(d.find_element(By.CSS_SELECTOR, "#results tr[data-name='recorder.wav'] td.offset").text.replace("−", "-"))
    assert rec_offset == pytest.approx(RECORDER - OFFSET, abs=0.02)
    ref_row = d.find_element(By.CSS_SELECTOR, "#results tr[data-name='cam2.mp4']")
    assert "reference" in ref_row.text and ref_row.find_element(By.CSS_SELECTOR, "td.offset").text == "+0.000"

    # Review: every player loaded (the recorder in an audio element), the seek bar spans from the
    # recorder's start (-3.5 s) to the end.
    players = wait_for(d, lambda d: (lambda m: m if len(m) == 3 and all(v["ready"] >= 1 for v in m.values()) else None)(media_times(d)),
                       "the players to load")
    tags = d.execute_script("return [...document.querySelectorAll('#players video, #players audio')].map(m => [m.dataset.name, m.tagName])")
    assert sorted(tags) == [["cam1.mp4", "VIDEO"], ["cam2.mp4", "VIDEO"], ["recorder.wav", "AUDIO"]]
    offsets = {name: v["offset"] for name, v in players.items()}
    durations = {name: v["d"] for name, v in players.items()}
    assert offsets["cam2.mp4"] == 0.0 and offsets["cam1.mp4"] == pytest.approx(offset, abs=1e-6)
    seek = d.find_element(By.ID, "seek")
    assert float(seek.get_attribute("min")) == pytest.approx(rec_offset, abs=1e-6)
    for t in (-3.0, -2.0, 0.0, 3.3, 7.9):
        seek_to(d, t)
        times = media_times(d)
        for name, v in times.items():
            assert v["t"] == pytest.approx(expected_time(t, offsets[name], durations[name]), abs=0.02), (t, name, v)
    seek_to(d, -2.0)
    tile = d.find_element(By.CSS_SELECTOR, "figure.tile[data-name='cam2.mp4'] .overlay")
    assert tile.text == "starts in 2.00 s"  # the reference has not started yet at -2 s

    # One play button: all advance together, cam1 always 2.5 s ahead of the reference.
    seek_to(d, 0.5)
    d.find_element(By.ID, "play").click()
    time.sleep(2.0)
    clock = d.execute_script("return window.avsyncPlayer.t")
    times = media_times(d)
    d.find_element(By.ID, "play").click()  # pause
    assert clock > 1.0, "the clock did not run"
    assert not any(v["paused"] for v in times.values()) or clock >= 7.9
    assert times["cam1.mp4"]["t"] - times["cam2.mp4"]["t"] == pytest.approx(-offset, abs=0.25), times
    assert times["recorder.wav"]["t"] - times["cam2.mp4"]["t"] == pytest.approx(-rec_offset, abs=0.25), times
    paused = media_times(d)
    clock = d.execute_script("return window.avsyncPlayer.t")
    for name, v in paused.items():
        assert v["paused"] and v["t"] == pytest.approx(expected_time(clock, offsets[name], durations[name]), abs=0.02)

    # Plots: the motion lanes and a correlation curve (with its close-up) for each file but the reference.
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".correlation-plot[data-name='recorder.wav'] canvas.zoom"), "the correlation plots")
    assert len(d.find_elements(By.CSS_SELECTOR, ".correlation-plot")) == 2
    assert d.find_element(By.ID, "motion-plot").size["height"] > 50

    # The request's log.
    d.find_element(By.CSS_SELECTOR, "#log-details summary").click()
    log = wait_for(d, lambda d: (lambda t: t if "request finished" in t else None)(d.find_element(By.ID, "log").text), "the log")
    assert job in log and "cam1.mp4 offset -2.50" in log

    # Downloads: each synced file, and all of them in one ZIP.
    zip_link = wait_for(d, lambda d: (lambda e: e if e.is_displayed() else None)(d.find_element(By.ID, "zip-link")), "the ZIP link")
    links = [a.text for a in d.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert sorted(links) == ["cam1_synced.mp4", "cam2_synced.mp4", "recorder_synced.wav"]
    zip_link.click()
    zip_path = d.downloads / "synced.zip"
    wait_for(d, lambda d: zip_path.exists() and not list(d.downloads.glob("*.crdownload")), "the ZIP download")
    with zipfile.ZipFile(zip_path) as zf:
        assert sorted(zf.namelist()) == ["cam1_synced.mp4", "cam2_synced.mp4", "recorder_synced.wav"]
        assert zf.testzip() is None
    d.save_screenshot(str(d.downloads / "page.png"))

    # A reload of the tab comes back to the same request, result and downloads.
    d.refresh()
    wait_for(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#results tr[data-name='cam1.mp4']"), "the result after a reload")
    assert d.find_element(By.ID, "request-id").text == job
    assert d.find_element(By.CSS_SELECTOR, "#results tr[data-name='cam1.mp4'] td.offset").text == shown
    wait_for(d, lambda d: d.find_element(By.ID, "zip-link").is_displayed(), "the ZIP link after a reload")

    # Finish: the request's folder is removed and the page starts a new request.
    d.find_element(By.ID, "finish").click()
    d.switch_to.alert.accept()
    wait_for(d, lambda d: not (work / job).exists(), "the request folder to be removed")
    new_job = wait_for(d, lambda d: (lambda t: t if t and t != job else None)(d.find_element(By.ID, "request-id").text), "a new request")
    assert (work / new_job).is_dir()
