// Operator scale benchmark on the project's real control plane (etcd, kube-apiserver, controller-manager, scheduler
// from e2e/harness; NO node, so pods never start). For each N it prints, in one run:
//   - seconds until N calibrate Jobs exist after `kubectl create` of N LotaAdaptations in one file, against
//     `kubectl create` of the same N Jobs in one file (measured before and after the operator's run; the ratio is
//     against their mean), of the N LotaAdaptations alone, and of the N LotaAdaptations and N Jobs in one file (what
//     the API server must do anyway: the floor for the operator's run); with the control plane's CPU seconds in each;
//   - the operator's peak RSS and CPU seconds, and its memory (RSS, V8 heap) by stage;
//   - API requests per resource by verb and resource, from the API server's /metrics (everything the API server
//     served during the operator run, other controllers included) and from the operator's own client counter;
//   - status writes per resource: when the last Job appeared, and once the operator went quiet;
//   - with the N resources idle (once the whole control plane has settled: the Job controller creates pods at its
//     own 20 requests/s, so at N = 5,000 it is still at work minutes after the operator went quiet): reconciles
//     and CPU over --idle-seconds;
//   - seconds until a deletion of the namespace (N resources) is reflected in the operator's cache.
// Fairness: every measurement uses a fresh namespace, holds the same watches (the bench's Job and LotaAdaptation
// counters), and starts only once the previous namespace is gone and the API server has gone quiet (no more than a
// few writes per 2 s: the namespace controller, garbage collector and Job controller done with the leftovers).
// The KWOK lifecycle part (pods run to completion on fake nodes) is bench/operator-lifecycle.ts. Not a test.
//
// --operator-only leaves out the kubectl references (and the clean-ups they need): the operator's memory, API requests
// and idle cost alone, in a fraction of the time.
//
//   npm run bench -- operator-scale [--n=1000,5000] [--idle-seconds=60] [--settle-timeout=1200] [--delete-timeout=300] [--cleanup-timeout=600] [--operator-only] [--operator-arg=--kube-api-qps=100 ...]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { withAdaptationDefaults } from '../api/src/defaults.ts';
import { startOperator, TRAINER_IMAGE_REF } from '../e2e/harness/operator.ts';
import { JOB, LOTA_ADAPTATION } from '../operator/src/kube/resources.ts';
import { desiredJob } from '../operator/src/reconcile/job.ts';
import { startBenchCluster } from './scale/bench-cluster.ts';
import {
  apiRequests,
  apiServed,
  componentCpu,
  counter,
  cpuSeconds,
  diff,
  parseProm,
  peakRssMb,
  rssMb,
  type Sample,
  sleep,
  sum,
  writesServed,
} from './scale/measure.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000,5000' },
    'idle-seconds': { type: 'string', default: '60' },
    'delete-timeout': { type: 'string', default: '300' },
    'cleanup-timeout': { type: 'string', default: '600' },
    'settle-timeout': { type: 'string', default: '1200' },
    'operator-only': { type: 'boolean', default: false },
    'operator-arg': { type: 'string', multiple: true, default: [] },
  },
});
const sizes = (values.n as string).split(',').map(Number);
const idleSeconds = Number(values['idle-seconds']);
const deleteTimeoutMs = Number(values['delete-timeout']) * 1000;
const cleanupTimeoutMs = Number(values['cleanup-timeout']) * 1000;
const settleTimeoutMs = Number(values['settle-timeout']) * 1000;
const operatorOnly = values['operator-only'] as boolean;
const operatorArgs = values['operator-arg'] as string[];

const spec = (name: string) => ({
  baseModel: { uri: 'pvc://models/base' },
  dataset: { uri: 'pvc://data/a.jsonl', format: 'prompt-completion' },
  lota: { sparsity: 0.9, calibration: { steps: 4 } },
  training: { maxSteps: 6, batchSize: 4 },
  output: { uri: `pvc://models/runs/${name}` },
});
const names = (n: number) => Array.from({ length: n }, (_, i) => `r${String(i).padStart(5, '0')}`);

