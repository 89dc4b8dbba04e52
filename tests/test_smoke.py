"""The package imports light and its public names are there."""

import subprocess
import sys

import avsync


def test_public_names():
    for name in ("__version__", "read_audio", "motion_energy", "gcc_phat", "MediaError", "NoStreamError"):
        assert hasattr(avsync, name), name


def test_import_is_light():
    code = "import sys, avsync; heavy = [m for m in ('torch', 'matplotlib', 'cv2', 'flask', 'ray') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
