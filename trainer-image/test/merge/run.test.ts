import { copyFile, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseModelMismatchError } from '../../src/errors.ts';
import { Checkpoint } from '../../src/io/checkpoint.ts';
import { digestPath } from '../../src/io/digest.ts';
import { InvalidArtifactError } from '../../src/io/errors.ts';
import { SafetensorsReader } from '../../src/io/safetensors.ts';
import { applyTicketTensor, readTicket } from '../../src/lota/ticket.ts';
import { MergeSpecError, runMerge } from '../../src/merge/run.ts';
import { randomValues, size, sparseDelta, type TensorDef, writeModel, writeTicketFile } from './fixtures.ts';

let dir: string;
const defs: TensorDef[] = [
  { name: 'model.embed_tokens.weight', shape: [32, 8] },
  { name: 'model.layers.0.self_attn.q_proj.weight', shape: [8, 8] },
  { name: 'model.layers.0.mlp.up_proj.weight', shape: [16, 8] },
  { name: 'model.norm.weight', shape: [8] },
  { name: 'position_ids', shape: [4], dtype: 'I64' },
];
const targets = defs.slice(1, 3);
const shapes = new Map(defs.map((d) => [d.name, d.shape]));
const base = new Map(defs.map((d, i) => [d.name, randomValues(size(d.shape), 100 + i)]));
const tickets: Map<string, Float32Array>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'merge-run-'));
  await writeModel(join(dir, 'base'), base, defs);
  for (let t = 0; t < 3; t++) {
    const deltas = new Map(targets.map((d, i) => [d.name, sparseDelta(size(d.shape), 10 * t + i, 0.3)]));
    tickets.push(deltas);
    await writeTicketFile(join(dir, `ticket${t}.safetensors`), join(dir, 'base'), deltas, shapes);
  }
  // a dense "fine-tuned" model equal to base + ticket 0
  const tuned = new Map(base);
  for (const [name, delta] of tickets[0] as Map<string, Float32Array>) {
    tuned.set(
      name,
      (base.get(name) as Float32Array).map((x, i) => x + (delta[i] as number)),
    );
  }
  await writeModel(join(dir, 'tuned0'), tuned, defs);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const inputs = () => [0, 1, 2].map((t) => ({ name: `t${t}`, path: join(dir, `ticket${t}.safetensors`) }));

