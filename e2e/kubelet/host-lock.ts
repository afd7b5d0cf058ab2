// One real node per machine at a time. Two kube-proxies in one network namespace would rewrite each other's
// KUBE-SERVICES chains (both clusters use the Service IP 10.96.0.1), and the kubelet's host tunables and iptables
// chains are host-wide. A second run waits for the first (flock(1) on a host-wide file), then proceeds.
import { spawn } from 'node:child_process';

export interface HostLock {
  release(): Promise<void>;
}

const LOCK_FILE = '/var/lock/lota-e2e-real-node.lock';

/**
 * Holds the lock through a `flock` child that keeps it until its stdin closes, so the lock also goes when this
 * process dies without releasing it.
 */
export function lockRealNode(opts: { timeoutSeconds: number; onWait?: () => void }): Promise<HostLock> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'flock',
      ['--exclusive', '--wait', String(opts.timeoutSeconds), LOCK_FILE, 'sh', '-c', 'echo locked; cat >/dev/null'],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const waiting = setTimeout(() => opts.onWait?.(), 1000);
    child.stdout.once('data', () => {
      clearTimeout(waiting);
      resolve({
        release: () =>
          new Promise((done) => {
            child.once('exit', () => done());
            child.stdin.end();
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(waiting);
      reject(
        new Error(
          `another real-node e2e run held ${LOCK_FILE} for ${opts.timeoutSeconds} s (flock exited ${code}); is one stuck?`,
        ),
      );
    });
  });
}
