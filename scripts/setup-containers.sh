#!/usr/bin/env bash
# Container tooling for the image builds (scripts/build-images.sh) and the real-node e2e (e2e/kubelet/): Debian's
# podman, buildah, containerd, runc, mmdebstrap, the CNI plugins and iptables. Installed with apt-get when missing
# and this is a root Debian host; otherwise it says why not (the real-node e2e is then skipped, with that reason,
# by vitest.config.ts). Prints LOTA_CONTAINERS=1 or LOTA_CONTAINERS=0 on stdout.
set -euo pipefail
packages=(podman buildah containerd runc mmdebstrap containernetworking-plugins iptables uidmap)
log() { echo "setup-containers: $*" >&2; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "not root: cannot install ${missing[*]}; no image builds, no real-node e2e"
    echo LOTA_CONTAINERS=0; exit 0
  fi
  if ! command -v apt-get >/dev/null; then
    log "no apt-get: install ${missing[*]} by hand for the image builds and the real-node e2e"
    echo LOTA_CONTAINERS=0; exit 0
  fi
  log "installing ${missing[*]}"
  started=$SECONDS
  # One install at a time on a machine (several worktrees may run the set-up together).
  exec 8>/var/lock/lota-setup-containers.lock
  flock 8
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  }
  log "installed in $((SECONDS - started)) s"
fi
[ "$(id -u)" = 0 ] || { log "not root: no image builds, no real-node e2e"; echo LOTA_CONTAINERS=0; exit 0; }
echo LOTA_CONTAINERS=1
