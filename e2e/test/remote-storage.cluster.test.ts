// hf:// and s3:// on the real control plane: examples/remote-storage.yaml (its locations pointed at a test Hub
// endpoint and a real S3 server, its size shrunk) runs to Succeeded with the base model from the Hub, data from S3,
// the ticket to S3 and a merge reading it back; a LoTTO adaptation started after the Hub branch moved still reads the
// first commit; the base is downloaded once for the namespace (shared cache claim; bytes counted by the Hub
// endpoint); transformers loads the merged model downloaded from S3; a wrong secret key fails at once with the reason;
// and the secret key appears in no log, Event or status.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { tool } from '../../scripts/toolchain.ts';
import { s3Client } from '../../trainer-image/src/storage/s3.ts';
import { writeTask, writeTinyBaseModel } from '../fixtures/tiny-base.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { type RunningOperator, startOperator } from '../harness/operator.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';
import { type HubServer, startHubServer } from '../servers/hub.ts';
import { type S3Server, startS3Server } from '../servers/s3.ts';

const { kubectl, kubeconfigPath, logsDir, pvcRoot } = cluster();
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
let ns = '';
let operator: RunningOperator;
let hub: HubServer;
let s3: S3Server;
let work = '';
let first = '';
let second = '';
let repoBytes = 0;

const s3config = () => ({
  hubEndpoint: hub.url,
  s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true },
  cacheDir: '',
});

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lota-e2e-remote-'));
  hub = await startHubServer();
  s3 = await startS3Server();
  const base = join(work, 'base');
  await writeTinyBaseModel(base);
  for (const f of await readdir(base)) repoBytes += (await readFile(join(base, f))).length;
  first = await hub.publish('lota/tiny', base);
  await writeFile(join(base, 'README.md'), 'a later commit of the same repository\n');
  second = await hub.publish('lota/tiny', base, { branch: 'later' });
  for (const bucket of ['lota-data', 'lota-runs']) await s3.createBucket(bucket);
  const client = s3Client(s3config());
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  for (const [task, key] of [
    ['a', 'farewell/train.jsonl'],
    ['a', 'farewell/eval.jsonl'],
    ['b', 'task-b/train.jsonl'],
  ] as const) {
    const file = join(work, key.replace('/', '-'));
    await writeTask(file, task);
    await client.send(new PutObjectCommand({ Bucket: 'lota-data', Key: key, Body: await readFile(file) }));
  }
  client.destroy();

  ns = await createNamespace(kubectl, 'remote');
  await createLocalClaim(kubectl, { namespace: ns, claim: 'lota-cache', pvcRoot });
  operator = await startOperator({
    kubeconfigPath,
    logsDir,
    namespaces: [ns],
    extraArgs: [`--hub-endpoint=${hub.url}`, '--cache-claim=lota-cache'],
  });
});
afterAll(async () => {
  await operator?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  await kubectl(['delete', 'pv', `${ns}-lota-cache`, '--wait=false']).catch(() => {});
  await hub?.close();
  await s3?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

interface ExampleSpec {
  lota: { calibration: unknown; excludeTicketsOf?: string[] };
  training: unknown;
  dataset: { uri: string; evalUri?: string } & Record<string, unknown>;
  output: { uri: string };
  storage: { secretRef: { name: string } };
}
interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: ExampleSpec;
  stringData?: Record<string, string>;
}
interface Input {
  uri: string;
  revision: string;
  bytes: number;
}
interface Resource {
  status: {
    phase?: string;
    inputs: Input[];
    ticket?: object;
    output?: object;
    conditions: { type: string; status: string; reason: string; message: string }[];
    attempts: { calibrate?: number };
  };
}

/** The example as written, with its locations pointed at the test servers and its size shrunk. */
function example(): Doc[] {
  const text = readFileSync(join(repoRoot, 'examples/remote-storage.yaml'), 'utf8')
    .replaceAll('hf://Qwen/Qwen2.5-0.5B-Instruct@main', 'hf://lota/tiny@main')
    .replaceAll('http://s3.storage.svc.cluster.local:7070', s3.endpoint);
  return parseAllDocuments(text).map((d) => {
    const doc = d.toJSON() as Doc;
    doc.metadata.namespace = ns;
    if (doc.kind === 'Secret')
      doc.stringData = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    if (doc.kind === 'LotaAdaptation') shrink(doc.spec);
    return doc;
  });
}

function shrink(spec: ExampleSpec) {
  spec.lota.calibration = { steps: 2 };
  spec.training = { maxSteps: 3, batchSize: 4 };
  spec.dataset = { ...spec.dataset, maxSeqLength: 64, maxPromptLength: 16 };
}

async function applyDocs(docs: Doc[]) {
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) });
}

async function get(resource: string): Promise<Resource> {
  return JSON.parse(await kubectl(['get', '-n', ns, resource, '-o', 'json']));
}

async function waitSucceeded(resource: string): Promise<Resource> {
  return waitFor(
    `${resource} Succeeded`,
    async () => {
      const obj = await get(resource);
      const failed = obj.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
      if (failed) throw new Error(`${resource} failed: ${failed.reason}: ${failed.message}`);
      return obj.status?.phase === 'Succeeded' ? obj : undefined;
    },
    { timeoutMs: 400_000 },
  );
}

