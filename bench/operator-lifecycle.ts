// The full lifecycle at scale: on the project's real control plane, with KWOK's fake GPU nodes running every trainer
// pod to completion (e2e/kwok: the pod ends Succeeded with the trainer contract's termination message), N
// LotaAdaptations run calibrate → train → Succeeded and M TicketMerges (two tickets each) wait on them and merge.
// Printed, in one run:
//   - the reference: the API server, the Job controller and KWOK alone — `kubectl create` of the very Jobs the
//     operator makes (2N + M, no operator), until all are Complete;
//   - the operator: `kubectl create` of the N + M resources until all are Succeeded; the ratio to the reference;
//   - exactly one Job per phase per resource, checked from the API server; reconcile errors;
//   - API requests per completed resource (API server /metrics, all clients; and the operator's own counter);
//   - the operator's peak RSS and CPU seconds.
// Not a test.
//   node bench/operator-lifecycle.ts [--n=1000] [--m=100] [--run-ms=0] [--nodes=4] [--operator-arg=...]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { withAdaptationDefaults, withMergeDefaults } from '../api/src/defaults.ts';
import { startOperator, TRAINER_IMAGE_REF } from '../e2e/harness/operator.ts';
import { kwokTerminationMessage, startKwok } from '../e2e/kwok/kwok.ts';
import { jobProblems, kwokWorkload, phaseCounts } from '../e2e/kwok/workload.ts';
import { JOB, type KubeObject, LOTA_ADAPTATION, TICKET_MERGE } from '../operator/src/kube/resources.ts';
import { desiredJob } from '../operator/src/reconcile/job.ts';
import { startBenchCluster } from './scale/bench-cluster.ts';
import { apiRequests, counter, cpuSeconds, diff, parseProm, peakRssMb, sleep, sum } from './scale/measure.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    m: { type: 'string', default: '100' },
    'run-ms': { type: 'string', default: '0' },
    nodes: { type: 'string', default: '4' },
    'operator-arg': { type: 'string', multiple: true, default: [] },
  },
});
const n = Number(values.n);
const m = Number(values.m);
const operatorArgs = values['operator-arg'] as string[];
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

const cluster = await startBenchCluster();
const { cp, kubectl, client, repoRoot } = cluster;
const apiMetrics = async () => apiRequests(await cluster.apiMetrics());
const opMetrics = async (url: string) => parseProm(await (await fetch(url)).text());