const cluster = await startBenchCluster();
const { cp, kubectl, client, repoRoot } = cluster;
const { apiMetrics } = cluster;
const opMetrics = async (url: string) => parseProm(await (await fetch(url)).text());
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/**
 * Deletes a namespace and waits until it is gone and the API server has gone quiet again (the namespace controller,
 * the garbage collector and the scheduler done with its objects), so that no measurement pays for an earlier one's
 * leftovers. Throws if that takes longer than `cleanupTimeoutMs`: a measurement after it would not be fair.
 */
async function cleanUp(ns: string) {
  const t0 = performance.now();
  await kubectl(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
  for (;;) {
    const out = await kubectl(['get', 'namespace', ns, '--ignore-not-found', '-o', 'name']);
    if (out.trim() === '') break;
    if (performance.now() - t0 > cleanupTimeoutMs)
      throw new Error(`namespace ${ns} still there after ${fmt((performance.now() - t0) / 1000, 0)} s`);
    await sleep(1000);
  }
  await apiQuiet(t0, cleanupTimeoutMs, `after deleting ${ns}`);
  console.log(`(namespace ${ns} gone and the API server quiet after ${fmt((performance.now() - t0) / 1000, 0)} s)`);
}

/**
 * Waits until the API server is quiet: at most QUIET_WRITES writes (leases, the scheduler's and the API server's own)
 * per 2 s, 3 times in a row. Throws once `timeoutMs` have passed since `t0`.
 */
async function apiQuiet(t0: number, timeoutMs: number, what: string) {
  let last = writesServed(apiRequests(await apiMetrics()));
  for (let still = 0; still < 3; ) {
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`API server not quiet ${fmt((performance.now() - t0) / 1000, 0)} s ${what}`);
    await sleep(2000);
    const now = writesServed(apiRequests(await apiMetrics()));
    still = now - last <= QUIET_WRITES ? still + 1 : 0;
    last = now;
  }
}
const QUIET_WRITES = 4;

/** Wall seconds and the control plane's CPU seconds (by component) while `f` runs. */
async function measured<T>(
  ns: string,
  f: () => Promise<T>,
): Promise<{ value: T; seconds: number; cpu: Map<string, number> }> {
  // The same watches of Jobs and LotaAdaptations in the namespace as the operator's run holds (the API server sends
  // every event to each watcher), so that the references are not spared that work.
  const watches = [counter(client, JOB, ns), counter(client, LOTA_ADAPTATION, ns)];
  for (const w of watches) await w.synced();
  const cpu0 = componentCpu(cp.components);
  const t0 = performance.now();
  const value = await f();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = diff(componentCpu(cp.components), cpu0);
  for (const w of watches) await w.stop();
  return { value, seconds, cpu };
}
const cpuLine = (cpu: Map<string, number>, n: number) =>
  [...cpu].map(([k, v]) => `${k} ${fmt(v, 1)} s (${fmt((v / n) * 1000, 1)} ms/resource)`).join(', ');

async function createFile(items: object[], file: string): Promise<number> {
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const t0 = performance.now();
  await kubectl(['create', '-f', file, '-o', 'name'], { timeoutMs: 1_800_000 });
  return (performance.now() - t0) / 1000;
}

