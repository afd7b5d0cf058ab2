// Staging s3:// inputs and publishing s3:// outputs against a real S3-compatible server (versitygw): content-keyed
// cache, sha256 recorded on upload and verified on download, an output mirrored for the next phase, classified
// failures whose messages never carry the secret key, and uploads that are invisible until complete (SIGKILL).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, startS3Server } from '../../../e2e/servers/s3.ts';
import { classify } from '../../src/cli/errors.ts';
import type { StorageConfig } from '../../src/storage/config.ts';
import { downloadPool, poolSize } from '../../src/storage/download-pool.ts';
import { StorageError } from '../../src/storage/errors.ts';
import { SHA256_METADATA, s3Client, uploadS3File } from '../../src/storage/s3.ts';
import { stagePhase } from '../../src/storage/stage.ts';

const UPLOADER = fileURLToPath(new URL('./upload-child.ts', import.meta.url));

describe('staging s3:// inputs and outputs', () => {
  let s3: S3Server;
  let dir: string;
  let client: S3Client;
  let config: StorageConfig;
  const stage = (spec: object, ticketRefs: Record<string, string> = {}) =>
    stagePhase({ spec, ticketRefs, pvcRoot: dir, scratchDir: join(dir, 'scratch'), config, log: () => {} });
  const withKeys = async <T>(keys: Record<string, string>, fn: () => Promise<T>) => {
    const saved = { ...process.env };
    Object.assign(process.env, keys);
    try {
      return await fn();
    } finally {
      for (const k of Object.keys(keys)) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lota-stage-s3-'));
    s3 = await startS3Server();
    await s3.createBucket('models');
    await s3.createBucket('runs');
    config = {
      hubEndpoint: 'http://127.0.0.1:1',
      s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
      cacheDir: join(dir, 'cache'),
    };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
    client = s3Client(config);
    for (const [key, body] of [
      ['base/config.json', '{"model_type":"llama"}'],
      ['base/weights/model.safetensors', 'x'.repeat(5000)],
      ['data/train.jsonl', '{"text":"hi"}\n'],
    ] as const) {
      await client.send(new PutObjectCommand({ Bucket: 'models', Key: key, Body: body }));
    }
  });
  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('stages a prefix and an object into the cache once, and publishes outputs with their sha256, records last', async () => {
    const spec = {
      baseModel: { uri: 's3://models/base' },
      dataset: { uri: 's3://models/data/train.jsonl' },
      output: { uri: 's3://runs/a' },
    };
    const staged = await stage(spec);
    const s = staged.spec as typeof spec;
    const base = s.baseModel.uri.slice('file://'.length);
    expect(await readFile(join(base, 'weights/model.safetensors'), 'utf8')).toBe('x'.repeat(5000));
    expect(await readFile(s.dataset.uri.slice('file://'.length), 'utf8')).toBe('{"text":"hi"}\n');
    expect(staged.inputs).toEqual([
      { uri: 's3://models/base', revision: expect.stringMatching(/^sha256:[0-9a-f]{64}$/), bytes: 5022 },
      { uri: 's3://models/data/train.jsonl', revision: expect.stringMatching(/^[0-9a-f]{32}$/), bytes: 14 },
    ]);
    expect(staged.downloadedBytes).toBe(5036);

    // The phase writes into the local mirror of s3://runs/a; publish uploads it.
    const out = s.output.uri.slice('file://'.length);
    await writeFile(join(out, 'mask.safetensors'), 'mask-bytes');
    await mkdir(join(out, 'phases'), { recursive: true });
    await writeFile(join(out, 'phases/calibrate.json'), '{}');
    expect(staged.toRemote({ mask: { uri: `file://${out}/mask.safetensors` } })).toEqual({
      mask: { uri: 's3://runs/a/mask.safetensors' },
    });
    await staged.publish();
    const head = await client.send(new HeadObjectCommand({ Bucket: 'runs', Key: 'a/mask.safetensors' }));
    expect(head.Metadata?.[SHA256_METADATA]).toBe(createHash('sha256').update('mask-bytes').digest('hex'));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: 'a/' }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([
      'a/mask.safetensors',
      'a/phases/calibrate.json',
      'a/phases/inputs.json',
    ]);

    // The next phase (another pod: fresh scratch) mirrors the output, reads the recorded inputs, hits the cache.
    const next = await stagePhase({
      spec,
      ticketRefs: {},
      pvcRoot: dir,
      scratchDir: join(dir, 'scratch-2'),
      config,
      log: () => {},
    });
    expect(next.downloadedBytes).toBe(0);
    expect(next.inputs).toEqual(staged.inputs);
    const out2 = (next.spec as typeof spec).output.uri.slice('file://'.length);
    expect(await readFile(join(out2, 'mask.safetensors'), 'utf8')).toBe('mask-bytes');
  });

  it('fails permanently on a changed input (If-Match on the recorded ETag)', async () => {
    const spec = { dataset: { uri: 's3://models/data/changing.jsonl' }, output: { uri: `file://${dir}/chg` } };
    await client.send(new PutObjectCommand({ Bucket: 'models', Key: 'data/changing.jsonl', Body: 'one' }));
    await stage(spec);
    await rm(join(dir, 'cache'), { recursive: true, force: true });
    await client.send(new PutObjectCommand({ Bucket: 'models', Key: 'data/changing.jsonl', Body: 'two' }));
    const error = await stage(spec).catch((e) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.reason).toBe('InputChanged');
    expect(error.message).toMatch(/s3:\/\/models\/data\/changing\.jsonl: .*HTTP 412/);
  });

  it('fails permanently when the bytes differ from the sha256 the object reports', async () => {
    const key = 'data/mislabelled.jsonl';
    const wrong = createHash('sha256').update('other bytes').digest('hex');
    await client.send(
      new PutObjectCommand({ Bucket: 'models', Key: key, Body: 'these bytes', Metadata: { [SHA256_METADATA]: wrong } }),
    );
    const error = await stage({ dataset: { uri: `s3://models/${key}` }, output: { uri: `file://${dir}/mis` } }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(StorageError);
    expect(error.reason).toBe('InputChanged');
    expect(error.message).toContain(`differs from the reported ${wrong}`);
  });

  it('stages a large prefix on download threads; the first failure is the one reported, no partial file left', async () => {
    const threads = { LOTA_S3_PARALLEL_FROM_MIB: '0', LOTA_S3_DOWNLOAD_THREADS: '2' };
    const bodies = ['a', 'b', 'c', 'd', 'e'].map((x, i) => x.repeat(300_000 + i));
    const put = (key: string, body: string, sha256: string) =>
      client.send(
        new PutObjectCommand({ Bucket: 'models', Key: key, Body: body, Metadata: { [SHA256_METADATA]: sha256 } }),
      );
    const sha = (body: string) => createHash('sha256').update(body).digest('hex');
    for (const [i, body] of bodies.entries()) await put(`big/shard-${i}`, body, sha(body));
    const total = bodies.reduce((n, b) => n + b.length, 0);
    expect(await withKeys(threads, async () => poolSize(bodies.length, total))).toBe(2);
    const spec = { baseModel: { uri: 's3://models/big' }, output: { uri: `file://${dir}/big` } };
    const staged = await withKeys(threads, () => stage(spec));
    expect(staged.downloadedBytes).toBe(bodies.reduce((n, b) => n + b.length, 0));
    const root = (staged.spec as { baseModel: { uri: string } }).baseModel.uri.slice('file://'.length);
    for (const [i, body] of bodies.entries()) expect(await readFile(join(root, `shard-${i}`), 'utf8')).toBe(body);

    const wrong = createHash('sha256').update('other bytes').digest('hex');
    for (const [i, body] of bodies.entries()) await put(`bad/shard-${i}`, body, i === 3 ? wrong : sha(body));
    const bad = { baseModel: { uri: 's3://models/bad' }, output: { uri: `file://${dir}/bad` } };
    const error = await withKeys(threads, () => stage(bad)).catch((e) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.reason).toBe('InputChanged');
    expect(error.message).toContain(`bad/shard-3: sha256`);
    const left = await readdir(join(dir, 'cache'), { recursive: true });
    expect(left.filter((f) => String(f).includes('.part-'))).toEqual([]);
  });

  it('a download thread reports a failure as the same StorageError (reason, HTTP status)', async () => {
    await client.send(new PutObjectCommand({ Bucket: 'models', Key: 'data/pooled.jsonl', Body: 'v1' }));
    // Two lanes: the worker thread is taken first; this thread's lane would fail differently.
    const pool = downloadPool(config, 2, () => Promise.reject(new Error('not on the worker thread')));
    try {
      const object = { rel: 'pooled.jsonl', key: 'data/pooled.jsonl', size: 2, etag: 'not-the-etag' };
      const error = await pool
        .download('models', object, join(dir, 'pooled.part'), 's3://models/data/pooled.jsonl')
        .catch((e) => e);
      expect(error).toBeInstanceOf(StorageError);
      expect(error.reason).toBe('InputChanged');
      expect(error.status).toBe(412);
      expect(error.message).toMatch(/^s3:\/\/models\/data\/pooled\.jsonl: .*HTTP 412/);
    } finally {
      await pool.close();
    }
  });

  const failures: [string, object, Record<string, string>, string, RegExp][] = [
    [
      'a missing bucket',
      { baseModel: { uri: 's3://nobucket/base' } },
      {},
      'NotFound',
      /s3:\/\/nobucket\/base: .*HTTP 404/,
    ],
    [
      'a missing object',
      { baseModel: { uri: 's3://models/absent' } },
      {},
      'NotFound',
      /s3:\/\/models\/absent: no such object/,
    ],
    [
      'a wrong secret key',
      { baseModel: { uri: 's3://models/base' } },
      { AWS_SECRET_ACCESS_KEY: 'wrong-secret-value-42' },
      'AccessDenied',
      /s3:\/\/models\/base: HeadObject failed: HTTP 403/,
    ],
    [
      'an unknown access key',
      { baseModel: { uri: 's3://models/base' } },
      { AWS_ACCESS_KEY_ID: 'nobody' },
      'AccessDenied',
      // versitygw answers an unknown key with 404 XAdminUserNotFound (AWS: 403 InvalidAccessKeyId).
      /s3:\/\/models\/base: .*HTTP 40[34] \w+.*check the credentials/,
    ],
  ];
  for (const [what, spec, keys, reason, message] of failures) {
    it(`fails permanently on ${what}, naming the URI and the status, without the secret`, async () => {
      const error = await withKeys(keys, () => stage({ ...spec, output: { uri: `file://${dir}/fail` } })).catch(
        (e) => e,
      );
      expect(error).toBeInstanceOf(StorageError);
      expect(error.reason, error.message).toBe(reason);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain(s3.secretAccessKey);
      expect(error.message).not.toContain('wrong-secret-value-42');
      expect(classify(error).exitCode).toBe(11);
    }, 60_000);
  }

  it('leaves no object behind when the uploading process is SIGKILLed mid-upload; a retry completes it', async () => {
    const file = join(dir, 'big.bin');
    await writeFile(file, Buffer.alloc(96 * 1024 * 1024, 7));
    const child = spawn(process.execPath, [UPLOADER, 'runs', 'killed/model.safetensors', file], {
      env: { ...process.env, ...s3.env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // Wait until a multipart upload is under way, then kill the uploader.
    for (let i = 0; ; i++) {
      const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: 'runs', Prefix: 'killed/' }));
      if ((uploads.Uploads ?? []).length > 0) break;
      if (i > 600 || child.exitCode !== null) throw new Error('the upload never started (or finished too soon)');
      await sleep(20);
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: 'killed/' }));
    expect(listed.Contents ?? []).toEqual([]);
    const head = await client
      .send(new HeadObjectCommand({ Bucket: 'runs', Key: 'killed/model.safetensors' }))
      .catch((e) => e);
    expect(head.$metadata?.httpStatusCode).toBe(404);

    const sha = await uploadS3File(client, 'runs', 'killed/model.safetensors', file, 's3://runs/killed');
    const done = await client.send(new HeadObjectCommand({ Bucket: 'runs', Key: 'killed/model.safetensors' }));
    expect(done.ContentLength).toBe(96 * 1024 * 1024);
    expect(done.Metadata?.[SHA256_METADATA]).toBe(sha);
  }, 120_000);
});
