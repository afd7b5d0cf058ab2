import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Checkpoint,
  type CheckpointWriteOptions,
  CheckpointWriter,
  INDEX_FILE,
  planShards,
  shardFileName,
} from '../../src/io/checkpoint.ts';
import { f32ToBf16, InvalidArtifactError, SafetensorsReader, writeSafetensors } from '../../src/io/safetensors.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checkpoint-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const tensors = [
  { name: 'model.embed_tokens.weight', dtype: 'F32' as const, shape: [16, 8] },
  { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32' as const, shape: [8, 8] },
  { name: 'model.layers.0.input_layernorm.weight', dtype: 'F32' as const, shape: [8] },
  { name: 'model.norm.weight', dtype: 'F32' as const, shape: [8] },
  { name: 'position_ids', dtype: 'I64' as const, shape: [4] },
];
const values = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k) * (k + 1));

async function source(): Promise<string> {
  const src = join(dir, 'source');
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'config.json'), JSON.stringify({ model_type: 'llama', dtype: 'float32' }));
  await writeFile(join(src, 'tokenizer.json'), '{"model": {}}');
  await writeFile(join(src, 'tokenizer_config.json'), '{}');
  return src;
}

async function writeModel(out: string, options: CheckpointWriteOptions): Promise<void> {
  const writer = await CheckpointWriter.create(out, tensors, options);
  for (const [k, t] of tensors.entries()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    await writer.write(
      t.name,
      t.dtype === 'I64' ? BigInt64Array.from({ length: n }, (_, i) => BigInt(i)) : values(n, k),
    );
  }
  await writer.close();
}

