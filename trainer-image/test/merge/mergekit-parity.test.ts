// Parity with MergeKit (PyPI mergekit, float32) on tiny Llama models made by `transformers` in the test, and a
// `sum` merge of tickets checked bit for bit and through `transformers` logits by an independent Python script.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, CheckpointWriter } from '../../src/io/checkpoint.ts';
import type { MergeMethodName, MergeParameters } from '../../src/merge/methods.ts';
import { runMerge } from '../../src/merge/run.ts';
import { python } from '../helpers/python.ts';
import { randomValues, sparseDelta, writeTicketFile } from './fixtures.ts';

const script = (name: string) => fileURLToPath(new URL(`./python/${name}`, import.meta.url));
let dir: string;
let base: Checkpoint;
const models = ['m0', 'm1', 'm2'];
const tickets = ['t0', 't1', 't2'];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mergekit-parity-'));
  await python(script('make_tiny_llama.py'), [join(dir, 'base'), '1']);
  base = await Checkpoint.open(join(dir, 'base'));
  const names = base.names();
  const shapes = new Map(names.map((n) => [n, base.info(n).shape]));
  // Dense fine-tuned models: base + a dense random δ per tensor (continuous values: no magnitude ties).
  for (const [m, model] of models.entries()) {
    const writer = await CheckpointWriter.create(
      join(dir, model),
      names.map((n) => base.info(n)),
      { sideFilesFrom: join(dir, 'base') },
    );
    for (const [k, name] of names.entries()) {
      const b = await base.readFloat32(name);
      const delta = randomValues(b.length, 1000 * m + k, 0.02);
      await writer.write(
        name,
        b.map((x, i) => x + (delta[i] as number)),
      );
    }
    await writer.close();
  }
  // Tickets on the projection weights only, as LoTA makes them.
  for (const [t, ticket] of tickets.entries()) {
    const deltas = new Map(
      names
        .filter((n) => /_proj\.weight$/.test(n))
        .map((n, k) => [n, sparseDelta(base.info(n).size, 5000 * t + k, 0.2, 0.05)] as const),
    );
    await writeTicketFile(join(dir, `${ticket}.safetensors`), join(dir, 'base'), deltas, shapes);
  }
}, 300_000);
afterAll(async () => {
  await base?.close();
  await rm(dir, { recursive: true, force: true });
});

const MERGEKIT_NAME: Record<MergeMethodName, string> = {
  sum: 'task_arithmetic',
  'task-arithmetic': 'task_arithmetic',
  ties: 'ties',
  'dare-linear': 'dare_linear',
  'dare-ties': 'dare_ties',
};

interface Case {
  label: string;
  method: MergeMethodName;
  weights: number[];
  densities?: number[];
  parameters: MergeParameters;
}

const cases: Case[] = [
  { label: 'task-arithmetic', method: 'task-arithmetic', weights: [1, 0.5, -0.7], parameters: { lambda: 0.8 } },
  {
    label: 'task-arithmetic normalized',
    method: 'task-arithmetic',
    weights: [1, 0.5, 0.25],
    parameters: { normalize: true },
  },
  { label: 'ties', method: 'ties', weights: [1, 0.6, 0.3], densities: [0.5, 0.3, 0.7], parameters: { density: 0.5 } },
  {
    label: 'ties unnormalized with lambda',
    method: 'ties',
    weights: [0.9, 1.2, 0.4],
    densities: [0.4, 0.4, 0.4],
    parameters: { normalize: false, lambda: 1.3 },
  },
];
const slug = (label: string) => label.replaceAll(' ', '-');

/** Our merge and MergeKit's of every case: ours in-process, MergeKit's in one Python process. */
async function runAllCases(): Promise<void> {
  const args: string[] = [];
  for (const c of cases) {
    await runMerge({
      method: c.method,
      baseModel: join(dir, 'base'),
      inputs: models.map((m, i) => ({
        name: m,
        path: join(dir, m),
        weight: c.weights[i] as number,
        ...(c.densities ? { density: c.densities[i] as number } : {}),
      })),
      parameters: c.parameters,
      output: { kind: 'model', dir: join(dir, `ours-${slug(c.label)}`) },
    });
    const { density: _, ...globalParameters } = c.parameters;
    const config = {
      merge_method: MERGEKIT_NAME[c.method],
      base_model: join(dir, 'base'),
      models: models.map((m, i) => ({
        model: join(dir, m),
        parameters: { weight: c.weights[i], ...(c.densities ? { density: c.densities[i] } : {}) },
      })),
      parameters: globalParameters,
      dtype: 'float32',
    };
    await writeFile(join(dir, `${slug(c.label)}.json`), JSON.stringify(config));
    args.push(join(dir, `${slug(c.label)}.json`), join(dir, `mergekit-${slug(c.label)}`));
  }
  await python(script('mergekit_merge.py'), args);
}

