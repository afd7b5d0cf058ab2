// A ticket trained at a fine-tuning learning rate (1e-5) applied to a bf16 base: written as bf16, base + δ rounds
// back to the base value for most entries; the default (f32) keeps every change, and both say so.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withAdaptationDefaults } from '@lota/api';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, CheckpointWriter } from '../../src/io/checkpoint.ts';
import { applyTickets } from '../../src/lota/apply.ts';
import { readTicket, type Ticket } from '../../src/lota/ticket.ts';
import { runMerge } from '../../src/merge/run.ts';
import { calibrate } from '../../src/phases/calibrate.ts';
import { trainSparse } from '../../src/phases/train-sparse.ts';
import { taskFile, tinyModelDir } from './fixture-model.ts';

let work: string;
let base: string;
let ticketPath: string;
let ticket: Ticket;

async function weights(dir: string): Promise<Map<string, Float32Array>> {
  const c = await Checkpoint.open(dir);
  const out = new Map<string, Float32Array>();
  for (const n of c.names()) out.set(n, await c.readFloat32(n));
  await c.close();
  return out;
}

/** Ticket entries with δ ≠ 0, and how many of them differ from the base in the written model. */
async function changedAndKept(dir: string): Promise<{ changed: number; kept: number }> {
  const before = await weights(base);
  const after = await weights(dir);
  let changed = 0;
  let kept = 0;
  for (const [name, t] of ticket.tensors) {
    const b = before.get(name) as Float32Array;
    const a = after.get(name) as Float32Array;
    let j = 0;
    for (let i = 0; i < b.length; i++) {
      if (!(((t.mask.bits[i >> 3] as number) >> (i & 7)) & 1)) continue;
      if (t.delta[j++] === 0) continue;
      changed++;
      if (a[i] !== b[i]) kept++;
    }
  }
  return { changed, kept };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'lota-survival-'));
  const f32 = await tinyModelDir(3);
  base = join(work, 'base-bf16');
  const source = await Checkpoint.open(f32);
  const writer = await CheckpointWriter.create(
    base,
    source.names().map((n) => source.info(n)),
    { dtype: 'bf16', sideFilesFrom: f32 },
  );
  for (const n of source.names()) await writer.write(n, await source.readFloat32(n));
  await writer.close();
  await source.close();
  await rm(f32, { recursive: true, force: true });
  const data = await taskFile(work, 'task.jsonl', 16, 5);
  const ctx = {
    spec: withAdaptationDefaults({
      baseModel: { uri: `file://${base}` },
      dataset: { uri: `file://${data}`, format: 'prompt-completion', maxSeqLength: 16, maxPromptLength: 8 },
      lota: { sparsity: 0.9, calibration: { steps: 2, learningRate: 1e-3 } },
      training: { maxSteps: 3, batchSize: 4, gradientAccumulationSteps: 1, learningRate: 1e-5 },
      output: { uri: `file://${join(work, 'run')}` },
    }),
    name: 'fine',
    namespace: 'test',
    ticketRefs: {},
  };
  await calibrate(ctx);
  await trainSparse(ctx);
  ticketPath = join(work, 'run', 'ticket.safetensors');
  ticket = await readTicket(ticketPath);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('a ticket on a bf16 base', () => {
  it('is written in float32 by default, keeping every entry’s change', async () => {
    const out = join(work, 'applied-default');
    const r = await applyTickets(base, [ticketPath], out);
    expect(r.dtype).toBe('f32');
    const { changed, kept } = await changedAndKept(out);
    expect(changed).toBeGreaterThan(100);
    expect(kept).toBe(changed);
    expect(r.survival).toMatchObject({ dtype: 'F32', changed, surviving: changed, fraction: 1 });
  });

  it('forced to bf16, reports the fraction of entries that survive — the same one the written file shows', async () => {
    const out = join(work, 'applied-bf16');
    const r = await applyTickets(base, [ticketPath], out, { dtype: 'bf16' });
    const { changed, kept } = await changedAndKept(out);
    expect(kept).toBeLessThan(changed);
    expect(r.survival).toMatchObject({ dtype: 'BF16', changed, surviving: kept });
    expect(r.survival.fraction).toBeCloseTo(kept / changed, 12);
  });

  it('the merge reports survival the same way, for its default and for a forced bf16 model', async () => {
    const merge = (dtype: 'f32' | 'bf16' | undefined, dir: string) =>
      runMerge({
        method: 'sum',
        baseModel: base,
        inputs: [{ name: 'fine', path: ticketPath }],
        output: { kind: 'model', dir: join(work, dir), ...(dtype ? { dtype } : {}) },
      });
    const wide = await merge(undefined, 'merged-default');
    expect(wide.survival.fraction).toBe(1);
    const narrow = await merge('bf16', 'merged-bf16');
    const { changed, kept } = await changedAndKept(join(work, 'merged-bf16'));
    expect(narrow.survival).toMatchObject({ changed, surviving: kept });
    expect(narrow.survival.fraction).toBeLessThan(1);
  });
});