describe('checkpoint directories', () => {
  it('shards by size, writes the index, copies side files, and reads every tensor back by name', async () => {
    const out = join(dir, 'sharded');
    await writeModel(out, { maxShardBytes: 300, sideFilesFrom: await source() });
    const files = (await readdir(out)).sort();
    expect(files).toEqual([
      'config.json',
      shardFileName(1, 3),
      shardFileName(2, 3),
      shardFileName(3, 3),
      INDEX_FILE,
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const index = JSON.parse(await readFile(join(out, INDEX_FILE), 'utf8'));
    expect(index.metadata.total_size).toBe(16 * 8 * 4 + 64 * 4 + 8 * 4 + 8 * 4 + 4 * 8);
    expect(index.weight_map['model.embed_tokens.weight']).toBe('model-00001-of-00003.safetensors');
    expect(index.weight_map['model.norm.weight']).toBe('model-00003-of-00003.safetensors');

    const checkpoint = await Checkpoint.open(out);
    expect(checkpoint.names().sort()).toEqual(tensors.map((t) => t.name).sort());
    for (const [k, t] of tensors.entries()) {
      if (t.dtype === 'F32')
        expect(await checkpoint.readFloat32(t.name)).toEqual(
          values(
            t.shape.reduce((a, b) => a * b, 1),
            k,
          ),
        );
    }
    expect(Array.from((await checkpoint.read('position_ids')) as BigInt64Array)).toEqual([0n, 1n, 2n, 3n]);
    await checkpoint.close();
    const shard = await SafetensorsReader.open(join(out, shardFileName(1, 3)));
    expect(shard.metadata).toEqual({ format: 'pt' });
    await shard.close();
  });

  it('writes one model.safetensors in bf16 when everything fits, updating config dtype', async () => {
    const out = join(dir, 'single');
    await writeModel(out, { dtype: 'bf16', sideFilesFrom: await source() });
    expect((await readdir(out)).sort()).toEqual([
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    expect(JSON.parse(await readFile(join(out, 'config.json'), 'utf8')).dtype).toBe('bfloat16');
    const checkpoint = await Checkpoint.open(out);
    expect(checkpoint.info('model.norm.weight').dtype).toBe('BF16');
    expect(checkpoint.info('position_ids').dtype).toBe('I64');
    expect(await checkpoint.read('model.norm.weight')).toEqual(f32ToBf16(values(8, 3)));
    await checkpoint.close();
  });

  it('plans shards greedily, giving an oversized tensor a shard of its own', () => {
    const specs = [100, 10, 10, 500, 10].map((n) => ({ dtype: 'F32' as const, shape: [n] }));
    expect(planShards(specs, 200).map((g) => g.map((s) => s.shape[0]))).toEqual([[100], [10, 10], [500], [10]]);
  });
});

describe('malformed checkpoint directories', () => {
  async function sharded(name: string, weightMap: unknown, shards: Record<string, string[]>): Promise<string> {
    const out = join(dir, name);
    await mkdir(out, { recursive: true });
    for (const [file, names] of Object.entries(shards)) {
      await writeSafetensors(
        join(out, file),
        names.map((n) => ({ name: n, dtype: 'F32' as const, shape: [2], data: new Float32Array(2) })),
      );
    }
    await writeFile(
      join(out, INDEX_FILE),
      typeof weightMap === 'string' ? weightMap : JSON.stringify({ weight_map: weightMap }),
    );
    return out;
  }
  const cases: [string, () => Promise<string>, RegExp, string?][] = [
    ['index is not JSON', () => sharded('badjson', '{"weight_map": ', { 'a.safetensors': ['a'] }), /is not valid JSON/],
    ['index without weight_map', () => sharded('nomap', '{"metadata": {}}', {}), /has no weight_map object/],
    [
      'shard listed by the index is missing',
      () => sharded('missing', { a: 'a.safetensors', b: 'b.safetensors' }, { 'a.safetensors': ['a'] }),
      /shard b.safetensors is missing/,
      'b',
    ],
    [
      'index points outside the directory',
      () => sharded('escape', { a: '../a.safetensors' }, {}),
      /not a file name in the directory/,
      'a',
    ],
    [
      'index maps a tensor the shard lacks',
      () => sharded('lacks', { a: 'a.safetensors', b: 'a.safetensors' }, { 'a.safetensors': ['a'] }),
      /the shard lacks it/,
      'b',
    ],
    [
      'shard holds a tensor the index does not list',
      () => sharded('unlisted', { a: 'a.safetensors' }, { 'a.safetensors': ['a', 'z'] }),
      /weight_map does not list it/,
      'z',
    ],
    [
      'directory without weights',
      async () => {
        const p = join(dir, 'empty');
        await mkdir(p, { recursive: true });
        return p;
      },
      /has neither model.safetensors nor/,
    ],
    ['directory not found', async () => join(dir, 'absent'), /directory not found/],
  ];
  for (const [title, make, message, tensor] of cases) {
    it(title, async () => {
      const path = await make();
      const error = await Checkpoint.open(path, { reason: 'InvalidTicket' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidArtifactError);
      expect((error as InvalidArtifactError).message).toMatch(message);
      expect((error as InvalidArtifactError).message).toContain(path);
      expect((error as InvalidArtifactError).tensor).toBe(tensor);
      expect((error as InvalidArtifactError).reason).toBe('InvalidTicket');
    });
  }

  it('a corrupt shard names the shard file', async () => {
    const out = await sharded('corrupt', { a: 'a.safetensors' }, {});
    await writeFile(join(out, 'a.safetensors'), Buffer.from([1, 2, 3]));
    await expect(Checkpoint.open(out)).rejects.toThrow(`${join(out, 'a.safetensors')}: file is 3 bytes`);
  });

  it('a config.json that is not JSON is refused by name', async () => {
    const out = join(dir, 'badconfig');
    await mkdir(out, { recursive: true });
    await writeSafetensors(join(out, 'model.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) },
    ]);
    await writeFile(join(out, 'config.json'), '{ nope');
    const checkpoint = await Checkpoint.open(out);
    await expect(checkpoint.config()).rejects.toThrow(`${join(out, 'config.json')}: is not a JSON object`);
    await checkpoint.close();
  });
});