async function createFile(items: object[], file: string) {
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  await kubectl(['create', '-f', file, '-o', 'name'], { timeoutMs: 1_800_000 });
}
/** Waits (at most 2 minutes: the namespace controller is slow with thousands of pods) for a namespace to go. */
async function nsGone(ns: string) {
  const t0 = performance.now();
  while (performance.now() - t0 < 120_000) {
    if ((await kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name'])).trim() === '') return;
    await sleep(1000);
  }
  console.log(`(namespace ${ns} still terminating after 120 s; going on)`);
}
const complete = (o: KubeObject) =>
  (o as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions?.some(
    (c) => c.type === 'Complete' && c.status === 'True',
  ) ?? false;
const succeeded = (o: KubeObject) => (o as { status?: { phase?: string } }).status?.phase === 'Succeeded';
const failed = (o: KubeObject) => (o as { status?: { phase?: string } }).status?.phase === 'Failed';

/** The Jobs the operator would make for the workload, without owners (nothing reconciles them). */
function referenceJobs(ns: string) {
  const out: object[] = [];
  for (const r of kwokWorkload(n, m, ns)) {
    const adaptation = r.kind === 'LotaAdaptation';
    const phases = adaptation ? (['calibrate', 'train'] as const) : (['merge'] as const);
    const tickets = adaptation
      ? {}
      : Object.fromEntries(
          (r.spec as { tickets: { adaptationRef: { name: string } }[] }).tickets.map((t) => [
            t.adaptationRef.name,
            kwokTerminationMessage('train').ticket?.uri.replace(/\{\{.*\}\}/, `${t.adaptationRef.name}-train`) ?? '',
          ]),
        );
    for (const phase of phases) {
      const job = desiredJob({
        kind: r.kind as 'LotaAdaptation' | 'TicketMerge',
        apiVersion: 'lota.dev/v1alpha1',
        metadata: { name: r.metadata.name, namespace: ns, uid: `ref-${r.metadata.name}` },
        spec: r.spec,
        resolved: adaptation ? withAdaptationDefaults(r.spec as never) : withMergeDefaults(r.spec as never),
        phase,
        ticketRefs: tickets,
        defaultImage: TRAINER_IMAGE_REF,
      }) as { metadata: Record<string, unknown> };
      delete job.metadata.ownerReferences;
      out.push(job);
    }
  }
  return out;
}

try {
  await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  const kwok = await startKwok({
    kubeconfigPath: cp.kubeconfigPath,
    kubectl,
    logsDir: cp.logsDir,
    nodes: Number(values.nodes),
    runMs: Number(values['run-ms']),
  });
  console.log(`control plane ${cp.server}; KWOK nodes ${kwok.nodes.join(', ')}; N=${n} adaptations, M=${m} merges`);

  // 1. Reference: the same 2N + M Jobs, created at once, completed by KWOK; no operator.
  const refNs = 'kwok-reference';
  await kubectl(['create', 'namespace', refNs]);
  const jobs = referenceJobs(refNs);
  const refDone = counter(client, JOB, refNs, complete);
  await refDone.synced();
  const r0 = performance.now();
  await createFile(jobs, join(cp.dir, 'reference-jobs.json'));
  const refCreate = (performance.now() - r0) / 1000;
  await refDone.atLeast(jobs.length);
  const refSeconds = (performance.now() - r0) / 1000;
  await refDone.stop();
  console.log(`reference: ${jobs.length} Jobs created in ${fmt(refCreate)} s, all Complete after ${fmt(refSeconds)} s`);
  await kubectl(['delete', 'namespace', refNs, '--wait=false']);
  await nsGone(refNs);
  await sleep(5000);

  // 2. The operator.
  const ns = 'kwok-operator';
  await kubectl(['create', 'namespace', ns]);
  const operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    logsDir: cp.logsDir,
    namespaces: [ns],
    extraArgs: ['--progress-interval=10', ...operatorArgs],
  });
  const pid = operator.component.process.pid as number;
  const doneA = counter(client, LOTA_ADAPTATION, ns, succeeded);
  const doneM = counter(client, TICKET_MERGE, ns, succeeded);
  const failedA = counter(client, LOTA_ADAPTATION, ns, failed);
  const failedM = counter(client, TICKET_MERGE, ns, failed);
  await Promise.all([doneA.synced(), doneM.synced(), failedA.synced(), failedM.synced()]);
  const api0 = await apiMetrics();
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await createFile(kwokWorkload(n, m, ns), join(cp.dir, 'workload.json'));
  const createSeconds = (performance.now() - t0) / 1000;
  let last = '';
  const all = Promise.all([doneA.atLeast(n), doneM.atLeast(m)]);
  for (;;) {
    const finished = await Promise.race([all.then(() => true), sleep(10_000).then(() => false)]);
    if (finished) break;
    if (failedA.size + failedM.size > 0) {
      console.log(
        `FAILED resources: ${failedA.size + failedM.size}; phases ${JSON.stringify(await phaseCounts(client, ns))}`,
      );
      break;
    }
    const now = JSON.stringify(await phaseCounts(client, ns));
    console.log(`  ${fmt((performance.now() - t0) / 1000, 0)} s: ${now}`);
    if (now === last && performance.now() - t0 > 600_000) break;
    last = now;
  }
  const opSeconds = (performance.now() - t0) / 1000;
  const apiDone = diff(await apiMetrics(), api0);
  const cpu = cpuSeconds(pid) - cpu0;
  const opm = await opMetrics(operator.metricsUrl);
  const errors = sum(opm, 'controller_runtime_reconcile_errors_total');
  const rss = peakRssMb(pid);
  const check = await jobProblems(client, ns);
  const phases = await phaseCounts(client, ns);
  for (const c of [doneA, doneM, failedA, failedM]) await c.stop();
  await operator.stop();
  await kwok.stop();

  const resources = n + m;
  console.log(`\n=== KWOK lifecycle, N = ${n} adaptations + M = ${m} merges ===`);
  console.log(`phases at the end: ${JSON.stringify(phases)}`);
  console.log(
    `operator: all Succeeded after ${fmt(opSeconds)} s (kubectl create of the resources took ${fmt(createSeconds)} s)`,
  );
  console.log(`reference (${jobs.length} Jobs, API server + Job controller + KWOK, no operator): ${fmt(refSeconds)} s`);
  console.log(`ratio operator / reference: ${fmt(opSeconds / refSeconds)}`);
  console.log(
    `Jobs in the namespace: ${check.jobs} (expected ${2 * n + m}); exactly one Job per phase per resource: ${check.problems.length === 0 ? 'yes' : `NO — ${check.problems.slice(0, 5).join('; ')}`}`,
  );
  console.log(
    `reconcile errors: ${errors}; operator peak RSS ${fmt(rss, 0)} MB, CPU ${fmt(cpu)} s (${fmt((cpu / resources) * 1000, 1)} ms per resource)`,
  );
  console.log(
    'API requests per completed resource (API server /metrics, all clients incl. KWOK and the Job controller; ≥ 0.05 shown):',
  );
  let total = 0;
  for (const [k, v] of [...apiDone].sort((a, b) => b[1] - a[1])) {
    total += v;
    if (v / resources >= 0.05) console.log(`  ${k.padEnd(40)} ${fmt(v / resources, 3)}`);
  }
  console.log(`  ${'all'.padEnd(40)} ${fmt(total / resources, 2)}`);
  console.log('API requests per completed resource sent by the operator:');
  let opTotal = 0;
  for (const s of opm.filter((x) => x.name === 'rest_client_requests_total')) {
    opTotal += s.value;
    if (s.value / resources >= 0.01)
      console.log(
        `  ${`${s.labels.method} ${s.labels.resource} ${s.labels.code}`.padEnd(40)} ${fmt(s.value / resources, 3)}`,
      );
  }
  console.log(`  ${'all'.padEnd(40)} ${fmt(opTotal / resources, 2)}`);
} finally {
  await client.close();
  await cp.stop({ keepLogs: process.env.LOTA_KEEP_CLUSTER_LOGS === '1' });
}
