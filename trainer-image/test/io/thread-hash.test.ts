import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ThreadHash } from '../../src/io/thread-hash.ts';

describe('ThreadHash', () => {
  it('is the sha256 of what it is given, whatever memory the bytes are in', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(100_000)).map((_, i) => i * 7);
    const plain = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const pooled = Buffer.from('a small Buffer lives in the shared pool'); // not transferable as it is
    const parts = [shared.subarray(10, 90_000), plain.subarray(1, 4000), pooled, new Uint8Array(0), shared];
    const hash = new ThreadHash();
    for (const part of parts) await hash.update(part);
    const expected = createHash('sha256');
    for (const part of parts) expected.update(part);
    expect(await hash.digest()).toBe(expected.digest('hex'));
  });

  it('keeps the order of updates that are not awaited one by one', async () => {
    const pieces = Array.from({ length: 50 }, (_, i) => new Uint8Array(new SharedArrayBuffer(1000 + i)).fill(i));
    const hash = new ThreadHash();
    await Promise.all(pieces.map((p) => hash.update(p)));
    const expected = createHash('sha256');
    for (const p of pieces) expected.update(p);
    expect(await hash.digest()).toBe(expected.digest('hex'));
  });

  it('refuses updates once closed', async () => {
    const hash = new ThreadHash();
    await hash.close();
    await expect(hash.update(Uint8Array.of(1))).rejects.toThrow(/closed/);
  });
});
