// The e2e flows of the LoTA operator against the real control plane: the real kubectl applies resources, the real
// operator (a local process) creates Jobs, the real Job controller and scheduler run them on the local node, and
// the real trainer CLI trains a tiny model into tickets on a PersistentVolume.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LotaAdaptationStatus } from '@lota/api/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadPretrained } from '../../trainer-image/src/model/pretrained.ts';
import { writeArithmeticChat, writeTask, writeTinyBaseModel } from '../fixtures/tiny-base.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { type RunningOperator, startOperator } from '../harness/operator.ts';
import { prometheusBinary, startPrometheus } from '../harness/prometheus.ts';
import { createLocalClaim } from '../harness/volumes.ts';
import { waitFor } from '../harness/wait.ts';
import { FLAKY_TRAINER_IMAGE } from '../node/images-default.ts';

const { kubectl, kubeconfigPath, logsDir, pvcRoot } = cluster();
let ns = '';
let models = '';
let operator: RunningOperator;

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'e2e');
  models = await createLocalClaim(kubectl, { namespace: ns, claim: 'models', pvcRoot });
  const datasets = await createLocalClaim(kubectl, { namespace: ns, claim: 'datasets', pvcRoot });
  await writeTinyBaseModel(join(models, 'base'));
  await writeTask(join(datasets, 'task-a/train.jsonl'), 'a');
  await writeTask(join(datasets, 'task-b/train.jsonl'), 'b');
  await writeArithmeticChat(join(datasets, 'gsm8k/train.jsonl'));
  await writeArithmeticChat(join(datasets, 'gsm8k/test.jsonl'), 8, 1);
  operator = await startOperator({ kubeconfigPath, logsDir, namespaces: [ns] });
});
afterAll(async () => {
  await operator?.stop();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  await kubectl(['delete', 'pv', `${ns}-models`, `${ns}-datasets`, '--wait=false']);
});

type Spec = Record<string, unknown>;

function adaptationSpec(name: string, overrides: Spec = {}): Spec {
  return {
    baseModel: { uri: 'pvc://models/base' },
    dataset: {
      uri: 'pvc://datasets/task-a/train.jsonl',
      format: 'prompt-completion',
      maxSeqLength: 64,
      maxPromptLength: 16,
    },
    method: 'lota',
    lota: { sparsity: 0.9, calibration: { steps: 2 } },
    training: { maxSteps: 3, batchSize: 4, learningRate: 1e-3 },
    output: { uri: `pvc://models/runs/${name}` },
    ...overrides,
  };
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * An examples/ file as written, shrunk to what a tiny model on two cores trains in seconds: a few calibration and
 * training steps, short sequences, no resource requests. Everything else (names, URIs, methods, references) stays.
 */
function shrunkExample(file: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'examples', file), 'utf8')).map((d) => d.toJSON());
  return docs.map((doc) => {
    const spec = doc.spec;
    doc.metadata.namespace = ns;
    if (doc.kind === 'LotaAdaptation') {
      if (spec.lota?.calibration) spec.lota.calibration = { steps: 2 };
      const { epochs: _e, maxSteps: _m, warmupSteps: _w, batchSize: _b, ...training } = spec.training ?? {};
      spec.training = { ...training, maxSteps: 3, batchSize: 4 };
      spec.dataset = { ...spec.dataset, maxSeqLength: 64, maxPromptLength: 16 };
    }
    delete spec.resources;
    return doc;
  });
}

async function applyExample(file: string): Promise<string[]> {
  const docs = shrunkExample(file);
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) });
  return docs.map((d) => `${String(d.kind).toLowerCase()}/${(d.metadata as { name: string }).name}`);
}

async function apply(kind: 'LotaAdaptation' | 'TicketMerge', name: string, spec: Spec): Promise<void> {
  const manifest = { apiVersion: 'lota.dev/v1alpha1', kind, metadata: { name, namespace: ns }, spec };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
}

