// A workload of many small resources whose pods KWOK runs: N LotaAdaptations and M TicketMerges (each merging the
// tickets of two adaptations), and the check that the operator made exactly one Job per phase per resource.
import type { KubeClient } from '../../operator/src/kube/client.ts';
import { collectionPath, JOB, LOTA_ADAPTATION, TICKET_MERGE } from '../../operator/src/kube/resources.ts';
import { KWOK_PLACEMENT } from './kwok.ts';

const resources = { gpus: 1, ...KWOK_PLACEMENT };

export const adaptationName = (i: number) => `a${String(i).padStart(5, '0')}`;
export const mergeName = (i: number) => `m${String(i).padStart(5, '0')}`;

export function kwokAdaptation(name: string, namespace: string) {
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'LotaAdaptation',
    metadata: { name, namespace },
    spec: {
      baseModel: { uri: 'file:///models/base' },
      dataset: { uri: 'file:///data/a.jsonl', format: 'prompt-completion' },
      lota: { sparsity: 0.9, calibration: { steps: 4 } },
      training: { maxSteps: 6, batchSize: 4 },
      output: { uri: `file:///runs/${name}` },
      resources,
    },
  };
}

/** Merge i merges the tickets of adaptations 2i and 2i+1 (mod n). */
export function kwokMerge(i: number, n: number, namespace: string) {
  const name = mergeName(i);
  return {
    apiVersion: 'lota.dev/v1alpha1',
    kind: 'TicketMerge',
    metadata: { name, namespace },
    spec: {
      baseModel: { uri: 'file:///models/base' },
      tickets: [
        { adaptationRef: { name: adaptationName((2 * i) % n) } },
        { adaptationRef: { name: adaptationName((2 * i + 1) % n) } },
      ],
      method: 'sum',
      output: { uri: `file:///runs/${name}`, kind: 'model' },
      resources,
    },
  };
}

export function kwokWorkload(n: number, m: number, namespace: string) {
  return [
    ...Array.from({ length: n }, (_, i) => kwokAdaptation(adaptationName(i), namespace)),
    ...Array.from({ length: m }, (_, i) => kwokMerge(i, n, namespace)),
  ];
}

interface Listed {
  metadata: { name: string; uid?: string; labels?: Record<string, string> };
  status?: { phase?: string };
}

/** Resources per phase of the namespace's adaptations and merges. */
export async function phaseCounts(client: KubeClient, namespace: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const rt of [LOTA_ADAPTATION, TICKET_MERGE]) {
    for (const o of (await client.list<Listed>(collectionPath(rt, namespace))).items) {
      const p = o.status?.phase ?? 'Pending';
      out[p] = (out[p] ?? 0) + 1;
    }
  }
  return out;
}

/**
 * Reads every Job of the namespace from the API server and checks that each adaptation has exactly one calibrate
 * and one train Job, each merge exactly one merge Job, and nothing else exists. Returns the problems found.
 */
export async function jobProblems(
  client: KubeClient,
  namespace: string,
): Promise<{ jobs: number; problems: string[] }> {
  const owners = new Map<string, { kind: string; name: string; phases: string[] }>();
  for (const rt of [LOTA_ADAPTATION, TICKET_MERGE]) {
    for (const o of (await client.list<Listed>(collectionPath(rt, namespace))).items)
      owners.set(o.metadata.uid ?? '', { kind: rt.kind, name: o.metadata.name, phases: [] });
  }
  const jobs = (await client.list<Listed>(collectionPath(JOB, namespace))).items;
  const problems: string[] = [];
  for (const j of jobs) {
    const owner = owners.get(j.metadata.labels?.['lota.dev/owner-uid'] ?? '');
    if (!owner) problems.push(`Job ${j.metadata.name} has no owner among the resources`);
    else owner.phases.push(j.metadata.labels?.['lota.dev/phase'] ?? '?');
  }
  for (const o of owners.values()) {
    const want = o.kind === 'TicketMerge' ? ['merge'] : ['calibrate', 'train'];
    const got = [...o.phases].sort();
    if (JSON.stringify(got) !== JSON.stringify(want))
      problems.push(`${o.kind} ${o.name}: Jobs for phases [${got.join(', ')}], expected [${want.join(', ')}]`);
  }
  return { jobs: jobs.length, problems };
}
