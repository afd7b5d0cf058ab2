#!/usr/bin/env bash
# Builds the node side of the same Kubernetes release as e2e/controlplane/build-binaries.sh: the kubelet and
# kube-proxy (the real node of the `kubelet` e2e mode; kube-proxy gives pods the `kubernetes` Service, through which
# the in-cluster operator reaches the API server). Same wrapper-module technique, its own cache key, so the control
# plane's cache (and its key) stays as it is. Idempotent; prints the bin directory on the last line of stdout.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
CACHE_ROOT="${LOTA_CACHE:-$HOME/.cache/lota}"
KEY="k8s-node-${K8S_VERSION}"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
BINARIES=(kubelet kube-proxy)

have_all() { for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done; }
if have_all; then echo "$BIN"; exit 0; fi

mkdir -p "$BIN" "$OUT/src"
exec 9>"$OUT/.lock"
flock 9
if have_all; then echo "$BIN"; exit 0; fi
staging_version="v0.${K8S_VERSION#v1.}"
started=$(date +%s)

cd "$OUT/src"
modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod"
[ -f "$modfile" ] || GOFLAGS=-mod=mod GOWORK=off go mod download k8s.io/kubernetes@"$K8S_VERSION" >&2
{
  echo "module lota.dev/node-build"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
GO
GOWORK=off go mod tidy >&2
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
for b in "${BINARIES[@]}"; do
  [ -x "$BIN/$b" ] && continue
  echo "building $b $K8S_VERSION" >&2
  GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv "$BIN/$b.tmp" "$BIN/$b"
done
echo "built $KEY in $(( $(date +%s) - started ))s" >&2
echo "$BIN"