describe('runMerge', () => {
  it('sum of tickets is base + Σδ exactly, copies untouched tensors, and reports interference', async () => {
    const out = join(dir, 'sum');
    const result = await runMerge({
      method: 'sum',
      baseModel: join(dir, 'base'),
      inputs: inputs(),
      output: { kind: 'model', dir: out, maxShardBytes: 600 },
      interferencePath: join(dir, 'sum-interference.json'),
    });
    const merged = await Checkpoint.open(out);
    for (const d of defs.filter((x) => x.dtype === undefined)) {
      const b = base.get(d.name) as Float32Array;
      const expected = b.map((x, i) => {
        let sum = 0;
        for (const t of tickets) sum = Math.fround(sum + ((t.get(d.name)?.[i] as number) ?? 0));
        return x + sum;
      });
      expect(await merged.readFloat32(d.name)).toEqual(expected);
    }
    expect(Array.from((await merged.read('position_ids')) as BigInt64Array)).toEqual([0n, 1n, 2n, 3n]);
    expect(merged.info('model.norm.weight').file).not.toBe(merged.info('model.embed_tokens.weight').file);
    await merged.close();
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).model_type).toBe('test');

    // the shards were hashed as they were written; the digest is the one a fresh read of the directory gives
    expect(result.output).toMatchObject(await digestPath(out));
    expect(result.output.changedTensors).toBe(2);
    expect(result.largestTensor).toBe(256);
    const report = result.interference;
    expect(report.tensors.map((t) => t.name)).toEqual(targets.map((t) => t.name));
    // recount claims, overlaps, conflicts and Jaccard independently, entry by entry
    let claimed = 0;
    let overlapping = 0;
    let conflicts = 0;
    const inter = [0, 0, 0].map(() => [0, 0, 0]);
    const at = (a: number, b: number) => inter[a]?.[b] as number;
    for (const d of targets) {
      for (let j = 0; j < size(d.shape); j++) {
        const v = tickets.map((t) => t.get(d.name)?.[j] as number);
        const owners = v.filter((x) => x !== 0);
        if (owners.length > 0) claimed++;
        if (owners.length > 1) overlapping++;
        if (owners.length > 1 && owners.some((x) => x > 0) && owners.some((x) => x < 0)) conflicts++;
        for (let a = 0; a < 3; a++)
          for (let b = 0; b < 3; b++) if (v[a] !== 0 && v[b] !== 0) (inter[a] as number[])[b] = at(a, b) + 1;
      }
    }
    expect(report.total).toMatchObject({ claimed, overlapping, signConflicts: conflicts });
    const jac01 = at(0, 1) / (at(0, 0) + at(1, 1) - at(0, 1));
    expect(report.jaccard[0]?.[1]).toBeCloseTo(jac01, 5);
    expect(report.inputs.map((i) => i.survivingL1Fraction)).toEqual([1, 1, 1]);
    expect(result.summary.tickets).toBe(3);
    expect(result.summary.overlappingEntries).toBe(overlapping);
    expect(result.summary.maxPairwiseJaccard).toBe(
      Math.max(
        ...[0, 1, 2].flatMap((a) => [0, 1, 2].filter((b) => b > a).map((b) => report.jaccard[a]?.[b] as number)),
      ),
    );
    expect(JSON.parse(await readFile(join(dir, 'sum-interference.json'), 'utf8')).total.overlapping).toBe(overlapping);
  });

  it('a dense fine-tuned model and the equivalent ticket merge alike (up to the rounding of θ − θ_base)', async () => {
    const viaModel = await runMerge({
      method: 'task-arithmetic',
      baseModel: join(dir, 'base'),
      inputs: [{ name: 'dense', path: join(dir, 'tuned0'), weight: 0.5 }],
      parameters: { lambda: 2 },
      output: { kind: 'model', dir: join(dir, 'ta-dense') },
    });
    const viaTicket = await runMerge({
      method: 'task-arithmetic',
      baseModel: join(dir, 'base'),
      inputs: [{ name: 'ticket', path: join(dir, 'ticket0.safetensors'), weight: 0.5 }],
      parameters: { lambda: 2 },
      output: { kind: 'model', dir: join(dir, 'ta-ticket') },
    });
    expect(viaModel.output.changedTensors).toBe(4); // a dense model is read for every float tensor
    expect(viaTicket.output.changedTensors).toBe(2);
    const a = await Checkpoint.open(join(dir, 'ta-dense'));
    const b = await Checkpoint.open(join(dir, 'ta-ticket'));
    for (const d of targets) {
      const x = await a.readFloat32(d.name);
      const y = await b.readFloat32(d.name);
      for (let i = 0; i < x.length; i++) expect(Math.abs((x[i] as number) - (y[i] as number))).toBeLessThan(1e-6);
    }
    expect(await a.readFloat32('model.norm.weight')).toEqual(base.get('model.norm.weight'));
    await a.close();
    await b.close();
  });

  it('sum and task-arithmetic over tickets (the sparse path) equal the dense path bit for bit', async () => {
    // The same tickets plus a zero-weight dense input (the base itself, δ = 0) go down the dense path. The tickets
    // at density 0.3 store bitmasks, those at 0.05 gaps (whose decoding hands the scatter-add the indices).
    const sparser: string[] = [];
    for (let t = 0; t < 3; t++) {
      const deltas = new Map(targets.map((d, i) => [d.name, sparseDelta(size(d.shape), 50 + 10 * t + i, 0.05)]));
      sparser.push(join(dir, `sparser${t}.safetensors`));
      await writeTicketFile(sparser[t] as string, join(dir, 'base'), deltas, shapes);
    }
    const reader = await SafetensorsReader.open(sparser[0] as string);
    expect(Object.values(JSON.parse(reader.metadata.mask_coding as string))).toEqual(['gaps', 'gaps']);
    await reader.close();
    const zero = { name: 'zero', path: join(dir, 'base'), weight: 0 };
    const cases = [
      ['sum', {}, inputs()],
      ['task-arithmetic', { lambda: 0.7, normalize: true }, inputs()],
      ['sum', {}, sparser.map((path, t) => ({ name: `s${t}`, path }))],
    ] as const;
    for (const [c, [method, parameters, tickets]] of cases.entries()) {
      const weighted = tickets.map((input, i) => ({ ...input, weight: [1, 0.5, -2][i] as number }));
      // (a bf16 model output: survival then counts the entries whose bf16 value changes)
      for (const [kind, dtype] of [
        ['model', 'f32'],
        ['model', 'bf16'],
        ['ticket', 'f32'],
      ] as const) {
        const run = (extra: (typeof zero)[], out: string) =>
          runMerge({
            method,
            baseModel: join(dir, 'base'),
            inputs: [...weighted, ...extra],
            parameters,
            output:
              kind === 'model'
                ? { kind, dir: join(dir, `${c}-${method}-${dtype}-${out}`), dtype }
                : { kind, path: join(dir, `${c}-${method}-${out}.safetensors`) },
          });
        const sparse = await run([], `sparse-${kind}`);
        const dense = await run([zero], `dense-${kind}`);
        // (the dense model makes every float tensor a merged one, so only `entries` may differ)
        expect({ ...sparse.interference.total, entries: 0 }).toEqual({ ...dense.interference.total, entries: 0 });
        expect(sparse.interference.inputs).toEqual(dense.interference.inputs.slice(0, 3));
        for (const tensor of sparse.interference.tensors) {
          const other = dense.interference.tensors.find((t) => t.name === tensor.name);
          expect(tensor.jaccard).toEqual(other?.jaccard.slice(0, 3).map((row) => row.slice(0, 3)));
        }
        expect(sparse.survival).toEqual(dense.survival);
        if (kind === 'model') {
          const a = await Checkpoint.open(sparse.output.path);
          const b = await Checkpoint.open(dense.output.path);
          for (const d of defs.filter((x) => x.dtype === undefined))
            expect(await a.readFloat32(d.name)).toEqual(await b.readFloat32(d.name));
          await a.close();
          await b.close();
        } else {
          const a = await readTicket(sparse.output.path);
          const b = await readTicket(dense.output.path);
          expect(a.info.baseFingerprint).toBe(b.info.baseFingerprint);
          for (const d of targets) expect(a.tensors.get(d.name)).toEqual(b.tensors.get(d.name));
        }
      }
    }
  });

  it('a merged ticket applied to the base gives the merged model, and keeps only what contributed', async () => {
    const spec = {
      method: 'ties' as const,
      baseModel: join(dir, 'base'),
      inputs: inputs(),
      parameters: { density: 0.5 },
    };
    const model = await runMerge({ ...spec, output: { kind: 'model', dir: join(dir, 'ties-model') } });
    expect(model.output).toMatchObject(await digestPath(join(dir, 'ties-model')));
    const ticket = await runMerge({ ...spec, output: { kind: 'ticket', path: join(dir, 'ties.safetensors') } });
    expect(model.interference).toEqual(ticket.interference);
    expect(model.interference.inputs.every((i) => i.survivingL1Fraction < 1)).toBe(true);
    const merged = await readTicket(join(dir, 'ties.safetensors'));
    expect([...merged.tensors.keys()].sort()).toEqual(targets.map((t) => t.name).sort());
    const a = await Checkpoint.open(join(dir, 'ties-model'));
    for (const d of defs.filter((x) => x.dtype === undefined)) {
      const t = merged.tensors.get(d.name);
      const applied = t ? applyTicketTensor(d.name, base.get(d.name) as Float32Array, t) : base.get(d.name);
      expect(await a.readFloat32(d.name)).toEqual(applied);
    }
    await a.close();
  });

  it('writes bf16 output and is deterministic for dare by seed', async () => {
    const run = (seed: number, out: string) =>
      runMerge({
        method: 'dare-ties',
        baseModel: join(dir, 'base'),
        inputs: inputs(),
        parameters: { density: 0.5, seed },
        output: { kind: 'model', dir: join(dir, out), dtype: 'bf16' },
      });
    const [a, b, c] = [await run(7, 'dare-a'), await run(7, 'dare-b'), await run(8, 'dare-c')];
    const shard = (r: typeof a) => readFile(join(r.output.path, 'model.safetensors'));
    expect(await shard(a)).toEqual(await shard(b));
    expect(await shard(a)).not.toEqual(await shard(c));
    const m = await Checkpoint.open(a.output.path);
    expect(m.info('model.norm.weight').dtype).toBe('BF16');
    await m.close();
  });
});

