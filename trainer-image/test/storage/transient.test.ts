// A Hub endpoint that fails transiently, behind an HTTP proxy that answers 503 or resets the connection on the
// requests a test picks: such failures are retried inside the process with backoff, and only one that persists
// reaches the Job, as a retryable TransientIOError after a bounded number of tries (no retry storm).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT } from '@lota/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubServer, startHubServer } from '../../../e2e/servers/hub.ts';
import { classify } from '../../src/cli/errors.ts';
import { StorageError } from '../../src/storage/errors.ts';
import { stagePhase } from '../../src/storage/stage.ts';

const BASE = fileURLToPath(new URL('../../assets/base-model', import.meta.url));

type Fault = 'forward' | '503' | 'reset';

interface FaultyProxy {
  url: string;
  /** Each request as `<fault> <method> <path>`, in arrival order. */
  seen: string[];
  close(): Promise<void>;
}

/** Forwards to `target`, except that request number n (from 1) gets `fault(n)`. */
async function faultyProxy(target: string, fault: (n: number) => Fault): Promise<FaultyProxy> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    const f = fault(seen.length + 1);
    seen.push(`${f} ${req.method} ${req.url}`);
    if (f === '503') return void res.writeHead(503, { 'content-type': 'text/plain' }).end('overloaded');
    if (f === 'reset') return void req.socket.destroy();
    const url = new URL(req.url ?? '/', target);
    const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('transient failures of remote storage', () => {
  let hub: HubServer;
  let dir: string;
  const stageThrough = (proxy: FaultyProxy, name: string) =>
    stagePhase({
      spec: { baseModel: { uri: 'hf://lota/base@main' }, output: { uri: `file://${dir}/${name}` } },
      ticketRefs: {},
      pvcRoot: dir,
      scratchDir: join(dir, `scratch-${name}`),
      config: {
        hubEndpoint: proxy.url,
        s3: { region: 'us-east-1', forcePathStyle: true },
        cacheDir: join(dir, `cache-${name}`),
      },
      log: () => {},
    });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lota-transient-'));
    hub = await startHubServer();
    await hub.publish('lota/base', BASE);
  });
  afterAll(async () => {
    await hub.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('retries 503s and a reset connection with the same request, then stages the input', async () => {
    const proxy = await faultyProxy(hub.url, (n) => (n <= 2 ? '503' : n === 3 ? 'reset' : 'forward'));
    try {
      const staged = await stageThrough(proxy, 'recovers');
      expect(staged.inputs[0]?.revision).toMatch(/^[0-9a-f]{40}$/);
      const [first, second, third, fourth] = proxy.seen.map((line) => line.split(' ').slice(1).join(' '));
      expect(proxy.seen.slice(0, 4).map((line) => line.split(' ')[0])).toEqual(['503', '503', 'reset', 'forward']);
      expect(new Set([first, second, third, fourth]).size).toBe(1);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('ends a failure that persists as a retryable TransientIOError after five tries, naming the URI and status', async () => {
    const proxy = await faultyProxy(hub.url, () => '503');
    try {
      const error = await stageThrough(proxy, 'persists').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect((error as StorageError).reason).toBe('TransientIOError');
      expect((error as StorageError).permanent).toBe(false);
      expect((error as StorageError).message).toMatch(/^hf:\/\/lota\/base@main: .*HTTP 503/);
      expect(classify(error)).toEqual({ exitCode: EXIT.transientIo, reason: 'TransientIOError' });
      expect(proxy.seen).toHaveLength(5);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
