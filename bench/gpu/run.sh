#!/usr/bin/env bash
# GPU check, on a machine with an NVIDIA GPU (driver installed) and no internet: builds the native backend from the
# wheels and packages carried in BUNDLE (made by bench/gpu/pack.sh on a connected machine), then runs LoTA
# calibrate + train on a ~100M-parameter Llama and prints tokens/s, peak GPU memory and the backend.
#   bash bench/gpu/run.sh BUNDLE [lota-gpu.ts options, e.g. --steps 100 --batch 16]
# Needs on the GPU machine: this repository, python3 with venv, g++ and make (to compile the binding).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${1:?usage: bash bench/gpu/run.sh BUNDLE [options]}
shift
bundle=$(cd "$bundle" && pwd)
[ -d "$bundle/wheels" ] || { echo "run.sh: $bundle/wheels is missing: make the bundle with bench/gpu/pack.sh" >&2; exit 1; }

# node_modules as resolved on the connected machine (Node 24 itself comes with it: the `node` devDependency).
if [ ! -x node_modules/.bin/node ]; then
  echo "run.sh: unpacking node_modules from $bundle/node_modules.tar.gz" >&2
  tar -xzf "$bundle/node_modules.tar.gz"
fi

# The CUDA wheel and its nvidia-* wheels, from the bundle only (pip never goes to the network).
binding=$(PIP_NO_INDEX=1 PIP_FIND_LINKS="$bundle/wheels" LOTA_TF_PIP="$(cat "$bundle/tf-requirement")" \
  LOTA_TF_PIP_DEPS=1 bash scripts/setup-native.sh)

# TensorFlow dlopens cuDNN, cuBLAS, ... by soname: point the loader at the nvidia-* wheels' lib folders.
site=$(dirname "$(dirname "$(readlink -f "$(dirname "$binding")/../../deps/lib/libtensorflow_cc.so.2")")")
if [ -d "$site/nvidia" ]; then
  LD_LIBRARY_PATH=$(find "$site/nvidia" -maxdepth 2 -type d -name lib | paste -sd: -)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LD_LIBRARY_PATH
fi
export TF_FORCE_GPU_ALLOW_GROWTH=true TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-1}
exec node_modules/.bin/node bench/gpu/lota-gpu.ts "$@"
