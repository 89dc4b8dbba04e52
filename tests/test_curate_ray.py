"""The Ray executor: the same results as the local pool, a crashing worker fails only its file.

They share the session's local Ray instance (the ``ray_session`` fixture of conftest.py, 2 CPUs);
every test has a timeout.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from avsync.cli import main  # noqa: E402
from avsync.curate.batch import LipSyncSettings  # noqa: E402
from avsync.curate.executors import WORKER_DIED, run_tasks  # noqa: E402
from avsync.curate.filtering import filter_videos  # noqa: E402
from tests.curate_helpers import DATASET, CrashingSetup, make_dataset, save_small_weights  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("dataset"), duration_s=2.0)


def test_filter_on_ray_gives_the_local_results(ray_session, dataset, tmp_path, capsys):
    weights = save_small_weights(tmp_path / "small.pt", seed=3)
    settings = LipSyncSettings(cropped=True, vshift=4)
    local = filter_videos(dataset, tmp_path / "local", weights=weights, settings=settings, min_confidence=0, mode="keep-all", max_workers=2, progress=False)
    code = main(["filter", "--input-dir", str(dataset), "--output-dir", str(tmp_path / "ray"), "--weights", str(weights), "--cropped", "--vshift", "4",
                 "--min-confidence", "0", "--executor", "ray", "--max-workers", "2", "--no-progress"])  # fmt: skip
    assert code == 1  # broken.mp4 could not be analysed
    assert "broken.mp4" in capsys.readouterr().err
    on_ray = json.loads((tmp_path / "ray" / "sync_filter_results.json").read_text())
    assert on_ray["filter_settings"]["executor"] == "ray" and on_ray["filter_settings"]["mode"] == "copy"

    def numbers(s):
        return {r["video"]: (r["quality"], r["confidence"], r["offset"], r["min_dist"], r["tracks"]) for r in s["results"]}

    assert numbers(on_ray) == numbers(local)
    assert sorted(numbers(local)) == sorted([*DATASET, "broken.mp4"])
    assert all(v[1] is not None for k, v in numbers(local).items() if k != "broken.mp4")
    assert ray.is_initialized()  # an instance it did not start is left running


def test_a_ray_worker_that_dies_fails_only_its_own_file(ray_session):
    items = ["a", "crash-me", "bbb", "cc"]
    got = dict(run_tasks(CrashingSetup(), items, executor="ray", max_workers=2))
    assert got["crash-me"] == {"status": "error", "error": WORKER_DIED}
    assert all(got[i]["status"] == "ok" and got[i]["value"] == len(i) for i in items if i != "crash-me")
