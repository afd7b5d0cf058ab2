// The scale path stays correct: 300 resources (250 LotaAdaptations, 50 TicketMerges waiting on their tickets) applied
// at once to the shared control plane, their pods run to completion by KWOK on fake GPU nodes (e2e/kwok). Every
// resource must reach Succeeded with exactly one Job per phase (read from the API server) and the operator must
// report no reconcile error. The heavy numbers live in bench/operator-scale.ts and bench/operator-lifecycle.ts.
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operator/src/kube/client.ts';
import { cluster, createNamespace } from '../harness/cluster.ts';
import { type RunningOperator, startOperator } from '../harness/operator.ts';
import { waitFor } from '../harness/wait.ts';
import { type Kwok, startKwok } from '../kwok/kwok.ts';
import { jobProblems, kwokWorkload, phaseCounts } from '../kwok/workload.ts';

const N = 250;
const M = 50;
const { kubectl, kubeconfigPath, logsDir } = cluster();
let ns = '';
let kwok: Kwok;
let operator: RunningOperator;
let client: KubeClient;

beforeAll(async () => {
  ns = await createNamespace(kubectl, 'scale');
  kwok = await startKwok({ kubeconfigPath, kubectl, logsDir, nodes: 2, prefix: `kwok-${ns}` });
  operator = await startOperator({ kubeconfigPath, logsDir, namespaces: [ns] });
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  client = new KubeClient(kc, { qps: 0 });
});

afterAll(async () => {
  await operator?.stop();
  await kwok?.stop();
  await client?.close();
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

const metric = async (name: string) => {
  const text = await (await fetch(operator.metricsUrl)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
};

describe(`${N} adaptations and ${M} merges at once, pods run by KWOK`, () => {
  it('all succeed with exactly one Job per phase and no reconcile error', async () => {
    await kubectl(['create', '-f', '-', '-o', 'name'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: kwokWorkload(N, M, ns) }),
      timeoutMs: 300_000,
    });
    const phases = await waitFor(
      `${N + M} resources Succeeded`,
      async () => {
        const p = await phaseCounts(client, ns);
        if ((p.Failed ?? 0) > 0) return p;
        return (p.Succeeded ?? 0) === N + M ? p : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 1000 },
    );
    expect(phases).toEqual({ Succeeded: N + M });
    const { jobs, problems } = await jobProblems(client, ns);
    expect(problems).toEqual([]);
    expect(jobs).toBe(2 * N + M);
    expect(await metric('controller_runtime_reconcile_errors_total')).toBe(0);
    expect(await metric('controller_runtime_reconcile_total')).toBeGreaterThan(N + M);
  });
});
