import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LotaAdaptationSpec, withAdaptationDefaults } from '@lota/api';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseModelMismatchError } from '../../src/errors.ts';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { SafetensorsReader } from '../../src/io/safetensors.ts';
import { applyTickets } from '../../src/lota/apply.ts';
import { disjoint } from '../../src/lota/mask.ts';
import { readMaskFile } from '../../src/lota/mask-file.ts';
import { readTicket } from '../../src/lota/ticket.ts';
import { calibrate } from '../../src/phases/calibrate.ts';
import type { PhaseContext } from '../../src/phases/context.ts';
import { trainFull } from '../../src/phases/train-full.ts';
import { trainLora } from '../../src/phases/train-lora.ts';
import { trainSparse } from '../../src/phases/train-sparse.ts';
import { taskFile, tinyModelDir } from '../lota/fixture-model.ts';

let base: string;
let work: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  base = await tinyModelDir(0);
  work = await mkdtemp(join(tmpdir(), 'lota-phases-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

async function context(
  name: string,
  overrides: Partial<LotaAdaptationSpec> & { lota?: LotaAdaptationSpec['lota'] },
  refs: Record<string, string> = {},
): Promise<PhaseContext> {
  const data = await taskFile(work, `${name}.jsonl`, 16, name.length);
  const evalData = await taskFile(work, `${name}-eval.jsonl`, 4, name.length + 100);
  const spec = withAdaptationDefaults({
    baseModel: { uri: `file://${base}` },
    dataset: {
      uri: `file://${data}`,
      evalUri: `file://${evalData}`,
      format: 'prompt-completion',
      maxSeqLength: 16,
      maxPromptLength: 8,
    },
    training: { maxSteps: 4, batchSize: 4, gradientAccumulationSteps: 1, learningRate: 1e-2 },
    output: { uri: `file://${join(work, name)}` },
    ...overrides,
  } as LotaAdaptationSpec);
  return { spec, name, namespace: 'test', ticketRefs: refs };
}

async function weights(dir: string): Promise<Map<string, Float32Array>> {
  const c = await Checkpoint.open(dir);
  const out = new Map<string, Float32Array>();
  for (const n of c.names()) out.set(n, await c.readFloat32(n));
  await c.close();
  return out;
}

describe('LoTA phases on a tiny model', () => {
  it('calibrates, trains only the mask, and the ticket applied to the base is the trained model', async () => {
    const ctx = await context('task-a', { lota: { sparsity: 0.9, calibration: { steps: 3 } } });
    const cal = await calibrate(ctx);
    expect(cal.mask?.density).toBeGreaterThan(0.09);
    expect(cal.mask?.density).toBeLessThan(0.2);
    const out = await trainSparse(ctx);
    expect(out.ticket?.bytes).toBeGreaterThan(0);
    expect(out.results?.evalLoss).toBeTypeOf('number');

    const ticketPath = join(work, 'task-a', 'ticket.safetensors');
    const ticket = await readTicket(ticketPath);
    expect(ticket.info.method).toBe('lota');
    const applied = join(work, 'task-a-applied');
    await applyTickets(base, [ticketPath], applied);
    const before = await weights(base);
    const after = await weights(applied);
    // Outside the ticket nothing moved (bit for bit); inside, something did.
    let moved = 0;
    for (const [name, b] of before) {
      const a = after.get(name) as Float32Array;
      const t = ticket.tensors.get(name);
      for (let i = 0; i < b.length; i++) {
        const inMask = t !== undefined && ((t.mask.bits[i >> 3] as number) >> (i & 7)) & 1;
        if (!inMask) expect(Object.is(a[i], b[i])).toBe(true);
        else if (a[i] !== b[i]) moved++;
      }
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('LoTTO: a second task excludes the first ticket, so the masks are disjoint', async () => {
    const first = join(work, 'task-a', 'ticket.safetensors');
    const ctx = await context(
      'task-b',
      { lota: { sparsity: 0.9, calibration: { steps: 3 }, excludeTicketsOf: ['task-a'] } },
      {
        'task-a': `file://${first}`,
      },
    );
    await calibrate(ctx);
    await trainSparse(ctx);
    const a = await readTicket(first);
    const b = await readTicket(join(work, 'task-b', 'ticket.safetensors'));
    for (const [name, t] of b.tensors) {
      const other = a.tensors.get(name);
      if (other) expect(disjoint(t.mask, other.mask)).toBe(true);
    }
    // Both tickets on the base at once: each keeps its own entries.
    await applyTickets(base, [first, join(work, 'task-b', 'ticket.safetensors')], join(work, 'ab'));
  });

  it('random masks need no calibration and keep the density per tensor', async () => {
    const ctx = await context('random', { lota: { sparsity: 0.75, maskSelection: 'random' } });
    const out = await calibrate(ctx);
    expect(out.results).toBeUndefined();
    const { masks, info } = await readMaskFile(join(work, 'random', 'mask.safetensors'));
    expect(info.selection).toBe('random');
    expect(masks.size).toBe(14);
  });

  it('refuses a mask or ticket of another base model', async () => {
    const other = await tinyModelDir(1);
    try {
      const ctx = await context('task-a', { lota: { sparsity: 0.9, calibration: { steps: 3 } } });
      const moved = { ...ctx, spec: { ...ctx.spec, baseModel: { uri: `file://${other}` } } };
      await expect(trainSparse(moved)).rejects.toBeInstanceOf(BaseModelMismatchError);
      await expect(
        applyTickets(other, [join(work, 'task-a', 'ticket.safetensors')], join(work, 'x')),
      ).rejects.toBeInstanceOf(BaseModelMismatchError);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('full fine-tuning writes a model directory', async () => {
    const ctx = await context('full', { method: 'full' });
    const out = await trainFull(ctx);
    expect(out.output?.bytes).toBeGreaterThan(0);
    const w = await weights(join(work, 'full', 'model'));
    expect(w.size).toBe((await weights(base)).size);
  });

  it('LoRA writes a PEFT adapter and the merged model W + (alpha/r)·B·A; other weights stay the base', async () => {
    const ctx = await context('lora', {
      method: 'lora',
      lora: { rank: 2, alpha: 4, targets: ['*.q_proj.weight', '*.down_proj.weight'] },
    });
    const out = await trainLora(ctx);
    expect(out.output?.uri).toBe(`file://${join(work, 'lora', 'model')}`);
    const config = JSON.parse(readFileSync(join(work, 'lora', 'adapter', 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'down_proj'] });
    const adapter = await SafetensorsReader.open(join(work, 'lora', 'adapter', 'adapter_model.safetensors'));
    expect(adapter.names()).toHaveLength(8);
    const before = await weights(base);
    const after = await weights(join(work, 'lora', 'model'));
    const name = 'model.layers.1.self_attn.q_proj.weight';
    const a = await adapter.readFloat32('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight');
    const b = await adapter.readFloat32('base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight');
    await adapter.close();
    const [outDim, inDim] = [16, 16];
    const w = before.get(name) as Float32Array;
    const merged = after.get(name) as Float32Array;
    let changed = 0;
    for (let o = 0; o < outDim; o++) {
      for (let i = 0; i < inDim; i++) {
        let ba = 0;
        for (let r = 0; r < 2; r++) ba += (b[o * 2 + r] as number) * (a[r * inDim + i] as number);
        const expected = (w[o * inDim + i] as number) + 2 * ba;
        expect(Math.abs((merged[o * inDim + i] as number) - expected)).toBeLessThan(1e-6);
        if (merged[o * inDim + i] !== w[o * inDim + i]) changed++;
      }
    }
    expect(changed).toBeGreaterThan(0);
    for (const n of ['model.embed_tokens.weight', 'model.layers.0.self_attn.k_proj.weight', 'model.norm.weight']) {
      expect(Buffer.from((after.get(n) as Float32Array).buffer)).toEqual(
        Buffer.from((before.get(n) as Float32Array).buffer),
      );
    }
  });
});
