#!/usr/bin/env bash
# Builds KWOK (Kubernetes WithOut Kubelet: fake nodes, and pod lifecycles driven by Stage objects) from the Go module
# proxy, cached under $LOTA_CACHE (default ~/.cache/lota) by version; prints the binary's path on the last line of
# stdout. The operator scale benchmarks run the pod lifecycle of thousands of trainer pods with it. KWOK's go.mod
# has no replace directives, so `go install module@version` works (Go >= 1.26 for v0.8).
set -euo pipefail
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE_ROOT="${LOTA_CACHE:-$HOME/.cache/lota}"
bin="$CACHE_ROOT/kwok-$KWOK_VERSION/bin"
if [ ! -x "$bin/kwok" ]; then
  echo "building kwok $KWOK_VERSION" >&2
  GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 GOBIN="$bin" go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
fi
echo "$bin/kwok"