async function waitSucceeded(resource: string, timeoutSeconds = 400): Promise<void> {
  await kubectl(['wait', '-n', ns, `--for=condition=Succeeded`, resource, `--timeout=${timeoutSeconds}s`], {
    timeoutMs: (timeoutSeconds + 30) * 1000,
  }).catch(async (err) => {
    const status = await kubectl(['get', '-n', ns, resource, '-o', 'jsonpath={.status}']).catch(() => '?');
    throw new Error(`${resource} did not succeed: ${(err as Error).message}\nstatus: ${status}`);
  });
}

async function get(
  resource: string,
): Promise<{ metadata: { uid: string; generation?: number }; status?: Record<string, unknown> }> {
  return JSON.parse(await kubectl(['get', '-n', ns, resource, '-o', 'json']));
}

interface JobLike {
  metadata: { name: string; uid: string; ownerReferences?: { uid: string }[] };
  status?: {
    succeeded?: number;
    failed?: number;
    active?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

async function jobsOwnedBy(uid: string): Promise<JobLike[]> {
  const out = JSON.parse(await kubectl(['get', 'jobs', '-n', ns, '-o', 'json'])) as { items: JobLike[] };
  return out.items.filter((j) => j.metadata.ownerReferences?.some((o) => o.uid === uid));
}

function condition(obj: { status?: Record<string, unknown> }, type: string) {
  return (
    obj.status?.conditions as { type: string; status: string; reason?: string; message?: string }[] | undefined
  )?.find((c) => c.type === type);
}

describe('the operator, end to end', () => {
  it('kubectl explain documents the CRDs', async () => {
    const out = await kubectl(['explain', 'lotaadaptation.spec.lota']);
    expect(out).toMatch(/sparsity/);
  });

  it('examples/lota-adaptation.yaml: calibrate then train Jobs of the real trainer → Succeeded, ticket on disk', async () => {
    expect(await applyExample('lota-adaptation.yaml')).toEqual(['lotaadaptation/gsm8k-lota']);
    await waitSucceeded('lotaadaptation/gsm8k-lota');
    const obj = await get('lotaadaptation/gsm8k-lota');
    expect(obj.status?.phase).toBe('Succeeded');
    const jobs = await jobsOwnedBy(obj.metadata.uid);
    expect(jobs.map((j) => j.metadata.name).sort()).toEqual(['gsm8k-lota-calibrate', 'gsm8k-lota-train']);
    for (const job of jobs) expect(job.status?.succeeded).toBe(1);
    const out = join(models, 'runs/gsm8k-lota');
    expect(statSync(join(out, 'ticket.safetensors')).size).toBeGreaterThan(0);
    expect(existsSync(join(out, 'mask.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'phases/train.json'), 'utf8'))).toMatchObject({ outcome: 'Succeeded' });
    // The status a user reads: results and artifacts from the termination messages, observedGeneration, Events.
    const status = obj.status as LotaAdaptationStatus;
    expect(status.ticket).toMatchObject({
      uri: 'pvc://models/runs/gsm8k-lota/ticket.safetensors',
      bytes: statSync(join(out, 'ticket.safetensors')).size,
    });
    expect(status.mask?.density).toBeCloseTo(0.1, 2);
    expect(typeof status.results?.trainLoss).toBe('number');
    expect(status.observedGeneration).toBe((obj.metadata as { generation?: number }).generation);
    const events = await kubectl([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'involvedObject.name=gsm8k-lota',
      '-o',
      'name',
    ]);
    expect(events.trim().split('\n').length).toBeGreaterThan(0);
  });

  it('deleting the adaptation collects its Jobs and Pods (garbage collector, ownerReferences)', async () => {
    const uid = (await get('lotaadaptation/gsm8k-lota')).metadata.uid;
    await kubectl(['delete', 'lotaadaptation', 'gsm8k-lota', '-n', ns, '--wait=true', '--timeout=60s']);
    await waitFor('jobs of gsm8k-lota collected', async () => (await jobsOwnedBy(uid)).length === 0, {
      timeoutMs: 60_000,
    });
    await waitFor('pods of gsm8k-lota collected', async () => {
      const pods = await kubectl([
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        'job-name in (gsm8k-lota-calibrate,gsm8k-lota-train)',
        '-o',
        'name',
      ]);
      return pods.trim() === '';
    });
  });

  it('examples/lotto-chain.yaml + ticket-merge.yaml: b waits for a (WaitingForTickets), both succeed, the merge loads', async () => {
    // The merge and the dependant first: both must wait for what they reference.
    await applyExample('ticket-merge.yaml');
    const chain = shrunkExample('lotto-chain.yaml');
    const [first, second] = chain as [Record<string, unknown>, Record<string, unknown>];
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(second) });
    const waiting = await waitFor('instruct-b waiting for instruct-a', async () => {
      const c = condition(await get('lotaadaptation/instruct-b'), 'Ready');
      return c?.reason === 'WaitingForTickets' ? c : undefined;
    });
    expect(waiting.status).toBe('False');
    expect((await get('lotaadaptation/instruct-b')).status?.phase).toBe('Pending');
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(first) });
    await waitSucceeded('lotaadaptation/instruct-a');
    await waitSucceeded('lotaadaptation/instruct-b');
    await waitSucceeded('ticketmerge/instruct-ab');
    const merged = await loadPretrained(join(models, 'runs/instruct-ab/model'));
    expect(merged.params.size).toBeGreaterThan(0);
    const merge = await get('ticketmerge/instruct-ab');
    expect(merge.status?.phase).toBe('Succeeded');
  });

  it('fails at once, with the reason, when the trainer exits with a permanent code', async () => {
    await apply(
      'LotaAdaptation',
      'bad-data',
      adaptationSpec('bad-data', {
        dataset: { uri: 'pvc://datasets/no-such-task/train.jsonl', format: 'prompt-completion' },
      }),
    );
    const failed = await waitFor(
      'bad-data Failed',
      async () => {
        const c = condition(await get('lotaadaptation/bad-data'), 'Failed');
        return c?.status === 'True' ? c : undefined;
      },
      { timeoutMs: 180_000 },
    );
    expect(`${failed.reason} ${failed.message}`).toMatch(/Invalid|no-such-task|not found|ENOENT/i);
    const jobs = await jobsOwnedBy((await get('lotaadaptation/bad-data')).metadata.uid);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.status?.failed).toBe(1); // podFailurePolicy FailJob: no retry of a permanent error
    expect(jobs[0]?.status?.conditions?.find((c) => c.type === 'Failed')?.reason).toBe('PodFailurePolicy');
  });

  it('retries a transient failure (exit 20) and then succeeds', async () => {
    await apply(
      'LotaAdaptation',
      'flaky',
      adaptationSpec('flaky', {
        method: 'full',
        lota: undefined,
        trainer: {
          image: process.env.LOTA_E2E_FLAKY_IMAGE ?? FLAKY_TRAINER_IMAGE,
          env: [{ name: 'FLAKY_MARKER_DIR', value: '/mnt/pvc/models/flaky-markers' }],
        },
      }),
    );
    await waitSucceeded('lotaadaptation/flaky');
    const jobs = await jobsOwnedBy((await get('lotaadaptation/flaky')).metadata.uid);
    expect(jobs.map((j) => [j.metadata.name, j.status?.failed, j.status?.succeeded])).toEqual([['flaky-train', 1, 1]]);
  });

  it('serves trainer progress at the pod IP; suspends (no Job runs), keeps finished phases, resumes to Succeeded', async () => {
    await apply('LotaAdaptation', 'pausable', adaptationSpec('pausable', { training: { maxSteps: 80, batchSize: 4 } }));
    const calibrateRecord = join(models, 'runs/pausable/phases/calibrate.json');
    await waitFor(
      'pausable train Job',
      async () => {
        const jobs = await jobsOwnedBy((await get('lotaadaptation/pausable')).metadata.uid);
        return jobs.some((j) => j.metadata.name === 'pausable-train') && existsSync(calibrateRecord);
      },
      { timeoutMs: 180_000 },
    );
    // The trainer's progress endpoint answers at the pod's own IP (127.A.B.N on the local node), where the operator
    // polls it.
    const progress = await waitFor('train progress at the pod IP', async () => {
      const pods = JSON.parse(
        await kubectl(['get', 'pods', '-n', ns, '-l', 'job-name=pausable-train', '-o', 'json']),
      ) as { items: { status?: { phase?: string; podIP?: string } }[] };
      const ip = pods.items.find((p) => p.status?.phase === 'Running')?.status?.podIP;
      if (!ip) return undefined;
      const res = await fetch(`http://${ip}:8080/progress`, { signal: AbortSignal.timeout(5000) });
      const body = (await res.json()) as { phase?: string; step?: number; totalSteps?: number };
      return body.phase === 'train' && (body.step ?? 0) > 0 ? body : undefined;
    });
    expect(progress).toMatchObject({ phase: 'train', totalSteps: 80 });
    const calibratedAt = statSync(calibrateRecord).mtimeMs;
    await kubectl(['patch', 'lotaadaptation', 'pausable', '-n', ns, '--type=merge', '-p', '{"spec":{"suspend":true}}']);
    await waitFor('pausable Suspended with nothing running', async () => {
      const obj = await get('lotaadaptation/pausable');
      const jobs = await jobsOwnedBy(obj.metadata.uid);
      return obj.status?.phase === 'Suspended' && jobs.every((j) => !j.status?.active);
    });
    await kubectl([
      'patch',
      'lotaadaptation',
      'pausable',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"spec":{"suspend":false}}',
    ]);
    await waitSucceeded('lotaadaptation/pausable');
    expect(statSync(calibrateRecord).mtimeMs).toBe(calibratedAt); // calibrate was not run again
  });

