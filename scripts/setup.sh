#!/usr/bin/env bash
# Set up Vigie on a fresh Debian 12 machine: system packages, the Python environment, the model files.
#   bash scripts/setup.sh            # everything (apt needs root; skipped with a note otherwise)
#   VIGIE_SKIP_APT=1 bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
APT_PACKAGES=(
  ffmpeg                    # RTSP test server and video tools
  opencv-doc                # sample videos used by the demo (vtest.avi)
  chromium                  # headless browser for page tests
  postgresql-15-postgis-3   # PostGIS for the shared database
)

if [[ "${VIGIE_SKIP_APT:-0}" != 1 ]]; then
  if [[ $(id -u) == 0 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}"
  elif command -v sudo >/dev/null; then
    sudo apt-get update -q && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${APT_PACKAGES[@]}"
  else
    echo "setup: not root and no sudo: install these Debian packages yourself: ${APT_PACKAGES[*]}" >&2
  fi
fi

# torch's CUDA wheels (the only Linux builds on PyPI) take ~6 GB in the venv: say so before pip runs out.
if [[ ! -x .venv/bin/torchrun ]]; then
  free_kb=$(df -Pk . | awk 'NR==2 {print $4}')
  if (( free_kb < 8 * 1024 * 1024 )); then
    echo "setup: only $((free_kb / 1024)) MiB free on $(df -P . | awk 'NR==2 {print $6}'):" \
      "the Python environment needs about 8 GiB (torch and its CUDA libraries)" >&2
    exit 1
  fi
fi

[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch and torchvision first, pinned exactly as in pyproject.toml, so the resolver never picks others.
.venv/bin/python -m pip install -q --no-cache-dir torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q --no-cache-dir -e ".[test]"

# Model files from the package registries (pinned versions, sha256-checked). URL-only models (e.g. for
# users with internet access) are reported and skipped when unreachable.
.venv/bin/vigie weights fetch --all --allow-missing
echo "setup: done. Try: .venv/bin/vigie demo"
