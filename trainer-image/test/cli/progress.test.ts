import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { jsonLinesSink } from '../../src/progress/output.ts';
import { serveProgress, stopProgress, TrainerMetrics } from '../../src/progress/server.ts';
import { ProgressTracker } from '../../src/progress/sink.ts';

let server: Server | undefined;
afterEach(() => server?.close());

describe('progress endpoint', () => {
  it('serves the running phase on /progress and Prometheus gauges on /metrics', async () => {
    const tracker = new ProgressTracker('train');
    const metrics = new TrainerMetrics();
    const lines: string[] = [];
    const sink = jsonLinesSink(
      tracker,
      metrics,
      new Writable({ write: (chunk, _e, done) => done(void lines.push(String(chunk))) }) as never,
    );
    sink.begin('train', 10);
    sink.step({ step: 1, totalSteps: 10, loss: 2.5, tokens: 100 });
    sink.step({ step: 4, totalSteps: 10, loss: 1.5, tokens: 100 });
    server = await serveProgress(tracker, metrics, 0, '127.0.0.1');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const progress = await (await fetch(`${url}/progress`)).json();
    expect(progress).toMatchObject({ phase: 'train', step: 4, totalSteps: 10, percent: 40, loss: 1.5 });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(/lota_trainer_step\{phase="train"\} 4/);
    expect(text).toMatch(/lota_trainer_loss\{phase="train"\} 1.5/);
    expect(text).toMatch(/process_cpu_user_seconds_total/);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect(lines.some((l) => JSON.parse(l).step === 4)).toBe(true);
  });
});

describe('progress endpoint teardown', () => {
  it('ends when the phase ends although the operator polls it faster than the keep-alive timeout', async () => {
    const tracker = new ProgressTracker('calibrate');
    const s = await serveProgress(tracker, new TrainerMetrics(), 0, '127.0.0.1');
    const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/progress`;
    // The operator's poller: one keep-alive connection, a request every 100 ms (the e2e harness polls every 1 s,
    // under Node's 5 s keep-alive timeout).
    let polling = true;
    const poller = (async () => {
      while (polling) {
        await fetch(url).then(
          (r) => r.text(),
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    const closed = new Promise<'closed'>((resolve) => s.once('close', () => resolve('closed')));
    await stopProgress(s);
    const outcome = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 3000))]);
    polling = false;
    await poller;
    expect(outcome).toBe('closed');
  });
});
