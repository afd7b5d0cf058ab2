#!/usr/bin/env bash
# Makes the carry-in bundle for bench/gpu/run.sh, on a connected x86-64 Linux machine with this repository set up
# (`npm ci` done): the TensorFlow CUDA wheel with all its dependencies (nvidia-* wheels included) for the GPU
# machine's Python, and this checkout's node_modules (Node 24 included).
#   bash bench/gpu/pack.sh OUT_DIR [PYTHON_VERSION]     (PYTHON_VERSION of the GPU machine, e.g. 3.12; default: ours)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: bash bench/gpu/pack.sh OUT_DIR [PYTHON_VERSION]}
py=${2:-$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')}
requirement=${LOTA_TF_PIP:-tensorflow[and-cuda]==2.21.0}
mkdir -p "$out/wheels"
# Binary wheels only, for manylinux x86-64 and the target Python, so they install there without a compiler.
python3 -m pip download --disable-pip-version-check --only-binary=:all: --python-version "$py" \
  --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform linux_x86_64 --platform any -d "$out/wheels" "$requirement" >&2
echo "$requirement" > "$out/tf-requirement"
tar -czf "$out/node_modules.tar.gz" node_modules
du -sh "$out"/* >&2
