// A recorded base fingerprint spares a merge the hashing of the base, and never lets a ticket through for a base
// whose files changed after the record.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseModelMismatchError } from '../../src/errors.ts';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { FingerprintCache, RACY_MARGIN_NS } from '../../src/lota/fingerprint-cache.ts';
import { type MergeSpec, runMerge } from '../../src/merge/run.ts';
import { randomValues, size, sparseDelta, type TensorDef, writeModel, writeTicketFile } from './fixtures.ts';

let dir: string;
const defs: TensorDef[] = [
  { name: 'model.embed_tokens.weight', shape: [32, 8] },
  { name: 'model.layers.0.self_attn.q_proj.weight', shape: [8, 8] },
  { name: 'model.norm.weight', shape: [8] },
];
const shapes = new Map(defs.map((d) => [d.name, d.shape]));
const weights = (seed: number) => new Map(defs.map((d, i) => [d.name, randomValues(size(d.shape), seed + i)]));
const later = () => BigInt(Date.now()) * 1_000_000n + 2n * RACY_MARGIN_NS;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'merge-fingerprint-cache-'));
  await writeModel(join(dir, 'base'), weights(100), defs);
  const delta = new Map([[defs[1]?.name as string, sparseDelta(64, 7, 0.3)]]);
  await writeTicketFile(join(dir, 'ticket.safetensors'), join(dir, 'base'), delta, shapes);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function files(modelDir: string) {
  const checkpoint = await Checkpoint.open(modelDir);
  return { checkpoint, opened: checkpoint.files() };
}

describe('FingerprintCache', () => {
  it('finds a recorded fingerprint while the files are unchanged, and not once one was rewritten', async () => {
    const cache = new FingerprintCache(join(dir, 'unit'), later);
    const { checkpoint, opened } = await files(join(dir, 'base'));
    const first = await cache.lookup(opened);
    expect(first.fingerprint).toBeUndefined();
    expect(await cache.record(first, 'f'.repeat(64))).toBe(true);
    expect((await cache.lookup(opened)).fingerprint).toBe('f'.repeat(64));
    await checkpoint.close();

    // the same bytes written again: a new write is a change, whatever it wrote
    const copy = join(dir, 'copy');
    await writeModel(copy, weights(100), defs);
    const again = await files(copy);
    const identified = await cache.lookup(again.opened);
    expect(await cache.record(identified, 'e'.repeat(64))).toBe(true);
    const shard = join(copy, 'model.safetensors');
    await writeFile(shard, await readFile(shard));
    await again.checkpoint.close();
    const reopened = await files(copy);
    expect((await cache.lookup(reopened.opened)).fingerprint).toBeUndefined();
    await reopened.checkpoint.close();
  });

  it('records nothing for files changed within the margin before the lookup', async () => {
    const cache = new FingerprintCache(join(dir, 'racy'));
    const fresh = join(dir, 'fresh');
    await writeModel(fresh, weights(100), defs);
    const { checkpoint, opened } = await files(fresh);
    expect(await cache.record(await cache.lookup(opened), 'f'.repeat(64))).toBe(false);
    expect(await readdir(join(dir, 'racy')).catch(() => [])).toEqual([]);
    await checkpoint.close();
  });
});

describe('runMerge with a fingerprint cache', () => {
  const spec = (out: string): MergeSpec => ({
    method: 'sum',
    baseModel: join(dir, 'base'),
    inputs: [{ name: 't', path: join(dir, 'ticket.safetensors') }],
    output: { kind: 'model', dir: join(dir, out) },
    fingerprintCache: join(dir, 'fingerprints'),
  });

  it('records the fingerprint it takes, takes it from the record next time, and rejects a changed base', async () => {
    // the base's files must be older than the margin for their fingerprint to be recorded
    await new Promise((resolve) => setTimeout(resolve, Number(RACY_MARGIN_NS / 1_000_000n) + 100));
    const hashed = await runMerge(spec('hashed'));
    expect(hashed.baseFingerprint?.recorded).toBe(false);
    const known = await runMerge(spec('known'));
    expect(known.baseFingerprint).toEqual({ sha256: hashed.baseFingerprint?.sha256, recorded: true });
    expect(known.output.sha256).toBe(hashed.output.sha256);

    // other weights under the same names and shapes: the ticket no longer belongs to this base
    await writeModel(join(dir, 'base'), weights(200), defs);
    await expect(runMerge(spec('changed'))).rejects.toThrow(BaseModelMismatchError);
  });
});