/** Largest |ours − MergeKit| over every tensor, and how many entries the merge changed. */
async function compare(label: string): Promise<{ maxDiff: number; changed: number }> {
  const ours = await Checkpoint.open(join(dir, `ours-${slug(label)}`));
  const theirs = await Checkpoint.open(join(dir, `mergekit-${slug(label)}`));
  expect(theirs.names().sort()).toEqual(ours.names().sort());
  let maxDiff = 0;
  let changed = 0;
  for (const name of ours.names()) {
    const a = await ours.readFloat32(name);
    const b = await theirs.readFloat32(name);
    const original = await base.readFloat32(name);
    for (let i = 0; i < a.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
      if (a[i] !== original[i]) changed++;
    }
  }
  await ours.close();
  await theirs.close();
  return { maxDiff, changed };
}

describe('parity with MergeKit (float32)', () => {
  beforeAll(runAllCases, 300_000);
  for (const c of cases) {
    it(`${c.label} equals MergeKit within 1e-6`, async () => {
      const { maxDiff, changed } = await compare(c.label);
      expect(changed).toBeGreaterThan(1000);
      expect(maxDiff).toBeLessThanOrEqual(1e-6);
    });
  }

  it('differs from MergeKit when a parameter differs (the comparison can fail)', async () => {
    const { maxDiff } = await compareDifferent();
    expect(maxDiff).toBeGreaterThan(1e-3);
  });
});

/** Our ties at density 0.5 against MergeKit's at densities [0.5, 0.3, 0.7]. */
async function compareDifferent(): Promise<{ maxDiff: number }> {
  await runMerge({
    method: 'ties',
    baseModel: join(dir, 'base'),
    inputs: models.map((m, i) => ({ name: m, path: join(dir, m), weight: [1, 0.6, 0.3][i] as number })),
    parameters: { density: 0.5 },
    output: { kind: 'model', dir: join(dir, 'ours-ties-other') },
  });
  const ours = await Checkpoint.open(join(dir, 'ours-ties-other'));
  const theirs = await Checkpoint.open(join(dir, `mergekit-${slug('ties')}`));
  let maxDiff = 0;
  for (const name of ours.names()) {
    const a = await ours.readFloat32(name);
    const b = await theirs.readFloat32(name);
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
  }
  await ours.close();
  await theirs.close();
  return { maxDiff };
}

describe('sum of tickets, checked independently in Python and through transformers', () => {
  it('equals base + Σδ bit for bit (sharded output) and gives the same logits', async () => {
    const out = join(dir, 'sum');
    const result = await runMerge({
      method: 'sum',
      baseModel: join(dir, 'base'),
      inputs: tickets.map((t) => ({ name: t, path: join(dir, `${t}.safetensors`) })),
      output: { kind: 'model', dir: out, maxShardBytes: 40_000 },
    });
    expect(result.output.changedTensors).toBe(14);
    const check = await python<{
      changedTensors: string[];
      mismatchedTensors: string[];
      logitsEqual: boolean;
      logitsMaxAbsDiff: number;
      baseLogitsMaxAbsDiff: number;
    }>(script('check_sum.py'), [join(dir, 'base'), out, ...tickets.map((t) => join(dir, `${t}.safetensors`))]);
    expect(check.changedTensors.length).toBe(14);
    expect(check.mismatchedTensors).toEqual([]);
    expect(check.logitsEqual).toBe(true);
    expect(check.logitsMaxAbsDiff).toBe(0);
    expect(check.baseLogitsMaxAbsDiff).toBeGreaterThan(1e-4); // the tickets did change the model
  });
});
