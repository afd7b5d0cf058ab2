import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ProgressPoller } from '../src/progress.ts';
import { until } from './scripted-source.ts';

// A trainer's progress endpoint as the contract describes it, served on loopback.
let server: Server | undefined;
let hits = 0;
let body: unknown = { phase: 'train', step: 3, totalSteps: 10, percent: 30, loss: 1.5 };

async function endpoint(): Promise<number> {
  hits = 0;
  server = createServer((req, res) => {
    hits++;
    if (req.url !== '/progress') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

afterEach(() => {
  server?.close();
  body = { phase: 'train', step: 3, totalSteps: 10, percent: 30, loss: 1.5 };
});

describe('ProgressPoller', () => {
  it('reads /progress in the background, requeues the owner, and serves the reading from then on', async () => {
    const port = await endpoint();
    const updates: string[] = [];
    const outcomes: string[] = [];
    const poller = new ProgressPoller({
      port,
      intervalMs: 60_000,
      onUpdate: (k) => updates.push(k),
      onOutcome: (o) => outcomes.push(o),
    });
    expect(poller.latest('pod-1', '127.0.0.1', 'LotaAdaptation/ns/a')).toBeUndefined();
    await until(() => updates.length === 1, 'a reading');
    expect(updates).toEqual(['LotaAdaptation/ns/a']);
    expect(poller.latest('pod-1', '127.0.0.1', 'LotaAdaptation/ns/a')).toMatchObject({
      step: 3,
      totalSteps: 10,
      loss: 1.5,
      updateTime: expect.stringMatching(/Z$/),
    });
    // Within the interval it does not ask again, however often reconciles run.
    for (let i = 0; i < 20; i++) poller.latest('pod-1', '127.0.0.1', 'LotaAdaptation/ns/a');
    await new Promise((r) => setTimeout(r, 20));
    expect(hits).toBe(1);
    expect(outcomes).toEqual(['ok']);
  });

  it('bounds concurrent reads and skips pods without an IP', async () => {
    const port = await endpoint();
    const poller = new ProgressPoller({ port, maxInFlight: 2 });
    for (let i = 0; i < 5; i++) poller.latest(`pod-${i}`, '127.0.0.1', `k${i}`);
    poller.latest('no-ip', undefined, 'k');
    await until(() => hits === 2, 'two reads');
    await new Promise((r) => setTimeout(r, 20));
    expect(hits).toBe(2);
  });

  it('an unchanged reading keeps its updateTime and requeues nothing; forgotten pods hold no state', async () => {
    const port = await endpoint();
    const updates: string[] = [];
    const outcomes: string[] = [];
    const poller = new ProgressPoller({
      port,
      intervalMs: 0,
      onUpdate: (k) => updates.push(k),
      onOutcome: (o) => outcomes.push(o),
    });
    poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 1, 'first read');
    const first = poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 2, 'second read');
    await new Promise((r) => setTimeout(r, 1100));
    poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 3, 'third read');
    expect(updates).toEqual(['k']);
    expect(poller.latest('p', '127.0.0.1', 'k')).toBe(first);
    body = { phase: 'train', step: 4, totalSteps: 10, percent: 40, loss: 1.4 };
    await until(() => outcomes.length >= 4, 'fourth read');
    await until(() => updates.length === 2, 'a changed reading requeues');
    expect(poller.latest('p', '127.0.0.1', 'k')?.step).toBe(4);
    poller.forget('p');
    expect(poller.size).toBe(0);
  });

  it('keeps the last good reading when the endpoint answers nonsense or not at all', async () => {
    const port = await endpoint();
    const outcomes: string[] = [];
    const poller = new ProgressPoller({ port, intervalMs: 0, onOutcome: (o) => outcomes.push(o) });
    poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 1, 'first read');
    body = { hello: 'world' };
    poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 2, 'second read');
    body = { phase: 'train', step: 9, totalSteps: 10, percent: 90 };
    server?.close();
    server?.closeAllConnections();
    poller.latest('p', '127.0.0.1', 'k');
    await until(() => outcomes.length === 3, 'third read');
    expect(outcomes).toEqual(['ok', 'error', 'error']);
    expect(poller.latest('p', '127.0.0.1', 'k')?.step).toBe(3);
  });
});