async function run(n: number) {
  const line = (s: string) => console.log(`[N=${n}] ${s}`);
  // The reference: kubectl create of N Jobs exactly like the operator's calibrate Jobs (no owner reference), in a
  // fresh namespace; measured before the operator's run and again after it (the machine's load drifts).
  const jobsIn = (namespace: string) =>
    names(n).map((name) => {
      const job = desiredJob({
        kind: 'LotaAdaptation',
        apiVersion: 'lota.dev/v1alpha1',
        metadata: { name, namespace, uid: '00000000-0000-0000-0000-000000000000' },
        spec: spec(name),
        resolved: withAdaptationDefaults(spec(name) as never),
        phase: 'calibrate',
        ticketRefs: {},
        defaultImage: TRAINER_IMAGE_REF,
      }) as { metadata: Record<string, unknown> };
      delete job.metadata.ownerReferences;
      return job;
    });
  const direct = async (label: string) => {
    const ns = `direct-${label}-${n}`;
    await kubectl(['create', 'namespace', ns]);
    const m = await measured(ns, () => createFile(jobsIn(ns), join(cp.dir, `jobs-${label}-${n}.json`)));
    line(`kubectl create of ${n} Jobs (${label}): ${fmt(m.seconds)} s; control plane CPU: ${cpuLine(m.cpu, n)}`);
    // The last measurement of the last size leaves its namespace to the control plane's shutdown.
    if (label === 'before' || n !== sizes.at(-1)) await cleanUp(ns);
    return m;
  };
  const adaptationsIn = (namespace: string) =>
    names(n).map((name) => ({
      apiVersion: 'lota.dev/v1alpha1',
      kind: 'LotaAdaptation',
      metadata: { name, namespace },
      spec: spec(name),
    }));
  /** The kubectl references: N Jobs (before the operator's run), the N LotaAdaptations alone, and both together. */
  const references = async () => {
    const directBefore = await direct('before');

    // A second reference: kubectl create of the N LotaAdaptations with no operator running (CEL rules and the
    // CRD's schema make a custom resource dearer to create than a Job).
    const crOnly = `cr-only-${n}`;
    await kubectl(['create', 'namespace', crOnly]);
    const cr = await measured(crOnly, () => createFile(adaptationsIn(crOnly), join(cp.dir, `cr-only-${n}.json`)));
    const crSeconds = cr.seconds;
    line(
      `kubectl create of ${n} LotaAdaptations, no operator: ${fmt(crSeconds)} s; control plane CPU: ${cpuLine(cr.cpu, n)}`,
    );
    await cleanUp(crOnly);

    // The floor for the operator's run: the same N LotaAdaptations and N Jobs created by one client in one file
    // (each adaptation followed by its Job), no operator. The API server then also does, inside the window, what the
    // Jobs cause (the Job controller's pods, the scheduler's attempts, their Events), as in the operator's run; in the
    // Jobs-only reference most of that comes after kubectl returns.
    const both = `cr-and-jobs-${n}`;
    await kubectl(['create', 'namespace', both]);
    const crJobs = adaptationsIn(both);
    const bothJobs = jobsIn(both);
    const together = await measured(both, () =>
      createFile(
        crJobs.flatMap((cr, i) => [cr, bothJobs[i] as object]),
        join(cp.dir, `cr-and-jobs-${n}.json`),
      ),
    );
    line(
      `kubectl create of ${n} LotaAdaptations and their ${n} Jobs in one file, no operator: ${fmt(together.seconds)} s; control plane CPU: ${cpuLine(together.cpu, n)}`,
    );
    await cleanUp(both);
    return { directBefore, cr, together };
  };
  const refs = operatorOnly ? undefined : await references();

  // 2. The operator: N LotaAdaptations in one file; time until N calibrate Jobs exist.
  const ns = `op-${n}`;
  await kubectl(['create', 'namespace', ns]);
  const operator = await startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    logsDir: cp.logsDir,
    namespaces: [ns],
    extraArgs: ['--progress-interval=10', ...operatorArgs],
  });
  const pid = operator.component.process.pid as number;
  const rssStart = rssMb(pid);
  // Memory by stage: resident and peak from /proc, the V8 heap from the operator's own /metrics.
  const stages: string[] = [];
  const memory = async (stage: string) => {
    const m = await opMetrics(operator.metricsUrl);
    const mb = (name: string) => fmt(sum(m, name) / 2 ** 20, 0);
    stages.push(
      `${stage}: RSS ${fmt(rssMb(pid), 0)} MB (peak so far ${fmt(peakRssMb(pid), 0)}), heap used ${mb('nodejs_heap_size_used_bytes')} of ${mb('nodejs_heap_size_total_bytes')} MB, external ${mb('nodejs_external_memory_bytes')} MB`,
    );
  };
  await memory('ready');
  const jobCount = counter(client, JOB, ns);
  await jobCount.synced();
  // Per resource: status writes seen up to and including the first one after its Job appeared (the write that
  // reports the Job); later writes report what happens to its pod.
  const writesUntilJob = new Map<string, number>();
  const seenWithJob = new Set<string>();
  const statusWatch = counter(
    client,
    LOTA_ADAPTATION,
    ns,
    () => true,
    (change) => {
      if (change.type !== 'updated') return;
      const o = change.object as { metadata: { name: string }; status?: unknown };
      if (JSON.stringify(o.status) === JSON.stringify((change.old as { status?: unknown }).status)) return;
      const name = o.metadata.name;
      if (seenWithJob.has(name)) return;
      writesUntilJob.set(name, (writesUntilJob.get(name) ?? 0) + 1);
      if (jobCount.reflector.store.get(`${ns}/${name}-calibrate`)) seenWithJob.add(name);
    },
  );
  await statusWatch.synced();
  const apiMetrics0 = await apiMetrics();
  const api0 = apiRequests(apiMetrics0);
  const served0 = apiServed(apiMetrics0);
  const cpu0 = cpuSeconds(pid);
  const adaptations = adaptationsIn(ns);
  const cp0 = componentCpu(cp.components);
  const t0 = performance.now();
  const applying = createFile(adaptations, join(cp.dir, `adaptations-${n}.json`));
  await jobCount.atLeast(n);
  const jobsSeconds = (performance.now() - t0) / 1000;
  const applySeconds = await applying;
  const apiMetricsAtJobs = await apiMetrics();
  const apiAtJobs = diff(apiRequests(apiMetricsAtJobs), api0);
  const servedAtJobs = diff(apiServed(apiMetricsAtJobs), served0);
  const cpuAtJobs = cpuSeconds(pid) - cpu0;
  await memory('Jobs exist');
  const cpAtJobs = diff(componentCpu(cp.components), cp0);
  line(
    `${n} calibrate Jobs exist after ${fmt(jobsSeconds)} s (kubectl create of the adaptations took ${fmt(applySeconds)} s); control plane CPU: ${cpuLine(cpAtJobs, n)}`,
  );

  // Quiet: the operator sent no request for 5 s in a row (at most 3 minutes).
  const opRequests = async () => sum(await opMetrics(operator.metricsUrl), 'rest_client_requests_total');
  let last = -1;
  let still = 0;
  const quietStart = performance.now();
  while (still < 5 && performance.now() - quietStart < 180_000) {
    const r = await opRequests();
    still = r === last ? still + 1 : 0;
    last = r;
    await sleep(1000);
  }
  const apiOperatorQuiet = diff(apiRequests(await apiMetrics()), api0);
  await memory('quiet');
  const cpuSettled = cpuSeconds(pid) - cpu0;

  // 3. Idle: N resources, nothing happening. The operator going quiet is not enough: the Job controller may still be
  // creating pods (at its 20 requests/s), and each one is a change the operator reconciles and may report.
  const s0 = performance.now();
  await apiQuiet(s0, settleTimeoutMs, `after the operator went quiet (${n} resources)`);
  const settleSeconds = (performance.now() - s0) / 1000;
  const apiSettled = diff(apiRequests(await apiMetrics()), api0);
  await memory('control plane settled');
  const reconciles = (s: Sample[]) => sum(s, 'controller_runtime_reconcile_total');
  const rec0 = reconciles(await opMetrics(operator.metricsUrl));
  const idle0 = cpuSeconds(pid);
  const idleT0 = performance.now();
  await sleep(idleSeconds * 1000);
  const idleCpu = cpuSeconds(pid) - idle0;
  const idleWall = (performance.now() - idleT0) / 1000;
  const afterIdle = await opMetrics(operator.metricsUrl);
  await memory('after the idle period');
  const idleReconciles = reconciles(afterIdle) - rec0;

  // 4. Namespace deletion, until the operator's cache holds none of the N.
  const d0 = performance.now();
  await kubectl(['delete', 'namespace', ns, '--wait=false']);
  let left = n;
  while (performance.now() - d0 < deleteTimeoutMs) {
    left = sum(await opMetrics(operator.metricsUrl), 'lota_resources');
    if (left === 0) break;
    await sleep(250);
  }
  const deleteSeconds = (performance.now() - d0) / 1000;
  const rssEnd = rssMb(pid);
  await memory('namespace deleted');
  const rss = peakRssMb(pid);
  const cpuTotal = cpuSeconds(pid) - cpu0;
  const errors = sum(await opMetrics(operator.metricsUrl), 'controller_runtime_reconcile_errors_total');
  await jobCount.stop();
  await statusWatch.stop();
  await operator.stop();
  // The last measurement of the last size leaves its namespace to the control plane's shutdown.
  if (refs || n !== sizes.at(-1)) await cleanUp(ns);
  const directAfter = refs ? await direct('after') : undefined;
  const directSeconds = refs && directAfter ? (refs.directBefore.seconds + directAfter.seconds) / 2 : Number.NaN;

  const statusWrites = (m: Map<string, number>) =>
    (m.get('PUT lotaadaptations/status') ?? 0) + (m.get('PATCH lotaadaptations/status') ?? 0);
  console.log(`\n=== N = ${n} ===`);
  if (refs && directAfter) {
    const { directBefore, cr, together } = refs;
    console.log(
      `time until N Jobs exist: operator ${fmt(jobsSeconds)} s, kubectl create of N Jobs ${fmt(directSeconds)} s (mean of ${fmt(directBefore.seconds)} s before and ${fmt(directAfter.seconds)} s after), ratio ${fmt(jobsSeconds / directSeconds)}`,
    );
    console.log(
      `  control plane CPU: kubectl create of N Jobs ${cpuLine(directBefore.cpu, n)}; of the N LotaAdaptations alone ${cpuLine(cr.cpu, n)}; of both in one file ${cpuLine(together.cpu, n)}; operator run until the Jobs existed ${cpuLine(cpAtJobs, n)}`,
    );
    console.log(
      `  kubectl create of the N LotaAdaptations alone (no operator) ${fmt(cr.seconds)} s: operator / that = ${fmt(jobsSeconds / cr.seconds)}`,
    );
    console.log(
      `  kubectl create of the N LotaAdaptations and N Jobs in one file (no operator) ${fmt(together.seconds)} s: operator / that = ${fmt(jobsSeconds / together.seconds)}`,
    );
  } else {
    console.log(
      `time until N Jobs exist: operator ${fmt(jobsSeconds)} s (--operator-only: no reference); control plane CPU: ${cpuLine(cpAtJobs, n)}`,
    );
  }
  console.log(
    `operator peak RSS ${fmt(rss, 0)} MB (${fmt(rssStart, 0)} MB when ready, ${fmt(rssEnd, 0)} MB at the end); CPU ${fmt(cpuAtJobs)} s until the Jobs existed, ${fmt(cpuSettled)} s until quiet (${fmt((cpuSettled / n) * 1000, 1)} ms per resource), ${fmt(cpuTotal)} s in all`,
  );
  for (const stage of stages) console.log(`  ${stage}`);
  const untilJob = [...writesUntilJob.values()].reduce((a, b) => a + b, 0);
  console.log(
    `status writes per resource: ${fmt(untilJob / n)} until its Job existed (watched: up to the first write after the Job appeared), ${fmt(statusWrites(apiAtJobs) / n)} by the time the last Job appeared, ${fmt(statusWrites(apiOperatorQuiet) / n)} once the operator was quiet, ${fmt(statusWrites(apiSettled) / n)} once the control plane settled (${fmt(settleSeconds, 0)} s later)`,
  );
  console.log(
    `idle over ${fmt(idleWall, 0)} s: CPU ${fmt((idleCpu / idleWall) * 100)}% of a core, ${idleReconciles} reconciles = ${fmt((idleReconciles / n) * (600 / idleWall), 3)} per resource per 10 min`,
  );
  console.log(
    left === 0
      ? `namespace deletion reflected in the operator's cache after ${fmt(deleteSeconds)} s; reconcile errors: ${errors}`
      : `namespace deletion: ${left} of ${n} resources still in the operator's cache after ${fmt(deleteSeconds)} s (the namespace controller was still deleting); reconcile errors: ${errors}`,
  );
  console.log('API requests per resource, apply → settled (API server /metrics, all clients; ≥ 0.01 shown):');
  for (const [k, v] of [...apiSettled].sort((a, b) => b[1] - a[1]))
    if (v / n >= 0.01) console.log(`  ${k.padEnd(40)} ${fmt(v / n, 3)}`);
  console.log(
    'API server until the Jobs existed, per resource: request latency summed by verb (ms, waiting included) and watch events sent (≥ 0.01 shown):',
  );
  const perResource = ([k, v]: [string, number]): [string, number] =>
    k.endsWith(' (s)') ? [`${k.slice(0, -4)} (ms)`, (v / n) * 1000] : [k, v / n];
  for (const [k, v] of [...servedAtJobs].map(perResource).sort((a, b) => b[1] - a[1]))
    if (v >= 0.01) console.log(`  ${k.padEnd(40)} ${fmt(v, 2)}`);
  console.log(
    'API requests per resource sent by the operator, apply → end of the idle period (its rest_client_requests_total):',
  );
  const byOp = new Map<string, number>();
  for (const s of afterIdle.filter((x) => x.name === 'rest_client_requests_total')) {
    const k = `${s.labels.method} ${s.labels.resource} ${s.labels.code}`;
    byOp.set(k, (byOp.get(k) ?? 0) + s.value);
  }
  for (const [k, v] of [...byOp].sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(40)} ${fmt(v / n, 3)}`);
  return {
    n,
    jobsSeconds,
    directSeconds,
    crSeconds: refs?.cr.seconds ?? Number.NaN,
    togetherSeconds: refs?.together.seconds ?? Number.NaN,
    rss,
    idleCpuPct: (idleCpu / idleWall) * 100,
    idleReconciles: (idleReconciles / n) * (600 / idleWall),
    errors,
  };
}

try {
  await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'crds')]);
  await kubectl(['wait', '--for=condition=Established', 'crd', '--all', '--timeout=60s']);
  console.log(
    `control plane ${cp.server}; operator flags: ${operatorArgs.join(' ') || '(defaults)'}; logs ${cp.logsDir}`,
  );
  const results = [];
  for (const n of sizes) results.push(await run(n));
  console.log('\nsummary');
  for (const r of results)
    console.log(
      operatorOnly
        ? `  N=${r.n}: Jobs ${fmt(r.jobsSeconds)} s; peak RSS ${fmt(r.rss, 0)} MB; idle ${fmt(r.idleCpuPct)}% of a core, ${fmt(r.idleReconciles, 3)} reconciles per resource per 10 min; reconcile errors ${r.errors}`
        : `  N=${r.n}: Jobs ${fmt(r.jobsSeconds)} s vs direct ${fmt(r.directSeconds)} s = ${fmt(r.jobsSeconds / r.directSeconds)}× (CRs alone ${fmt(r.crSeconds)} s; CRs and Jobs by one client ${fmt(r.togetherSeconds)} s = ${fmt(r.jobsSeconds / r.togetherSeconds)}×); peak RSS ${fmt(r.rss, 0)} MB; idle ${fmt(r.idleCpuPct)}% of a core, ${fmt(r.idleReconciles, 3)} reconciles per resource per 10 min; reconcile errors ${r.errors}`,
    );
} finally {
  await client.close();
  await cp.stop({ keepLogs: process.env.LOTA_KEEP_CLUSTER_LOGS === '1' });
}
