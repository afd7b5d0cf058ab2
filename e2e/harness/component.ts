// One long-running control-plane process (etcd, kube-apiserver, ...) with its output in `<logsDir>/<name>.log`.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Component {
  name: string;
  logFile: string;
  process: ChildProcess;
  /** Resolves with the exit code (or signal name) when the process ends. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs`. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
  /** The last `lines` lines of the log, for error messages. */
  tail(lines?: number): string;
}

export function startComponent(
  name: string,
  command: string,
  args: string[],
  opts: { logsDir: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Component {
  const logFile = join(opts.logsDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  closeSync(fd);
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => resolve(`spawn error: ${err.message}`));
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  const tail = (lines = 30) => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 5000) => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  return { name, logFile, process: child, exited, stop, tail };
}

/** Polls `check` until it returns true; fails early with the component's log tail if the component exits. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; component?: Component; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let exitedWith: number | string | undefined;
  opts.component?.exited.then((code) => {
    exitedWith = code;
  });
  for (;;) {
    if (exitedWith !== undefined && opts.component) {
      throw new Error(
        `${opts.component.name} exited (${exitedWith}) while waiting for ${what}; log ${opts.component.logFile}:\n${opts.component.tail()}`,
      );
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      const log = opts.component ? `; log ${opts.component.logFile}:\n${opts.component.tail()}` : '';
      throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${log}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

export function readLogTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
