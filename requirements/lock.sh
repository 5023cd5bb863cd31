#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (uv pip compile; uv is in the dev extra):
#   bash requirements/lock.sh            # keep the pinned versions that still fit, add what is new
#   bash requirements/lock.sh --upgrade  # move every pin to the newest version that fits
# serve.txt is universal (any OS, CPython >= 3.11). test.txt and train.txt carry torch, whose PyPI build
# for Linux pulls gigabytes of CUDA: they are resolved for Linux x86-64 / CPython 3.11 with the CPU build
# (torch==2.13.0+cpu), taken from the folder in PIP_FIND_LINKS (where pip finds it on these machines;
# elsewhere, a folder holding that wheel from PyTorch's CPU index).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-.venv/bin/uv}"
command -v "$UV" >/dev/null || UV=uv
COMMON=(pyproject.toml --python-version 3.11 --generate-hashes --quiet "$@")
LINUX=(--python-platform x86_64-manylinux_2_28)
if [ -n "${PIP_FIND_LINKS:-}" ]; then LINUX+=(--find-links "$PIP_FIND_LINKS"); fi

"$UV" pip compile "${COMMON[@]}" --universal \
  --custom-compile-command "bash requirements/lock.sh" -o requirements/serve.txt
"$UV" pip compile "${COMMON[@]}" "${LINUX[@]}" --extra dev --extra safety-train --extra train \
  --custom-compile-command "bash requirements/lock.sh" -o requirements/test.txt
"$UV" pip compile "${COMMON[@]}" "${LINUX[@]}" --extra train \
  --custom-compile-command "bash requirements/lock.sh" -o requirements/train.txt
echo "locked: requirements/serve.txt requirements/test.txt requirements/train.txt"
