#!/usr/bin/env bash
# Idempotent set-up of everything the tests need beyond node_modules: the Python reference implementations, the real
# Kubernetes control plane binaries, Prometheus, the native TensorFlow binding and the packaging tools. Each step
# caches outside the repository under a versioned key, so a second run takes seconds. `npm test` runs this first (pretest). Writes the resolved paths to .lota/env, read by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .lota
{
  echo "LOTA_PYTHON=$(bash scripts/setup-python.sh)"
  echo "LOTA_K8S_BIN=$(bash e2e/controlplane/build-binaries.sh)"
  echo "LOTA_PROMETHEUS_BIN=$(bash e2e/prometheus/setup-prometheus.sh)"
  echo "LOTA_KWOK=$(bash e2e/kwok/setup-kwok.sh)"
  echo "LOTA_VERSITYGW=$(bash scripts/setup-s3.sh)"
  echo "LOTA_TFJS_NODE=$(bash scripts/setup-native.sh)"
  # helm, kubeconform, kstatus, gopher-lua, lua5.4, promtool, hadolint, the Kubernetes OpenAPI (one KEY=VALUE per line)
  bash scripts/setup-helm.sh
  # Containers (root hosts): the operator and CPU trainer images from their Dockerfiles, and the kubelet of the
  # real-node e2e. Elsewhere LOTA_CONTAINERS=0 and the `kubelet` test project says why it does not run.
  containers=$(bash scripts/setup-containers.sh)
  echo "$containers"
  if [ "$containers" = LOTA_CONTAINERS=1 ]; then
    echo "LOTA_K8S_NODE_BIN=$(bash e2e/kubelet/build-binaries.sh)"
    bash scripts/build-images.sh
  fi
} > .lota/env.tmp
mv .lota/env.tmp .lota/env
cat .lota/env
