import { execFile } from 'node:child_process';

export class KubectlError extends Error {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  constructor(args: string[], code: number | null, stdout: string, stderr: string) {
    super(`kubectl ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`);
    this.code = code;
    this.stdout = stdout;
    this.stderr = stderr;
  }
}

export type Kubectl = (args: string[], opts?: { input?: string; timeoutMs?: number }) => Promise<string>;

/** Runs the real kubectl against `kubeconfig`; resolves with stdout, rejects with a KubectlError naming stderr. */
export function makeKubectl(kubectlPath: string, kubeconfig: string): Kubectl {
  return (args, opts = {}) =>
    new Promise((resolve, reject) => {
      const child = execFile(
        kubectlPath,
        ['--kubeconfig', kubeconfig, ...args],
        { maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 },
        (err, stdout, stderr) => {
          if (err) {
            const code = typeof err.code === 'number' ? err.code : null;
            reject(new KubectlError(args, code, stdout, stderr));
          } else resolve(stdout);
        },
      );
      // kubectl may exit before reading its input (a usage error): the failure is reported by the callback above,
      // so an EPIPE on stdin must not become an unhandled error.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input ?? '');
    });
}
