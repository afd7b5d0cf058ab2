// The real trainer CLI with remote artifacts: a LoTA adaptation whose base model comes from the test Hub endpoint
// (branch moved between calibrate and train: train still reads the first commit), whose data comes from S3 and whose
// mask, ticket and records go to S3; then a merge that reads the ticket from S3 and writes the merged model to S3.
// The secret key never appears in the output or termination messages.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { EXIT } from '@lota/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubServer, startHubServer } from '../../../e2e/servers/hub.ts';
import { type S3Server, startS3Server } from '../../../e2e/servers/s3.ts';
import { s3Client } from '../../src/storage/s3.ts';
import { taskFile, tinyModelDir } from '../lota/fixture-model.ts';

// The fields these tests read (a TerminationMessage, loosely).
interface Termination {
  outcome: string;
  reason: string;
  message: string;
  mask: { uri: string };
  ticket: { uri: string };
  output: { uri: string };
  inputs: { uri: string; revision: string; bytes: number }[];
}

const CLI = new URL('../../src/cli/lota-trainer.ts', import.meta.url).pathname;

describe('trainer phases on hf:// and s3://', () => {
  let hub: HubServer;
  let s3: S3Server;
  let work: string;
  let base: string;
  let first: string;
  let second: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lota-remote-'));
    base = await tinyModelDir(0);
    hub = await startHubServer();
    s3 = await startS3Server();
    first = await hub.publish('lota/tiny', base);
    const moved = join(work, 'moved');
    await cp(base, moved, { recursive: true });
    await writeFile(join(moved, 'README.md'), 'a later commit\n');
    second = await hub.publish('lota/tiny', moved, { branch: 'later' });
    await s3.createBucket('data');
    await s3.createBucket('runs');
    const client = s3Client({
      hubEndpoint: hub.url,
      s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
      cacheDir: '',
    });
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
    const data = await taskFile(work, 'train.jsonl', 12, 3);
    await client.send(new PutObjectCommand({ Bucket: 'data', Key: 'task/train.jsonl', Body: await readFile(data) }));
    client.destroy();
  });
  afterAll(async () => {
    await hub?.close();
    await s3?.stop();
    for (const d of [work, base]) if (d) await rm(d, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number | null; termination: Termination; output: string }>((resolve) => {
      const log = join(work, `termination-${Math.random().toString(36).slice(2)}`);
      const child = spawn(process.execPath, [CLI, ...args], {
        env: {
          ...process.env,
          ...s3.env,
          HF_ENDPOINT: hub.url,
          LOTA_BACKEND: 'cpu',
          LOTA_PROGRESS_PORT: '0',
          LOTA_TERMINATION_LOG: log,
          LOTA_SCRATCH_DIR: join(work, `scratch-${args[0]}`),
          LOTA_CACHE_DIR: join(work, 'cache'),
          ...env,
        },
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', async (code) => {
        const termination = existsSync(log) ? JSON.parse(await readFile(log, 'utf8')) : undefined;
        resolve({ code, termination, output });
      });
    });

  it('calibrates and trains from hf:// and s3:// into s3://, then merges the ticket read from s3://', async () => {
    const spec = {
      baseModel: { uri: 'hf://lota/tiny@main' },
      dataset: { uri: 's3://data/task/train.jsonl', format: 'prompt-completion', maxSeqLength: 16, maxPromptLength: 8 },
      lota: { sparsity: 0.9, calibration: { steps: 2 } },
      training: { maxSteps: 2, batchSize: 4, gradientAccumulationSteps: 1, learningRate: 0.01 },
      output: { uri: 's3://runs/task-a' },
    };
    const env = { LOTA_SPEC: JSON.stringify(spec), LOTA_NAME: 'task-a' };
    const cal = await run(['calibrate'], env);
    expect(cal.code, cal.output).toBe(EXIT.ok);
    expect(cal.termination.mask.uri).toBe('s3://runs/task-a/mask.safetensors');
    expect(cal.termination.inputs).toEqual([
      { uri: 'hf://lota/tiny@main', revision: first, bytes: expect.any(Number) },
      {
        uri: 's3://data/task/train.jsonl',
        revision: expect.stringMatching(/^[0-9a-f]{32}$/),
        bytes: expect.any(Number),
      },
    ]);

    hub.setBranch('lota/tiny', 'main', second);
    const train = await run(['train'], env);
    expect(train.code, train.output).toBe(EXIT.ok);
    expect(train.termination.inputs[0]).toMatchObject({ uri: 'hf://lota/tiny@main', revision: first });
    expect(train.termination.ticket).toMatchObject({ uri: 's3://runs/task-a/ticket.safetensors' });

    const merge = {
      baseModel: { uri: 'hf://lota/tiny@main' },
      tickets: [{ uri: 's3://runs/task-a/ticket.safetensors', name: 'task-a' }],
      output: { uri: 's3://runs/merged' },
    };
    // The merge reads the ticket's inputs record: the base at the commit the ticket was trained on.
    const merged = await run(['merge'], {
      LOTA_SPEC: JSON.stringify(merge),
      LOTA_KIND: 'TicketMerge',
      LOTA_NAME: 'merged',
      LOTA_TICKET_REFS: JSON.stringify({ 'task-a': 's3://runs/task-a/ticket.safetensors' }),
    });
    expect(merged.code, merged.output).toBe(EXIT.ok);
    expect(merged.termination.output.uri).toBe('s3://runs/merged/model');
    expect(merged.termination.inputs).toContainEqual(
      expect.objectContaining({ uri: 'hf://lota/tiny@main', revision: first }),
    );

    const client = s3Client({
      hubEndpoint: hub.url,
      s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
      cacheDir: '',
    });
    const keys = async (prefix: string) =>
      ((await client.send(new ListObjectsV2Command({ Bucket: 'runs', Prefix: prefix }))).Contents ?? [])
        .map((o) => o.Key)
        .sort();
    expect(await keys('task-a/')).toEqual(
      expect.arrayContaining([
        'task-a/mask.safetensors',
        'task-a/phases/calibrate.json',
        'task-a/phases/inputs.json',
        'task-a/phases/train.json',
        'task-a/ticket.safetensors',
      ]),
    );
    expect(await keys('merged/')).toEqual(
      expect.arrayContaining([
        'merged/model/config.json',
        'merged/model/model.safetensors',
        'merged/phases/merge.json',
      ]),
    );
    const record = await client.send(new GetObjectCommand({ Bucket: 'runs', Key: 'task-a/phases/train.json' }));
    expect(JSON.parse(await (record.Body as { transformToString(): Promise<string> }).transformToString())).toEqual(
      train.termination,
    );
    client.destroy();
    for (const r of [cal, train, merged]) {
      expect(r.output).not.toContain(s3.secretAccessKey);
      expect(JSON.stringify(r.termination)).not.toContain(s3.secretAccessKey);
    }
  }, 300_000);

  it('fails a phase at once with AccessDenied on a wrong secret key, and says so without the key', async () => {
    const spec = {
      baseModel: { uri: 'hf://lota/tiny@main' },
      dataset: { uri: 's3://data/task/train.jsonl', format: 'prompt-completion' },
      output: { uri: 's3://runs/denied' },
    };
    const r = await run(['calibrate'], { LOTA_SPEC: JSON.stringify(spec), AWS_SECRET_ACCESS_KEY: 'not-the-key-123' });
    expect(r.code).toBe(EXIT.invalidInput);
    expect(r.termination).toMatchObject({ outcome: 'Failed', reason: 'AccessDenied' });
    expect(r.termination.message).toMatch(/^s3:\/\/runs\/denied: .*HTTP 403/);
    expect(r.output).not.toContain('not-the-key-123');
  }, 120_000);
});
