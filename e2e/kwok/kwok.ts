// KWOK against a control plane: fake GPU nodes (tainted, so that only pods that ask for them land there) and pod
// stages that run the operator's trainer pods to completion without a kubelet — Pending → Running → Succeeded with
// the trainer contract's termination message for the pod's phase (docs/trainer-contract.md). The operator cannot
// tell these pods from real ones; benchmarks and the scale test use them for thousands of lifecycles.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TerminationMessage, TrainerPhase } from '../../api/src/trainer-contract.ts';
import { tool } from '../../scripts/toolchain.ts';
import { type Component, startComponent, waitUntil } from '../harness/component.ts';
import type { Kubectl } from '../harness/kubectl.ts';

/** Label and taint of the fake nodes; pods reach them with KWOK_PLACEMENT. */
export const KWOK_NODE_LABEL = 'lota.dev/kwok-node';

/** What a LotaAdaptation or TicketMerge spec adds to run its pods on the fake nodes. */
export const KWOK_PLACEMENT = {
  nodeSelector: { [KWOK_NODE_LABEL]: 'true' },
  tolerations: [{ key: KWOK_NODE_LABEL, operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
};

/** In the termination message: a template variable (the JSON around it must not quote a template's own quotes). */
const JOB_NAME = '{{ $job }}';
const SHA = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The termination message a successful phase writes; artifact URIs name the pod's Job (a template). */
export function kwokTerminationMessage(phase: TrainerPhase): TerminationMessage {
  const dir = `file:///kwok/${JOB_NAME}`;
  const base = { version: 1 as const, phase, outcome: 'Succeeded' as const, reason: 'Completed' as const };
  switch (phase) {
    case 'calibrate':
      return {
        ...base,
        message: 'calibrated (kwok)',
        mask: { trainable: 10, total: 100, density: 0.1, uri: `${dir}/mask.safetensors` },
      };
    case 'train':
      return {
        ...base,
        message: 'trained (kwok)',
        ticket: { uri: `${dir}/ticket.safetensors`, bytes: 1024, density: 0.1, sha256: SHA },
        results: { trainLoss: 1 },
      };
    default:
      return { ...base, message: `${phase} done (kwok)`, output: { uri: `${dir}/model`, bytes: 1024, sha256: SHA } };
  }
}

const PHASES: TrainerPhase[] = ['calibrate', 'train', 'merge'];

/** KWOK Stage objects (kwok.x-k8s.io/v1alpha1) for the operator's pods on KWOK's nodes. */
export function kwokStages(opts: { runMs?: number } = {}): object[] {
  const notDeleted = { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' };
  const pod = { apiGroup: 'v1', kind: 'Pod' };
  const running = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: 'lota-pod-running' },
    spec: {
      resourceRef: pod,
      selector: { matchExpressions: [notDeleted, { key: '.status.phase', operator: 'In', values: ['Pending'] }] },
      next: {
        statusTemplate: [
          '{{ $now := Now }}',
          'conditions:',
          '- {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}',
          '- {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}',
          '- {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}',
          'containerStatuses:',
          '{{ range .spec.containers }}',
          '- {name: {{ .name | Quote }}, image: {{ .image | Quote }}, ready: true, restartCount: 0, started: true,',
          '   state: {running: {startedAt: {{ $now | Quote }}}}}',
          '{{ end }}',
          'phase: Running',
          'startTime: {{ $now | Quote }}',
        ].join('\n'),
      },
    },
  };
  const complete = PHASES.map((phase) => ({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: `lota-pod-complete-${phase}` },
    spec: {
      resourceRef: pod,
      selector: {
        matchLabels: { 'lota.dev/phase': phase },
        matchExpressions: [notDeleted, { key: '.status.phase', operator: 'In', values: ['Running'] }],
      },
      ...(opts.runMs && { delay: { durationMilliseconds: opts.runMs } }),
      next: {
        statusTemplate: [
          '{{ $now := Now }}',
          '{{ $job := index .metadata.labels "batch.kubernetes.io/job-name" }}',
          'conditions:',
          '- {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}',
          '- {type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: {{ $now | Quote }}}',
          'containerStatuses:',
          '{{ range .spec.containers }}',
          '- name: {{ .name | Quote }}',
          '  image: {{ .image | Quote }}',
          '  ready: false',
          '  restartCount: 0',
          '  started: false',
          '  state:',
          '    terminated:',
          '      exitCode: 0',
          '      reason: Completed',
          '      startedAt: {{ $now | Quote }}',
          '      finishedAt: {{ $now | Quote }}',
          // A single-quoted YAML scalar: the JSON inside has only double quotes.
          `      message: '${JSON.stringify(kwokTerminationMessage(phase))}'`,
          '{{ end }}',
          'phase: Succeeded',
        ].join('\n'),
      },
    },
  }));
  const gone = {
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'Stage',
    metadata: { name: 'lota-pod-delete' },
    spec: {
      resourceRef: pod,
      selector: { matchExpressions: [{ key: '.metadata.deletionTimestamp', operator: 'Exists' }] },
      next: { finalizers: { empty: true }, delete: true },
    },
  };
  return [...nodeStages(), running, ...complete, gone];
}