describe('remote artifacts (hf://, s3://) end to end', () => {
  it('runs the example and a LoTTO dependant started after the branch moved; downloads the base once', async () => {
    const docs = example();
    await applyDocs(docs);
    const a = await waitSucceeded('lotaadaptation/remote-farewell');
    expect(a.status.inputs).toEqual([
      { uri: 'hf://lota/tiny@main', revision: first, bytes: repoBytes },
      { uri: 's3://lota-data/farewell/eval.jsonl', revision: expect.any(String), bytes: expect.any(Number) },
      { uri: 's3://lota-data/farewell/train.jsonl', revision: expect.any(String), bytes: expect.any(Number) },
    ]);
    expect(a.status.ticket).toMatchObject({
      uri: 's3://lota-runs/remote-farewell/ticket.safetensors',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });

    hub.setBranch('lota/tiny', 'main', second);
    const dependant = structuredClone(docs.find((d) => d.kind === 'LotaAdaptation') as Doc);
    dependant.metadata.name = 'remote-b';
    dependant.spec.dataset = { ...dependant.spec.dataset, uri: 's3://lota-data/task-b/train.jsonl' };
    delete dependant.spec.dataset.evalUri;
    dependant.spec.output.uri = 's3://lota-runs/remote-b';
    dependant.spec.lota.excludeTicketsOf = ['remote-farewell'];
    await applyDocs([dependant]);
    const b = await waitSucceeded('lotaadaptation/remote-b');
    expect(b.status.inputs.find((i) => i.uri === 'hf://lota/tiny@main')?.revision).toBe(first);

    const merge = await waitSucceeded('ticketmerge/remote-merged');
    expect(merge.status.inputs.find((i) => i.uri === 'hf://lota/tiny@main')?.revision).toBe(first);
    expect(merge.status.output).toMatchObject({
      uri: 's3://lota-runs/remote-merged/model',
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      bytes: expect.any(Number),
    });

    // Three runs and five phases read the base; the Hub served its bytes once (plus one-byte probes per file).
    const served = hub.bytesServed.get('models/lota/tiny') ?? 0;
    expect(served).toBeGreaterThanOrEqual(repoBytes);
    expect(served).toBeLessThan(repoBytes + 64);

    // transformers loads the merged model downloaded from S3.
    const client = s3Client(s3config());
    const dest = join(work, 'merged');
    const listed = await client.send(new ListObjectsV2Command({ Bucket: 'lota-runs', Prefix: 'remote-merged/model/' }));
    for (const o of listed.Contents ?? []) {
      const r = await client.send(new GetObjectCommand({ Bucket: 'lota-runs', Key: o.Key }));
      const bytes = await (r.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
      const path = join(dest, (o.Key as string).slice('remote-merged/model/'.length));
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, bytes);
    }
    client.destroy();
    const { stdout } = await run(
      tool('LOTA_PYTHON'),
      [
        '-c',
        'import sys, transformers; m = transformers.AutoModelForCausalLM.from_pretrained(sys.argv[1]); ' +
          'print(sum(p.numel() for p in m.parameters()))',
        dest,
      ],
      { env: { ...process.env, HF_HUB_OFFLINE: '1', OMP_NUM_THREADS: '1' } },
    );
    expect(Number(stdout.trim().split('\n').at(-1))).toBeGreaterThan(0);
  }, 900_000);

  it('fails at once with AccessDenied on a wrong secret key; no secret in logs, Events or status', async () => {
    await kubectl([
      'create',
      'secret',
      'generic',
      'bad-creds',
      '-n',
      ns,
      `--from-literal=AWS_ACCESS_KEY_ID=${s3.accessKeyId}`,
      '--from-literal=AWS_SECRET_ACCESS_KEY=wrong-secret-key-31337',
    ]);
    const bad = example().find((d) => d.kind === 'LotaAdaptation') as Doc;
    bad.metadata.name = 'remote-denied';
    bad.spec.output.uri = 's3://lota-runs/remote-denied';
    bad.spec.storage.secretRef.name = 'bad-creds';
    await applyDocs([bad]);
    const failed = await waitFor(
      'remote-denied Failed',
      async () => {
        const obj = await get('lotaadaptation/remote-denied');
        return obj.status?.phase === 'Failed' ? obj : undefined;
      },
      { timeoutMs: 180_000 },
    );
    const ready = failed.status.conditions.find((c) => c.type === 'Failed');
    expect(ready?.reason).toBe('AccessDenied');
    expect(ready?.message).toMatch(/s3:\/\/lota-runs\/remote-denied: .*HTTP 403/);
    expect(failed.status.attempts.calibrate).toBe(1);

    const texts: string[] = [];
    texts.push(await kubectl(['get', 'events', '-n', ns, '-o', 'json']));
    texts.push(await kubectl(['get', 'lotaadaptations,ticketmerges,jobs', '-n', ns, '-o', 'json']));
    for (const dir of [logsDir, join(logsDir, 'pods')]) {
      for (const f of await readdir(dir).catch(() => [] as string[])) {
        if (f.endsWith('.log')) texts.push(await readFile(join(dir, f), 'utf8'));
      }
    }
    expect(texts.join('\n').length).toBeGreaterThan(1000);
    for (const secret of [s3.secretAccessKey, 'wrong-secret-key-31337']) {
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
    }
  }, 300_000);
});
