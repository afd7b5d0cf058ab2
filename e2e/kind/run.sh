#!/usr/bin/env bash
# The e2e suite on a kind cluster, for contributors with Docker: real images, the Helm chart, the same assertions
# (e2e/test/operator.cluster.test.ts) as the loopback control plane runs in CI.
#
# IT CANNOT RUN ON THE PROJECT'S CI MACHINES (they have no Docker engine) AND HAS NOT BEEN RUN THERE: the suite's
# code paths for an external cluster (LOTA_E2E_KUBECONFIG, LOTA_E2E_OPERATOR=in-cluster) are exercised only here.
#
# Needs: docker, kind, helm, kubectl, and `npm ci` done. Usage: bash e2e/kind/run.sh [--keep]
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in docker kind helm kubectl; do
  command -v "$tool" >/dev/null || { echo "e2e/kind: $tool is required" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "e2e/kind: no Docker engine reachable (docker info failed)" >&2; exit 1; }

CLUSTER="${KIND_CLUSTER:-lota-e2e}"
TAG=e2e
OPERATOR_IMAGE="ghcr.io/lota-operator/lota-operator:$TAG"
TRAINER_IMAGE="ghcr.io/lota-operator/lota-trainer:$TAG"
FLAKY_IMAGE="lota-e2e/flaky-trainer:$TAG"
# PersistentVolumes are hostPath volumes: the same directory on this machine and inside the kind node, so the
# suite writes the base model and datasets here and reads the tickets back.
PVC_ROOT="${LOTA_E2E_PVC_ROOT:-/tmp/lota-kind-pvc}"
KUBECONFIG_FILE="$(mktemp -t lota-kind-kubeconfig.XXXXXX)"
mkdir -p "$PVC_ROOT" && chmod 0777 "$PVC_ROOT"

cleanup() { [ "${1:-}" = "--keep" ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap 'cleanup "${1:-}"' EXIT

cat > "$KUBECONFIG_FILE.kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: $PVC_ROOT
        containerPath: $PVC_ROOT
KIND
kind create cluster --name "$CLUSTER" --image kindest/node:v1.34.0 --config "$KUBECONFIG_FILE.kind.yaml" \
  --kubeconfig "$KUBECONFIG_FILE" --wait 120s
export KUBECONFIG="$KUBECONFIG_FILE"

docker build -t "$OPERATOR_IMAGE" .
docker build -f trainer-image/Dockerfile.cpu -t "$TRAINER_IMAGE" .
docker build -f e2e/kind/flaky-trainer.Dockerfile --build-arg TRAINER="$TRAINER_IMAGE" -t "$FLAKY_IMAGE" .
for image in "$OPERATOR_IMAGE" "$TRAINER_IMAGE" "$FLAKY_IMAGE"; do kind load docker-image "$image" --name "$CLUSTER"; done

helm upgrade --install lota charts/lota-operator --namespace lota-system --create-namespace \
  --set image.tag="$TAG" --set trainer.image="$TRAINER_IMAGE" --wait --timeout 5m

LOTA_E2E_KUBECONFIG="$KUBECONFIG_FILE" LOTA_E2E_PVC_ROOT="$PVC_ROOT" LOTA_E2E_OPERATOR=in-cluster \
  LOTA_E2E_TRAINER_IMAGE="$TRAINER_IMAGE" LOTA_E2E_FLAKY_IMAGE="$FLAKY_IMAGE" \
  npx vitest run --project cluster e2e/test/operator.cluster.test.ts e2e/test/control-plane.cluster.test.ts
