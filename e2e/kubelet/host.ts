// Can this host run the real-node e2e (root, containerd, runc, the CNI plugins, podman for the images)? The answer
// decides whether the `kubelet` vitest project runs; when it does not, the reason is printed (vitest.config.ts).
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface HostTools {
  containerd: string;
  ctr: string;
  runc: string;
  podman: string;
  cniBinDir: string;
}

const CNI_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];

function which(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin']);
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  return undefined;
}

/** Why the real-node e2e cannot run here, or undefined when it can. */
export function realNodeUnavailable(): string | undefined {
  if (process.env.LOTA_E2E_KUBELET === '0') return 'LOTA_E2E_KUBELET=0';
  if (process.platform !== 'linux') return `the host is ${process.platform}, not Linux`;
  if (process.getuid?.() !== 0) return 'not root (the kubelet, containerd and podman need root)';
  const missing = ['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'podman', 'mmdebstrap', 'iptables'].filter(
    (t) => !which(t),
  );
  if (missing.length > 0) return `missing ${missing.join(', ')} (bash scripts/setup-containers.sh installs them)`;
  if (!CNI_DIRS.some((d) => existsSync(join(d, 'bridge')) && existsSync(join(d, 'loopback')))) {
    return `no CNI bridge and loopback plugins in ${CNI_DIRS.join(' or ')} (Debian: containernetworking-plugins)`;
  }
  if (!existsSync('/sys/fs/cgroup')) return 'no cgroup file system at /sys/fs/cgroup';
  return undefined;
}

export function hostTools(): HostTools {
  const need = (name: string) => {
    const path = which(name);
    if (!path) throw new Error(`${name} is not on PATH: run 'bash scripts/setup-containers.sh'`);
    return path;
  };
  const cniBinDir = CNI_DIRS.find((d) => existsSync(join(d, 'bridge')));
  if (!cniBinDir) throw new Error(`no CNI plugins in ${CNI_DIRS.join(' or ')}`);
  return { containerd: need('containerd'), ctr: need('ctr'), runc: need('runc'), podman: need('podman'), cniBinDir };
}