/** A node becomes Ready with the capacity it was registered with, and reports in every 20 s (kwok renews its Lease). */
function nodeStages(): object[] {
  const node = { apiGroup: 'v1', kind: 'Node' };
  const conditions = (status: string) =>
    [
      'conditions:',
      ...[
        ['Ready', 'True', 'KubeletReady'],
        ['MemoryPressure', 'False', 'KubeletHasSufficientMemory'],
        ['DiskPressure', 'False', 'KubeletHasNoDiskPressure'],
        ['PIDPressure', 'False', 'KubeletHasSufficientPID'],
        ['NetworkUnavailable', 'False', 'RouteCreated'],
      ].map(
        ([type, value, reason]) =>
          `- {type: ${type}, status: "${value}", reason: ${reason}, message: kwok, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ ${status} | Quote }}}`,
      ),
    ].join('\n');
  const readyIs = (op: string) => ({
    key: '.status.conditions.[] | select( .type == "Ready" ) | .status',
    operator: op,
    values: ['True'],
  });
  return [
    {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'Stage',
      metadata: { name: 'lota-node-initialize' },
      spec: {
        resourceRef: node,
        selector: { matchExpressions: [readyIs('NotIn')] },
        next: {
          statusTemplate: [
            '{{ $now := Now }}',
            conditions('$now'),
            'addresses:',
            '- {type: InternalIP, address: {{ NodeIP | Quote }}}',
            'allocatable:',
            '{{ YAML .status.allocatable 1 }}',
            'capacity:',
            '{{ YAML .status.capacity 1 }}',
            'phase: Running',
          ].join('\n'),
        },
      },
    },
    {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'Stage',
      metadata: { name: 'lota-node-heartbeat' },
      spec: {
        resourceRef: node,
        selector: { matchExpressions: [readyIs('In')] },
        delay: { durationMilliseconds: 20_000, jitterDurationMilliseconds: 21_000 },
        next: { statusTemplate: ['{{ $now := Now }}', conditions('.metadata.creationTimestamp')].join('\n') },
      },
    },
  ];
}

export interface Kwok {
  component: Component;
  nodes: string[];
  stop(): Promise<void>;
}

/** Starts KWOK (LOTA_KWOK, built by e2e/kwok/setup-kwok.sh) and registers `nodes` fake GPU nodes. */
export async function startKwok(opts: {
  kubeconfigPath: string;
  kubectl: Kubectl;
  logsDir: string;
  nodes?: number;
  runMs?: number;
  prefix?: string;
}): Promise<Kwok> {
  const prefix = opts.prefix ?? 'kwok-gpu';
  const config = join(opts.logsDir, `${prefix}-stages.yaml`);
  writeFileSync(
    config,
    kwokStages({ ...(opts.runMs && { runMs: opts.runMs }) })
      .map((s) => JSON.stringify(s))
      .join('\n---\n'),
  );
  const component = startComponent(
    prefix,
    tool('LOTA_KWOK'),
    [
      `--kubeconfig=${opts.kubeconfigPath}`,
      '--manage-all-nodes=false',
      `--manage-nodes-with-label-selector=${KWOK_NODE_LABEL}=true`,
      `--config=${config}`,
      '--server-address=',
    ],
    { logsDir: opts.logsDir },
  );
  const capacity = { cpu: '1000', memory: '4Ti', pods: '2000', 'nvidia.com/gpu': '1000' };
  const nodes = Array.from({ length: opts.nodes ?? 2 }, (_, i) => `${prefix}-${i}`);
  const items = nodes.map((name) => ({
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { [KWOK_NODE_LABEL]: 'true', type: 'kwok' },
      annotations: { 'kwok.x-k8s.io/node': 'fake' },
    },
    spec: { taints: [{ key: KWOK_NODE_LABEL, value: 'true', effect: 'NoSchedule' }] },
    status: { capacity, allocatable: capacity },
  }));
  await opts.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  await waitUntil(
    'kwok nodes Ready',
    async () => {
      const out = await opts.kubectl([
        'get',
        'nodes',
        '-l',
        `${KWOK_NODE_LABEL}=true`,
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      return out.split('\n').filter((l) => l === 'True').length === nodes.length;
    },
    { timeoutMs: 60_000, component },
  );
  return {
    component,
    nodes,
    async stop() {
      await opts.kubectl(['delete', 'nodes', ...nodes, '--ignore-not-found', '--wait=false']).catch(() => {});
      await component.stop();
    },
  };
}