describe('runMerge refuses bad input by name', () => {
  const baseSpec = () => ({
    method: 'sum' as const,
    baseModel: join(dir, 'base'),
    inputs: inputs(),
    output: { kind: 'model' as const, dir: join(dir, 'never') },
  });

  it('spec errors', async () => {
    await expect(runMerge({ ...baseSpec(), method: 'slerp' as never })).rejects.toThrow(MergeSpecError);
    await expect(runMerge({ ...baseSpec(), method: 'ties' })).rejects.toThrow(/method ties needs a density/);
    await expect(runMerge({ ...baseSpec(), inputs: [] })).rejects.toThrow(/at least one input/);
    await expect(runMerge({ ...baseSpec(), method: 'ties', parameters: { density: 1.5 } })).rejects.toThrow(
      /density must be in \(0, 1\]/,
    );
    await expect(runMerge({ ...baseSpec(), inputs: [...inputs(), ...inputs()] })).rejects.toThrow(/used twice/);
    await expect(runMerge({ ...baseSpec(), output: { kind: 'model', dir: join(dir, 'base', '.') } })).rejects.toThrow(
      /would overwrite an input/,
    );
  });

  it('a ticket of another base is refused by fingerprint', async () => {
    const other = join(dir, 'other-base');
    await writeModel(other, new Map(defs.map((d, i) => [d.name, randomValues(size(d.shape), 900 + i)])), defs);
    await expect(runMerge({ ...baseSpec(), baseModel: other })).rejects.toThrow(BaseModelMismatchError);
  });

  it('a model of another shape is refused', async () => {
    const small = join(dir, 'small');
    const smallDefs = defs.map((d) => (d.name === 'model.norm.weight' ? { ...d, shape: [4] } : d));
    await writeModel(small, new Map(smallDefs.map((d, i) => [d.name, randomValues(size(d.shape), i)])), smallDefs);
    await expect(runMerge({ ...baseSpec(), inputs: [{ name: 'small', path: small }] })).rejects.toThrow(
      /model.norm.weight has shape \[4\], the base has \[8\]/,
    );
  });

  it('an untouched tensor larger than a copy piece is copied piece by piece, fingerprint and digest intact', async () => {
    const bigDefs: TensorDef[] = [
      { name: 'a.weight', shape: [8, 8] },
      { name: 'big.weight', shape: [2100, 1024] }, // 8.4 MB: more than one 8 MiB piece
      { name: 'z.weight', shape: [4, 4] },
    ];
    const bigShapes = new Map(bigDefs.map((d) => [d.name, d.shape]));
    const values = new Map(bigDefs.map((d, i) => [d.name, randomValues(size(d.shape), 500 + i)]));
    await writeModel(join(dir, 'big-base'), values, bigDefs);
    const delta = new Map([['z.weight', sparseDelta(16, 3, 0.5)]]);
    await writeTicketFile(join(dir, 'big-ticket.safetensors'), join(dir, 'big-base'), delta, bigShapes);
    const out = join(dir, 'big-out');
    const result = await runMerge({
      method: 'sum',
      baseModel: join(dir, 'big-base'),
      inputs: [{ name: 't', path: join(dir, 'big-ticket.safetensors') }],
      output: { kind: 'model', dir: out },
    });
    expect(result.output).toMatchObject(await digestPath(out));
    const merged = await Checkpoint.open(out);
    expect(await merged.readFloat32('big.weight')).toEqual(values.get('big.weight'));
    expect(await merged.readFloat32('a.weight')).toEqual(values.get('a.weight'));
    const z = values.get('z.weight') as Float32Array;
    expect(await merged.readFloat32('z.weight')).toEqual(
      z.map((x, i) => x + ((delta.get('z.weight') as Float32Array)[i] as number)),
    );
    await merged.close();
  });

  it('a ticket holding a NaN or an infinite delta is refused', async () => {
    for (const [i, bad] of [Number.NaN, -Infinity].entries()) {
      const path = join(dir, `bad${i}.safetensors`);
      await copyFile(join(dir, 'ticket1.safetensors'), path);
      const reader = await SafetensorsReader.open(path);
      const at = reader.info(`delta/${targets[1]?.name}`).begin + 4 * 3;
      await reader.close();
      const file = await open(path, 'r+');
      await file.write(new Uint8Array(Float32Array.of(bad).buffer), 0, 4, at);
      await file.close();
      await expect(runMerge({ ...baseSpec(), inputs: [{ name: 'bad', path }] })).rejects.toThrow(
        /holds a NaN or infinite delta/,
      );
    }
  });

  it('missing or non-ticket inputs', async () => {
    await expect(
      runMerge({ ...baseSpec(), inputs: [{ name: 'x', path: join(dir, 'nope.safetensors') }] }),
    ).rejects.toThrow(InvalidArtifactError);
    await expect(
      runMerge({ ...baseSpec(), inputs: [{ name: 'x', path: join(dir, 'base', 'model.safetensors') }] }),
    ).rejects.toThrow(/is not a LoTA ticket/);
  });
});
