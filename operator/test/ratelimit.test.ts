import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/kube/ratelimit.ts';

/** A fake clock and timer list: `advance(ms)` moves time and fires what is due, in order. */
function fakeTime() {
  let now = 0;
  const timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      timers.push({ at: now + ms, fn });
    },
    async advance(ms: number) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > end) break;
        timers.shift();
        now = next.at;
        next.fn();
        await Promise.resolve();
      }
      now = end;
      await new Promise((r) => setImmediate(r));
    },
  };
}

describe('TokenBucket (client-side QPS/burst)', () => {
  it('lets a burst through at once, then paces at qps', async () => {
    const t = fakeTime();
    const bucket = new TokenBucket({ qps: 10, burst: 3, now: t.now, setTimer: t.setTimer });
    const granted: number[] = [];
    const all = Array.from({ length: 7 }, () => bucket.take().then(() => granted.push(t.now())));
    await t.advance(0);
    expect(granted).toEqual([0, 0, 0]);
    expect(bucket.waiting).toBe(4);
    await t.advance(1000);
    await Promise.all(all);
    // One token per 100 ms after the burst.
    expect(granted).toEqual([0, 0, 0, 100, 200, 300, 400]);
  });

  it('serves waiters in arrival order and never lets a newcomer jump the queue', async () => {
    const t = fakeTime();
    const bucket = new TokenBucket({ qps: 1, burst: 1, now: t.now, setTimer: t.setTimer });
    const order: string[] = [];
    await bucket.take();
    const a = bucket.take().then(() => order.push('a'));
    const b = bucket.take().then(() => order.push('b'));
    await t.advance(1000);
    // A token is free now for one caller, but `b` waits: tryTake must not hand it to a newcomer.
    expect(bucket.tryTake()).toBe(false);
    await t.advance(1000);
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
  });

  it('refills up to burst only, however long it was idle', async () => {
    const t = fakeTime();
    const bucket = new TokenBucket({ qps: 100, burst: 5, now: t.now, setTimer: t.setTimer });
    for (let i = 0; i < 5; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
    await t.advance(60_000);
    let n = 0;
    while (bucket.tryTake()) n++;
    expect(n).toBe(5);
  });

  it('qps 0 means no limit', () => {
    const bucket = new TokenBucket({ qps: 0, burst: 1 });
    for (let i = 0; i < 10_000; i++) expect(bucket.tryTake()).toBe(true);
    expect(bucket.unlimited).toBe(true);
  });

  it('sustains the configured rate over a long run (real timers)', async () => {
    const bucket = new TokenBucket({ qps: 200, burst: 10 });
    const start = performance.now();
    await Promise.all(Array.from({ length: 60 }, () => bucket.take()));
    const elapsed = performance.now() - start;
    // 10 at once, then 50 at 200/s = 250 ms; timers only ever fire late, never early.
    expect(elapsed).toBeGreaterThanOrEqual(245);
  });
});
