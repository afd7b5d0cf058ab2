#!/usr/bin/env bash
# Builds the real Kubernetes control plane (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)
# and etcd from the Go module proxy into a cache outside the repository, keyed by version. Idempotent: a cache
# hit returns at once. Prints the bin directory on the last line of stdout.
#
# k8s.io/kubernetes requires its staging modules at v0.0.0 with `replace => ./staging/...`, which only work inside
# its own repository, so we build from a small wrapper module whose replace lines map every staging module to the
# published v0.<minor>.<patch> of the same release. etcd's server module has the same kind of replace lines, so it
# gets a wrapper too.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.4}"
CACHE_ROOT="${LOTA_CACHE:-$HOME/.cache/lota}"
KEY="k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"
OUT="$CACHE_ROOT/$KEY"
BIN="$OUT/bin"
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd)

have_all() { for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done; }
if have_all; then echo "$BIN"; exit 0; fi

mkdir -p "$BIN" "$OUT/src/k8s" "$OUT/src/etcd"
staging_version="v0.${K8S_VERSION#v1.}"
started=$(date +%s)

# --- Kubernetes -----------------------------------------------------------------------------------------------
cd "$OUT/src/k8s"
modfile="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/${K8S_VERSION}.mod"
[ -f "$modfile" ] || GOFLAGS=-mod=mod GOWORK=off go mod download k8s.io/kubernetes@"$K8S_VERSION" >&2
{
  echo "module lota.dev/controlplane-build"
  echo
  echo "go 1.24.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  # Every `k8s.io/<name> => ./staging/...` line of this release's go.mod becomes a published version.
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$modfile" | awk -v v="$staging_version" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
GOWORK=off go mod tidy >&2
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  [ -x "$BIN/$b" ] && continue
  echo "building $b $K8S_VERSION" >&2
  GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b"
  mv "$BIN/$b.tmp" "$BIN/$b"
done

# --- etcd -----------------------------------------------------------------------------------------------------
if [ ! -x "$BIN/etcd" ]; then
  cd "$OUT/src/etcd"
  cat > go.mod <<MOD
module lota.dev/etcd-build

go 1.24.0

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
MOD
  cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
GO
  GOWORK=off go mod tidy >&2
  echo "building etcd $ETCD_VERSION" >&2
  GOWORK=off CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
fi

echo "built $KEY in $(( $(date +%s) - started ))s" >&2
echo "$BIN"