  it('survives the operator being SIGKILLed mid-phase: no duplicate Job, the run completes', async () => {
    await apply(
      'LotaAdaptation',
      'crash',
      adaptationSpec('crash', { lota: { sparsity: 0.9, calibration: { steps: 30 } } }),
    );
    const uid = (await get('lotaadaptation/crash')).metadata.uid;
    const before = await waitFor('crash-calibrate running', async () => {
      const job = (await jobsOwnedBy(uid)).find((j) => j.metadata.name === 'crash-calibrate');
      return job?.status?.active ? job : undefined;
    });
    await operator.kill();
    operator = await startOperator({ kubeconfigPath, logsDir, namespaces: [ns] });
    await waitSucceeded('lotaadaptation/crash');
    const jobs = await jobsOwnedBy(uid);
    expect(jobs.map((j) => j.metadata.name).sort()).toEqual(['crash-calibrate', 'crash-train']);
    expect(jobs.find((j) => j.metadata.name === 'crash-calibrate')?.metadata.uid).toBe(before.metadata.uid);
  });

  it('is scraped by a real Prometheus (reconcile and work-queue series), and promtool accepts its exposition', async () => {
    // A resource of its own, so that this test also has reconciles to count when it runs alone.
    await apply('LotaAdaptation', 'scraped', adaptationSpec('scraped', { suspend: true }));
    const prometheus = await startPrometheus({
      job: 'lota-operator',
      targets: [new URL(operator.metricsUrl).host],
      logsDir,
    });
    try {
      const up = await waitFor('the operator target up', async () => {
        const r = await prometheus.query('up{job="lota-operator"}');
        return r[0]?.value[1] === '1' ? r : undefined;
      });
      expect(up).toHaveLength(1);
      const reconciles = await waitFor('reconcile counts', async () => {
        const r = await prometheus.query(
          'sum by (controller) (controller_runtime_reconcile_total{job="lota-operator"})',
        );
        return r.length > 0 ? r : undefined;
      });
      expect(reconciles.every((r) => Number(r.value[1]) > 0)).toBe(true);
      expect(await prometheus.query('workqueue_depth{job="lota-operator"}')).not.toHaveLength(0);
    } finally {
      await prometheus.stop();
    }
    const exposition = await (await fetch(operator.metricsUrl)).text();
    const check = await new Promise<{ code: number; output: string }>((resolve) => {
      const child = execFile(prometheusBinary('promtool'), ['check', 'metrics'], (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, output: stdout + stderr }),
      );
      child.stdin?.end(exposition);
    });
    expect(check).toEqual({ code: 0, output: '' });
  });
});
