import { describe, expect, it } from 'vitest';
import { WorkQueue, type WorkQueueMetrics } from '../src/watch/workqueue.ts';
import { until } from './scripted-source.ts';

function counting() {
  const m = { adds: 0, retries: 0, queued: 0, worked: 0, depth: 0 };
  const metrics: WorkQueueMetrics = {
    add: () => m.adds++,
    retry: () => m.retries++,
    queued: () => m.queued++,
    worked: () => m.worked++,
    depth: (n) => {
      m.depth = n;
    },
  };
  return { m, metrics };
}

describe('WorkQueue', () => {
  it('merges adds of a waiting key and keeps order of first arrival', async () => {
    const { m, metrics } = counting();
    const q = new WorkQueue({ metrics });
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(m.adds).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(m.depth).toBe(0);
  });

  it('never hands a key to two workers: an add during processing requeues it after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.add('b');
    expect(await q.get()).toBe('b');
    q.done(key as string);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue();
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
  });

  it('delivers requeue-after keys later, the earliest schedule winning', async () => {
    const q = new WorkQueue();
    q.addAfter('a', 60_000);
    q.addAfter('a', 5);
    q.addAfter('a', 30_000);
    expect(q.length).toBe(0);
    await until(() => q.length === 1, 'scheduled key');
    expect(await q.get()).toBe('a');
    q.shutDown();
  });

  it('counts rate-limited requeues per key until forgotten', async () => {
    const { m, metrics } = counting();
    const q = new WorkQueue({ rateLimit: { baseDelayMs: 1, maxDelayMs: 4 }, metrics });
    q.addRateLimited('a');
    q.addRateLimited('a');
    expect(q.numRequeues('a')).toBe(2);
    expect(m.retries).toBe(2);
    await until(() => q.length === 1, 'rate-limited key');
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('grows per-key delays exponentially up to the maximum', () => {
    const q = new WorkQueue({ rateLimit: { baseDelayMs: 5, maxDelayMs: 100 } });
    const delays = [0, 1, 2, 3, 4, 5].map((n) => (q as unknown as { itemDelay(n: number): number }).itemDelay(n));
    expect(delays).toEqual([5, 10, 20, 40, 80, 100]);
  });

  it('throttles rate-limited requeues overall past the burst', () => {
    const q = new WorkQueue({ rateLimit: { qps: 1, burst: 2 } });
    const bucket = () => (q as unknown as { bucketDelay(): number }).bucketDelay();
    expect(bucket()).toBe(0);
    expect(bucket()).toBe(0);
    expect(bucket()).toBeGreaterThan(900);
  });

  it('reports in-flight work for the unfinished-work gauges and the work duration on done', async () => {
    const { m, metrics } = counting();
    const q = new WorkQueue({ metrics });
    q.add('a');
    await q.get();
    expect(q.inFlight().longestSeconds).toBeGreaterThanOrEqual(0);
    q.done('a');
    expect(m.queued).toBe(1);
    expect(m.worked).toBe(1);
    expect(q.inFlight()).toEqual({ unfinishedSeconds: 0, longestSeconds: 0 });
  });

  it('releases waiting workers on shutdown and accepts nothing after', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('late');
    expect(await q.get()).toBeUndefined();
  });
});
